// Policy decisions: peerguard decide() versus raw CASL on the same rules, plus load/compile time
// and memory. Run: node bench/policy.bench.js  (or: npm run bench -- policy). Needs a build.
//
// Anchors measured on this kind of machine (issue 5): raw CASL ability.can() with 100 conditional
// rules ~120,000 calls/s; CASL with 10,000 rules compiled ~45 ms; casbin RBAC ~5,000 calls/s.
// Goals: decide() on 1,000 peers / 50 groups / 2,000 path-glob rules >= 1,000,000 decisions/s and
// >= 8x raw CASL on equivalent rules; loading and compiling 10,000 rules < 100 ms.
import { createMongoAbility, subject } from '@casl/ability'
import { keyPairFromSeed, peerIdFromPublicKey } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import picomatch from 'picomatch'

const QUICK = process.argv.includes('--quick')
const DURATION_MS = QUICK ? 300 : 1500

function rate(fn, ms = DURATION_MS) {
  // Warm up, then count calls in batches until the time is up.
  for (let i = 0; i < 2000; i++) fn(i)
  let calls = 0
  const start = performance.now()
  let now = start
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) fn(calls + i)
    calls += 1000
    now = performance.now()
  }
  return (calls * 1000) / (now - start)
}

function time(fn, runs = 5) {
  fn() // warm-up run: the JIT, ajv's compiled validator
  const times = []
  let result
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    result = fn()
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)], result }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US')
const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`

// ---- the policy: 1,000 peers in 50 groups, 2,000 path-glob rules over 100 shares ----
const PEERS = 1000
const GROUPS = 50
const RULES = 2000
const SHARES = 100
// Real peer IDs (the loader checks them): one key per peer from a counter seed.
const PEER_IDS = Array.from({ length: PEERS }, (_, p) => {
  const seed = new Uint8Array(32)
  new DataView(seed.buffer).setUint32(0, p + 1)
  return peerIdFromPublicKey(keyPairFromSeed(seed).publicKey).toString()
})
const PEER_INDEX = new Map(PEER_IDS.map((id, p) => [id, p]))
function buildPolicy(rules) {
  const doc = { version: 1, peers: {}, groups: {}, rules: [] }
  for (let p = 0; p < PEERS; p++) doc.peers[`peer${p}`] = { id: PEER_IDS[p] }
  for (let g = 0; g < GROUPS; g++) doc.groups[`group${g}`] = []
  for (let p = 0; p < PEERS; p++) doc.groups[`group${p % GROUPS}`].push(`peer${p}`)
  for (let r = 0; r < rules; r++) {
    const share = `share${r % SHARES}`
    const deny = r % 10 === 9
    doc.rules.push({
      id: `rule-${r}`,
      [deny ? 'deny' : 'allow']: deny ? ['write'] : r % 3 === 0 ? ['read', 'write'] : ['read'],
      peers: [`group${(r * 7) % GROUPS}`],
      resources: [deny ? `share:${share}/dir${r % 20}/private/**` : `share:${share}/dir${r % 20}/**`]
    })
  }
  return doc
}
const doc = buildPolicy(RULES)
const heapBefore = process.memoryUsage().heapUsed
const policy = loadPolicy({ text: JSON.stringify(doc), file: 'bench.json' })
const peers = Array.from({ length: PEERS }, (_, p) => ({ peerId: PEER_IDS[p], groups: [] }))
const VERBS = ['list', 'get', 'put', 'delete']
const N_REQ = 4096
const requests = Array.from({ length: N_REQ }, (_, i) => {
  const share = (i * 13) % SHARES
  const dir = (i * 7) % 20
  const file = i % 5 === 0 ? `private/f${i}.txt` : `sub/f${i}.txt`
  return {
    peer: peers[(i * 31) % PEERS],
    action: VERBS[i % VERBS.length],
    resource: `share:share${share}/dir${dir}/${file}`,
    context: { encrypted: true }
  }
})

// Compile every peer once (the cache a long-running share keeps), then measure.
const compileStart = performance.now()
for (const r of requests) policy.decide(r)
const compile = { ms: performance.now() - compileStart }
const heapAfter = process.memoryUsage().heapUsed
let allowed = 0
for (const r of requests) if (policy.decide(r).allowed) allowed++

const decideRate = rate((i) => policy.decide(requests[i & (N_REQ - 1)]))

// ---- raw CASL on the equivalent rules: each peer's own CASL ability, ability.can() ----
const abilities = requests.map((r) => policy.abilityFor(r.peer))
const subjects = requests.map((r) => subject('share', { name: r.resource.slice(6), encrypted: true }))
let caslAgrees = 0
for (let i = 0; i < N_REQ; i++)
  if (abilities[i].can(requests[i].action, subjects[i]) === policy.decide(requests[i]).allowed) caslAgrees++
const caslRate = rate((i) => {
  const k = i & (N_REQ - 1)
  return abilities[k].can(requests[k].action, subjects[k])
})

// ---- raw CASL on the equivalent rules, written as a CASL user would: one ability for the whole
// policy, the peer's groups in the subject, one conditional rule per policy rule ----
const VERB_CLASSES = { read: ['list', 'get'], write: ['put', 'delete', 'rename', 'print'] }
const verbsOf = (actions) => actions.flatMap((a) => VERB_CLASSES[a] ?? [a])
const wholeRules = [...doc.rules.filter((r) => r.allow), ...doc.rules.filter((r) => r.deny)].map((r) => ({
  action: verbsOf(r.allow ?? r.deny),
  subject: 'share',
  inverted: r.deny !== undefined,
  conditions: { groups: { $in: r.peers }, name: { $regex: picomatch.makeRe(r.resources[0].slice(6), { dot: true }) } }
}))
const whole = createMongoAbility(wholeRules)
const wholeSubjects = requests.map((r) => {
  const p = PEER_INDEX.get(r.peer.peerId)
  return subject('share', { name: r.resource.slice(6), groups: [`group${p % GROUPS}`] })
})
let wholeAgrees = 0
for (let i = 0; i < N_REQ; i++)
  if (whole.can(requests[i].action, wholeSubjects[i]) === policy.decide(requests[i]).allowed) wholeAgrees++
const wholeRate = rate(
  (i) => {
    const k = i & (N_REQ - 1)
    return whole.can(requests[k].action, wholeSubjects[k])
  },
  Math.min(DURATION_MS, 1000)
)

// ---- anchor: raw CASL ability.can() with 100 conditional rules ----
const anchorRules = Array.from({ length: 100 }, (_, r) => ({
  action: r % 10 === 9 ? 'put' : 'get',
  subject: 'share',
  inverted: r % 10 === 9,
  conditions: { name: { $regex: picomatch.makeRe(`share${r}/**`, { dot: true }) } }
}))
const anchor = createMongoAbility(anchorRules)
const anchorSubjects = Array.from({ length: 1024 }, (_, i) => subject('share', { name: `share${i % 120}/x/y.txt` }))
const anchorRate = rate((i) => anchor.can('get', anchorSubjects[i & 1023]))

// ---- load and compile 10,000 rules ----
const big = buildPolicy(10_000)
const bigJson = JSON.stringify(big)
const { stringify } = await import('yaml')
const bigYaml = stringify(big)
const loadJson = time(() => loadPolicy({ text: bigJson }))
const warmPeer = (p) => {
  for (const v of VERBS) p.decide({ peer: peers[0], action: v, resource: 'share:share1/dir1/a' })
}
const loadAndCompileJson = time(() => {
  const p = loadPolicy({ text: bigJson })
  warmPeer(p)
  return p
})
const loadYaml = time(() => loadPolicy({ text: bigYaml }), 3)
const caslRaw = big.rules.map((r) => ({
  action: r.allow ?? r.deny,
  subject: 'share',
  inverted: r.deny !== undefined,
  conditions: { name: { $regex: picomatch.makeRe(r.resources[0].slice(6), { dot: true }) } }
}))
const caslCompile = time(() => {
  const a = createMongoAbility(caslRaw)
  a.can('get', subject('share', { name: 'share1/dir1/a' }))
  return a
})

const rows = [
  ['peerguard decide() (1,000 peers, 50 groups, 2,000 rules)', `${fmt(decideRate)} decisions/s`],
  ['raw CASL ability.can(), one ability with the same 2,000 rules', `${fmt(wholeRate)} calls/s`],
  ['CASL ability.can() on peerguard per-peer abilities (no fast index)', `${fmt(caslRate)} calls/s`],
  ['anchor: raw CASL ability.can(), 100 conditional rules', `${fmt(anchorRate)} calls/s`],
  ['first decision for 1,000 peers (compile per peer)', `${compile.ms.toFixed(1)} ms`],
  ['load 10,000 rules (JSON)', `${loadJson.ms.toFixed(1)} ms`],
  ['load + compile 10,000 rules (JSON) + first decisions', `${loadAndCompileJson.ms.toFixed(1)} ms`],
  ['load 10,000 rules (YAML)', `${loadYaml.ms.toFixed(1)} ms`],
  ['anchor: CASL createMongoAbility 10,000 rules + first can()', `${caslCompile.ms.toFixed(1)} ms`],
  ['heap for the 2,000-rule policy + 1,000 compiled peers', mb(heapAfter - heapBefore)],
  ['process RSS', mb(process.memoryUsage().rss)]
]
const width = Math.max(...rows.map((r) => r[0].length))
console.log('policy benchmark')
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`)
console.log(
  `  (${allowed} of ${N_REQ} sample requests allowed; per-peer CASL agreed on ${caslAgrees}, whole-policy CASL on ${wholeAgrees} of ${N_REQ})`
)
const goal = (ok, text) => console.log(`  ${ok ? 'PASS' : 'MISS'}  ${text}`)
console.log('goals')
goal(decideRate >= 1_000_000, `decide() >= 1,000,000 decisions/s: ${fmt(decideRate)}`)
goal(
  decideRate / wholeRate >= 8,
  `>= 8x raw CASL on equivalent rules: ${(decideRate / wholeRate).toFixed(0)}x (vs per-peer CASL abilities: ${(decideRate / caslRate).toFixed(1)}x; vs the 100-rule anchor: ${(decideRate / anchorRate).toFixed(1)}x)`
)
goal(
  loadAndCompileJson.ms < 100,
  `load + compile 10,000 rules < 100 ms: ${loadAndCompileJson.ms.toFixed(1)} ms (JSON; YAML parsing alone takes ${loadYaml.ms.toFixed(0)} ms)`
)
if (caslAgrees !== N_REQ || wholeAgrees !== N_REQ) {
  console.error('policy bench: the fast path and CASL disagree; this is a bug')
  process.exitCode = 1
}
