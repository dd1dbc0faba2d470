// One workspace member as its own process, for tests that run members in network namespaces
// (`ip netns exec NS node netns-member.mjs`). Reads its setup from the PG_MEMBER environment
// variable (JSON: seed, chain, root, crl in hex; multicast group, port, interface; interval),
// writes JSON lines on stdout (ready, members, bundle, refused, policy, probe) and takes
// `{"publish":"<hex>"}`, `{"stats":true}` and `{"probe":{host,port,peerId}}` (open a channel to a
// peer's workspace service: is it refused, and with which code?) lines on stdin. Optional setup:
// `timeout` (peer timeout, ms), `policy: true` (apply a bundle's policy: compile it and report
// one decision, `decide`). Imports the built packages (dist): run `tsc -b packages/cli` first.
import { createInterface } from 'node:readline'
import { keyPairFromSeed } from '@peerguard/identity'
import { createTrustStore } from '@peerguard/pki'
import { Workspace, fetchBundle } from '../dist/index.js'

const setup = JSON.parse(process.env.PG_MEMBER ?? '{}')
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const trust = createTrustStore({ roots: [hex(setup.root)], crls: [hex(setup.crl)] })
// loaded before any bundle comes, as in a node (module loading is not part of applying a bundle)
const policies = setup.policy === true ? await import('@peerguard/policy') : undefined
/** Like the node: the bundle's policy must compile (else the bundle is refused), then it decides. */
async function apply(bundle) {
  const policy = bundle.policy === undefined ? undefined : policies.loadPolicy(bundle.policy)
  for (const crl of bundle.crls) trust.addCrl(crl, { source: `workspace bundle ${bundle.version}` })
  if (policy === undefined) return
  const d = policy.decide(setup.decide)
  say({ event: 'policy', version: bundle.version, allowed: d.allowed, rule: d.rule?.id ?? null, at: Date.now() })
}
const identity = keyPairFromSeed(hex(setup.seed))
const chain = setup.chain.map(hex)
const ws = await Workspace.start({
  identity: identity,
  chain,
  trust,
  multicast: { group: setup.group, port: setup.port, interface: setup.interface },
  service: { host: setup.interface },
  announceIntervalMs: setup.interval,
  // every member of this test sends from 127.0.0.1: the per-source limit must allow all of them
  rateLimit: { perSecond: 50 * setup.members, burst: 100 * setup.members },
  ...(setup.timeout === undefined ? {} : { peerTimeoutMs: setup.timeout }),
  ...(setup.policy === true ? { apply } : {})
})
const members = () =>
  say({
    event: 'members',
    names: ws
      .members()
      .map((m) => m.name)
      .sort()
  })
ws.on('peer', members)
ws.on('refused', (r) => say({ event: 'refused', code: r.code, from: r.from }))
ws.on('bundle', (b) => {
  say({ event: 'bundle', version: b.version, at: Date.now() })
  members()
})
say({ event: 'ready', stats: ws.stats, servicePort: ws.servicePort })
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line)
  if (cmd.publish !== undefined)
    ws.publish(hex(cmd.publish)).then(
      () => say({ event: 'published', at: Date.now() }),
      (err) => say({ event: 'error', code: err.code })
    )
  if (cmd.probe !== undefined) {
    const { host, port, peerId } = cmd.probe
    fetchBundle({ host, port, haveVersion: 0, channel: { identity: identity, chain, trust, expectedPeerId: peerId } }).then(
      () => say({ event: 'probe', peerId, refused: false }),
      (err) => say({ event: 'probe', peerId, refused: true, code: err.code, cause: err.cause?.code ?? null })
    )
  }
  if (cmd.stats === true)
    say({ event: 'stats', stats: ws.stats, peers: ws.peers().map((p) => [p.state, p.fetchPort, p.host, p.code]) })
})
process.stdin.on('end', () => ws.close().then(() => process.exit(0)))
