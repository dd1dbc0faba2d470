// One workspace member as its own process, for tests that run members in network namespaces
// (`ip netns exec NS node netns-member.mjs`). Reads its setup from the PG_MEMBER environment
// variable (JSON: seed, chain, root, crl in hex; multicast group, port, interface; interval),
// writes JSON lines on stdout (ready, members, bundle) and takes `{"publish":"<hex>"}` lines on
// stdin. Imports the built package (dist): run `tsc -b packages/workspace` first.
import { createInterface } from 'node:readline'
import { keyPairFromSeed } from '@peerguard/identity'
import { createTrustStore } from '@peerguard/pki'
import { Workspace } from '../dist/index.js'

const setup = JSON.parse(process.env.PG_MEMBER ?? '{}')
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const trust = createTrustStore({ roots: [hex(setup.root)], crls: [hex(setup.crl)] })
const ws = await Workspace.start({
  identity: keyPairFromSeed(hex(setup.seed)),
  chain: setup.chain.map(hex),
  trust,
  multicast: { group: setup.group, port: setup.port, interface: setup.interface },
  service: { host: setup.interface },
  announceIntervalMs: setup.interval,
  // every member of this test sends from 127.0.0.1: the per-source limit must allow all of them
  rateLimit: { perSecond: 50 * setup.members, burst: 100 * setup.members }
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
ws.on('bundle', (b) => {
  say({ event: 'bundle', version: b.version, at: Date.now() })
  members()
})
say({ event: 'ready', stats: ws.stats })
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line)
  if (cmd.publish !== undefined)
    ws.publish(hex(cmd.publish)).then(
      () => say({ event: 'published', at: Date.now() }),
      (err) => say({ event: 'error', code: err.code })
    )
  if (cmd.stats === true)
    say({ event: 'stats', stats: ws.stats, peers: ws.peers().map((p) => [p.state, p.fetchPort, p.host, p.code]) })
})
process.stdin.on('end', () => ws.close().then(() => process.exit(0)))
