// @ts-check
// Policy decisions: peerguard decide() versus CASL on the same rules, plus load/compile time and
// memory. Run: node bench/policy.bench.js [--quick]  (or: npm run bench -- policy). Needs a build.
//
// Headline anchor (like for like): CASL as a CASL user writes it for a per-peer service — one
// ability per peer, built from the rules that name the peer's groups, one $regex condition per
// glob — and asked ability.can(). One ability for the whole policy (the peer's groups in the
// subject) is shown as context only: it is the slow way to use CASL.
// Goals (issue 15): decide() >= 8x the per-peer CASL abilities; a 10,000-rule YAML policy loaded
// and compiled for all 1,000 peers (first decision each) in < 250 ms.
import { createMongoAbility, subject } from '@casl/ability'
import { keyPairFromSeed, peerIdFromPublicKey } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import picomatch from 'picomatch'
import { stringify } from 'yaml'
import { at, figure, QUICK, ratio, show } from './lib.js'

const DURATION_MS = QUICK ? 200 : 1000
const ROUNDS = QUICK ? 1 : 5

/** Calls per second of `fn` over `ms` milliseconds, after a warm-up. @param {(i: number) => unknown} fn */
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

/** Milliseconds per call of `fn`, one entry per run, after a warm-up run (the JIT, ajv's validator). @param {() => unknown} fn */
function times(fn, runs = ROUNDS) {
  fn()
  const out = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    fn()
    out.push(performance.now() - t)
  }
  return out
}

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
/** @param {number} rules */
function buildPolicy(rules) {
  /** @type {{ version: 1, peers: Record<string, { id: string }>, groups: Record<string, string[]>, rules: Array<{ id: string, allow?: string[], deny?: string[], peers: string[], resources: string[] }> }} */
  const doc = { version: 1, peers: {}, groups: {}, rules: [] }
  for (let p = 0; p < PEERS; p++) doc.peers[`peer${p}`] = { id: String(PEER_IDS[p]) }
  for (let g = 0; g < GROUPS; g++) doc.groups[`group${g}`] = []
  for (let p = 0; p < PEERS; p++) doc.groups[`group${p % GROUPS}`]?.push(`peer${p}`)
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
const peers = PEER_IDS.map((peerId) => ({ peerId, groups: [] }))
/** @type {Array<'list' | 'get' | 'put' | 'delete'>} */
const VERBS = ['list', 'get', 'put', 'delete']
const N_REQ = 4096
const requests = Array.from({ length: N_REQ }, (_, i) => {
  const share = (i * 13) % SHARES
  const dir = (i * 7) % 20
  const file = i % 5 === 0 ? `private/f${i}.txt` : `sub/f${i}.txt`
  return {
    peer: /** @type {{ peerId: string, groups: never[] }} */ (peers[(i * 31) % PEERS]),
    action: /** @type {'list' | 'get' | 'put' | 'delete'} */ (VERBS[i % VERBS.length]),
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
/** @param {number} i */
const req = (i) => /** @type {(typeof requests)[number]} */ (requests[i & (N_REQ - 1)])

// ---- the headline anchor: idiomatic per-peer CASL abilities (one per peer, its groups' rules) ----
/** @type {Record<string, string[]>} */
const VERB_CLASSES = { read: ['list', 'get'], write: ['put', 'delete', 'rename', 'print'] }
/** @param {string[]} actions */
const verbsOf = (actions) => actions.flatMap((a) => VERB_CLASSES[a] ?? [a])
/** @param {(typeof doc.rules)[number]} r @param {object} extra */
const caslRule = (r, extra = {}) => ({
  action: verbsOf(r.allow ?? r.deny ?? []),
  subject: 'share',
  inverted: r.deny !== undefined,
  conditions: { name: { $regex: picomatch.makeRe(String(r.resources[0]).slice(6), { dot: true }) }, ...extra }
})
const ordered = [...doc.rules.filter((r) => r.allow), ...doc.rules.filter((r) => r.deny)]
/** @param {number} p */
const groupOf = (p) => `group${p % GROUPS}`
const perPeer = new Map()
for (let p = 0; p < PEERS; p++)
  perPeer.set(PEER_IDS[p], createMongoAbility(ordered.filter((r) => r.peers.includes(groupOf(p))).map((r) => caslRule(r))))
const perPeerAbilities = requests.map((r) => perPeer.get(r.peer.peerId))
const subjects = requests.map((r) => subject('share', { name: r.resource.slice(6), encrypted: true }))
const compiledAbilities = requests.map((r) => policy.abilityFor(r.peer))
let perPeerAgrees = 0
for (let i = 0; i < N_REQ; i++)
  if (at(perPeerAbilities, i).can(req(i).action, at(subjects, i)) === policy.decide(req(i)).allowed) perPeerAgrees++

// ---- context only: one CASL ability for the whole policy, the peer's groups in the subject ----
const whole = createMongoAbility(ordered.map((r) => caslRule(r, { groups: { $in: r.peers } })))
const wholeSubjects = requests.map((r) =>
  subject('share', { name: r.resource.slice(6), groups: [groupOf(Number(PEER_INDEX.get(r.peer.peerId)))] })
)
let wholeAgrees = 0
for (let i = 0; i < N_REQ; i++)
  if (whole.can(req(i).action, at(wholeSubjects, i)) === policy.decide(req(i)).allowed) wholeAgrees++

// Alternate the contenders round by round (a shared machine drifts).
const decideRuns = []
const perPeerRuns = []
const wholeRuns = []
const compiledRuns = []
for (let round = 0; round < ROUNDS; round++) {
  decideRuns.push(rate((i) => policy.decide(req(i))))
  perPeerRuns.push(
    rate((i) => {
      const k = i & (N_REQ - 1)
      return at(perPeerAbilities, k).can(req(k).action, at(subjects, k))
    })
  )
  compiledRuns.push(
    rate((i) => {
      const k = i & (N_REQ - 1)
      return at(compiledAbilities, k).can(req(k).action, at(subjects, k))
    })
  )
  wholeRuns.push(
    rate((i) => {
      const k = i & (N_REQ - 1)
      return whole.can(req(k).action, at(wholeSubjects, k))
    }, DURATION_MS / 4)
  )
}

// ---- a 10,000-rule policy loaded and compiled for all 1,000 peers (first decision each) ----
const big = buildPolicy(10_000)
const bigJson = JSON.stringify(big)
const bigYaml = stringify(big)
/** @param {string} text */
const loadAndCompileAll = (text) => {
  const p = loadPolicy({ text })
  for (const peer of peers) p.decide({ peer, action: 'get', resource: 'share:share1/dir1/a' })
  return p
}
const loadYamlRuns = times(() => loadPolicy({ text: bigYaml }))
const yamlAllRuns = times(() => loadAndCompileAll(bigYaml))
const jsonAllRuns = times(() => loadAndCompileAll(bigJson))
const caslRaw = ordered.length === 0 ? [] : big.rules.map((r) => caslRule(r))
const caslCompileRuns = times(() => {
  const a = createMongoAbility(caslRaw)
  a.can('get', subject('share', { name: 'share1/dir1/a' }))
  return a
})

const decide = figure('decide', 'policy decide() (1,000 peers, 50 groups, 2,000 rules)', 'decisions/s', decideRuns)
const perPeerCasl = figure('casl-per-peer', "CASL, one ability per peer (its groups' rules)", 'calls/s', perPeerRuns)
const compiledCasl = figure('casl-compiled', "CASL can() on peerguard's own compiled per-peer abilities", 'calls/s', compiledRuns)
const wholeCasl = figure('casl-whole', 'CASL, one ability for the whole policy (context)', 'calls/s', wholeRuns)
const compileAll = figure('first-decisions', 'first decision for 1,000 peers (compile per peer)', 'ms', [compile.ms], {
  higherIsBetter: false
})
const yamlLoad = figure('load-yaml-10k', 'load 10,000 rules (YAML)', 'ms', loadYamlRuns, { higherIsBetter: false })
const yamlAll = figure('load-compile-all-yaml-10k', 'load + compile 10,000 rules for all 1,000 peers (YAML)', 'ms', yamlAllRuns, {
  higherIsBetter: false
})
const jsonAll = figure('load-compile-all-json-10k', 'load + compile 10,000 rules for all 1,000 peers (JSON)', 'ms', jsonAllRuns, {
  higherIsBetter: false
})
const caslCompile = figure('casl-compile-10k', 'CASL createMongoAbility, 10,000 rules + first can()', 'ms', caslCompileRuns, {
  higherIsBetter: false
})
const heap = figure(
  'heap-2k',
  'heap for the 2,000-rule policy + 1,000 compiled peers',
  'MiB',
  [(heapAfter - heapBefore) / 2 ** 20],
  {
    higherIsBetter: false
  }
)

console.log('policy benchmark (medians; alternated rounds)')
for (const [k, s, u] of /** @type {const} */ ([
  ['peerguard decide()', decide, 'decisions/s'],
  ['CASL per-peer abilities (headline anchor)', perPeerCasl, 'calls/s'],
  ['CASL on peerguard-compiled per-peer abilities', compiledCasl, 'calls/s'],
  ['CASL whole-policy ability (context)', wholeCasl, 'calls/s'],
  ['first decision for 1,000 peers', compileAll, 'ms'],
  ['load 10,000 rules, YAML', yamlLoad, 'ms'],
  ['load + compile all peers, 10,000 rules, YAML', yamlAll, 'ms'],
  ['load + compile all peers, 10,000 rules, JSON', jsonAll, 'ms'],
  ['CASL createMongoAbility 10,000 rules', caslCompile, 'ms'],
  ['heap, 2,000 rules + 1,000 peers', heap, 'MiB']
]))
  console.log(`  ${k.padEnd(48)} ${show(s, u)}`)
console.log(
  `  (${allowed} of ${N_REQ} sample requests allowed; per-peer CASL agreed on ${perPeerAgrees}, whole-policy CASL on ${wholeAgrees})`
)
if (!QUICK) {
  console.log('goals')
  const goal = (/** @type {boolean} */ ok, /** @type {string} */ text) => console.log(`  ${ok ? 'PASS' : 'MISS'}  ${text}`)
  goal(
    decide.median / perPeerCasl.median >= 8,
    `decide() >= 8x per-peer CASL: ${ratio(decide.median, perPeerCasl.median)} (peerguard-compiled abilities: ${ratio(decide.median, compiledCasl.median)}; whole-policy CASL: ${ratio(decide.median, wholeCasl.median)})`
  )
  goal(yamlAll.median < 250, `10,000-rule YAML loaded and compiled for all peers < 250 ms: ${yamlAll.median.toFixed(0)} ms`)
}
if (perPeerAgrees !== N_REQ || wholeAgrees !== N_REQ) {
  console.error('policy bench: peerguard and CASL disagree; this is a bug')
  process.exitCode = 1
}
