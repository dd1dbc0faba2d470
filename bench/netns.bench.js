#!/usr/bin/env node
// @ts-check
// Between two hosts, not on loopback: two network namespaces made here, joined by a veth pair
// (10.231.0.1 ↔ 10.231.0.2, MTU 1500), and the same bulk upload from namespace A to namespace B
// through, side by side in one run:
// - a Nebula tunnel (Debian's `nebula`: Noise IX + certificates with groups from `nebula-cert`,
//   AES-256-GCM, UDP; its defaults (tun MTU 1300, one routine) except 10 MiB UDP socket buffers,
//   the tuning its example configuration suggests for throughput — without them its UDP drops
//   packets on this busy machine and the tunnel's TCP retransmits thousands of times per run; a
//   firewall letting group bench in), the closest existing design — the anchor;
// - the peerguard proxy pair (`peerguard proxy client` in A, `server` in B, Noise channel,
//   certificate chains and CRLs checked, policy) — vs iperf3 through the Nebula tunnel;
// - the peerguard channel (Noise, chains checked) between two Node processes — vs the same Node
//   sender and receiver over plain TCP through the Nebula tunnel (same bytes, same code, only the
//   tunnel differs);
// - the bare veth (iperf3, and the Node sender over plain TCP): the link's limit, context.
// Load: iperf3 (C; its own clock and count) for the proxy and Nebula, bench/netns-peer.js (64 KiB
// writes, MB/s from the first write after the handshake to the receiver's answer) for the channel.
// MB = 10^6 bytes; rounds alternate the paths; medians are recorded.
// Needs root, iproute2, nebula, iperf3 and a build (`npm run build`, for the proxy's CLI); without
// them the benchmark says what is missing and records nothing. Traffic stays inside the two
// namespaces it creates; they (and the veth pair, the tunnels, every process started) are removed
// at the end, also after a failure.
// Goal (issue 15): proxy and channel throughput between two network namespaces >= Nebula's.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCertificateAuthority } from '@peerguard/pki'
import { stopDaemon, which } from './daemons.js'
import { figure, QUICK, ratio, show } from './lib.js'
import { PEERGUARD_BIN, proxyClientArgs, proxyServerArgs, startPeerguardProxy, writeProxyFixtures } from './proxy-fixtures.js'
import { issueCreds } from './share-server.js'
import { iperf3Between } from './tcp-ceiling.js'

const BYTES = (QUICK ? 32 : 384) * 2 ** 20
const ROUNDS = QUICK ? 1 : 3
const here = dirname(fileURLToPath(import.meta.url))
const tag = process.pid % 100000
const NS = { a: `pgb-a-${tag}`, b: `pgb-b-${tag}` }
const VETH = { a: `pgba${tag}`, b: `pgbb${tag}` }
const UNDER = { a: '10.231.0.1', b: '10.231.0.2' }
const OVER = { a: '10.232.0.1', b: '10.232.0.2' }
/** @param {string} ns */
const inNs = (ns) => ['ip', 'netns', 'exec', ns]

const missing = [
  process.getuid?.() === 0 ? undefined : 'root (network namespaces)',
  ...['ip', 'nebula', 'nebula-cert', 'iperf3'].map((t) => (which(t) ? undefined : t)),
  existsSync('/dev/net/tun') ? undefined : '/dev/net/tun (for the Nebula tunnels)',
  existsSync(PEERGUARD_BIN) ? undefined : 'a build (npm run build) for the proxy'
].filter((m) => m !== undefined)
if (missing.length > 0) {
  console.log(`netns: skipped: needs ${missing.join(', ')} (apt-get install iproute2 nebula iperf3); nothing recorded`)
  process.exit(0)
}

const dir = mkdtempSync(join(tmpdir(), 'pg-netns-bench-'))
/** @type {import('node:child_process').ChildProcess[]} */
const children = []
let cleaned = false
function cleanup() {
  if (cleaned) return
  cleaned = true
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanup)
/** Run a command to completion; throws with its stderr on failure. @param {string[]} cmd */
function run(cmd) {
  const r = spawnSync(/** @type {string} */ (cmd[0]), cmd.slice(1), { encoding: 'utf8', cwd: dir })
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.status}: ${r.stderr}`)
  return r.stdout
}

// ---- the two hosts ----
const made = spawnSync('ip', ['netns', 'add', NS.a], { encoding: 'utf8' })
if (made.status !== 0) {
  // root without CAP_SYS_ADMIN/CAP_NET_ADMIN (an unprivileged container): say so, record nothing
  console.log(`netns: skipped: cannot create a network namespace here: ${made.stderr.trim()}; nothing recorded`)
  process.exit(0)
}
run(['ip', 'netns', 'add', NS.b])
run(['ip', 'link', 'add', VETH.a, 'type', 'veth', 'peer', 'name', VETH.b])
for (const h of /** @type {const} */ (['a', 'b'])) {
  run(['ip', 'link', 'set', VETH[h], 'netns', NS[h]])
  run(['ip', '-n', NS[h], 'addr', 'add', `${UNDER[h]}/24`, 'dev', VETH[h]])
  run(['ip', '-n', NS[h], 'link', 'set', 'lo', 'up'])
  run(['ip', '-n', NS[h], 'link', 'set', VETH[h], 'up'])
}

// ---- Nebula: a CA, one certificate per host (group bench), a tunnel each ----
run(['nebula-cert', 'ca', '-name', 'bench', '-out-crt', 'ca.crt', '-out-key', 'ca.key'])
for (const h of /** @type {const} */ (['a', 'b'])) {
  run(['nebula-cert', 'sign', '-name', h, '-ip', `${OVER[h]}/24`, '-groups', 'bench', '-ca-crt', 'ca.crt', '-ca-key', 'ca.key'])
  writeFileSync(
    join(dir, `${h}.yml`),
    `pki: {ca: ${join(dir, 'ca.crt')}, cert: ${join(dir, `${h}.crt`)}, key: ${join(dir, `${h}.key`)}}
static_host_map: {"${OVER.a}": ["${UNDER.a}:4242"], "${OVER.b}": ["${UNDER.b}:4242"]}
lighthouse: {am_lighthouse: false, hosts: []}
listen: {host: 0.0.0.0, port: 4242, read_buffer: 10485760, write_buffer: 10485760}
punchy: {punch: false}
tun: {disabled: false, dev: nebula-${h}}
logging: {level: error}
firewall:
  outbound: [{port: any, proto: any, host: any}]
  inbound: [{port: any, proto: any, group: bench}]
`
  )
  children.push(spawn('ip', [...inNs(NS[h]).slice(1), 'nebula', '-config', join(dir, `${h}.yml`)], { stdio: 'ignore' }))
}
for (let i = 0; ; i++) {
  const up = Object.entries(NS).every(([h, ns]) =>
    spawnSync('ip', ['-n', ns, 'addr', 'show', `nebula-${h}`], { encoding: 'utf8' }).stdout.includes('inet ')
  )
  if (up) break
  if (i > 100) throw new Error('netns: the Nebula tunnels did not come up')
  await new Promise((r) => setTimeout(r, 100))
}

// ---- peerguard: the proxy pair's fixtures and the channel peers' credentials ----
const peers = await writeProxyFixtures(dir)
const ca = await createCertificateAuthority({ name: 'Bench CA' })
for (const name of ['recv', 'send']) writeFileSync(join(dir, `${name}.json`), JSON.stringify(await issueCreds(ca, name)))

/**
 * The Node receiver in B and sender in A (bench/netns-peer.js). MB/s.
 * @param {'tcp' | 'channel'} kind @param {string} host B's address to use @returns {Promise<number>}
 */
async function nodeTransfer(kind, host) {
  const creds = kind === 'channel' ? [join(dir, 'recv.json')] : []
  const recv = spawn(
    'ip',
    [...inNs(NS.b).slice(1), process.execPath, join(here, 'netns-peer.js'), 'recv', kind, host, '0', String(BYTES), ...creds],
    {
      stdio: ['ignore', 'pipe', 'inherit']
    }
  )
  children.push(recv)
  const port = await new Promise((resolve, reject) => {
    let out = ''
    recv.stdout.on('data', (d) => {
      out += d
      const m = /listening (\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    recv.once('exit', (code) => reject(new Error(`netns-peer recv exited ${code}`)))
  })
  const sendCreds = kind === 'channel' ? [join(dir, 'send.json')] : []
  const out = run([
    ...inNs(NS.a),
    process.execPath,
    join(here, 'netns-peer.js'),
    'send',
    kind,
    host,
    String(port),
    String(BYTES),
    ...sendCreds
  ])
  return JSON.parse(out).mbs
}

/** TCP retransmits iperf3's sender counted, per path (Nebula's UDP drops show up here). @type {Record<string, number>} */
const retransmits = {}
/** iperf3 from A to B's `host`. @param {string} host @returns {Promise<number>} */
async function iperf(host) {
  const mbs = await iperf3Between({
    bind: host,
    connect: host,
    port: 5201,
    bytes: BYTES,
    server: inNs(NS.b),
    client: inNs(NS.a),
    onSent: (sent) => {
      retransmits[host] = (retransmits[host] ?? 0) + (sent.retransmits ?? 0)
    }
  })
  if (mbs === undefined) throw new Error('iperf3 is not installed')
  return mbs
}

// iperf3 through the proxy pair: proxy client in A on 127.0.0.1, server in B on the veth, iperf3's
// server in B on B's loopback
const proxyServer = await startPeerguardProxy(proxyServerArgs({ listen: `${UNDER.b}:0`, target: '127.0.0.1:5202', tls: false }), {
  cwd: dir,
  children,
  prefix: inNs(NS.b)
})
const proxyClient = await startPeerguardProxy(
  proxyClientArgs({ listen: '127.0.0.1:0', connect: `${UNDER.b}:${proxyServer.port}`, peerId: peers.server.peerId, tls: false }),
  { cwd: dir, children, prefix: inNs(NS.a) }
)
const viaProxy = async () => {
  const mbs = await iperf3Between({
    bind: '127.0.0.1',
    connect: '127.0.0.1',
    port: 5202,
    connectPort: proxyClient.port,
    bytes: BYTES,
    server: inNs(NS.b),
    client: inNs(NS.a)
  })
  if (mbs === undefined) throw new Error('iperf3 is not installed')
  return mbs
}

/** @type {Record<string, { key: string, measure: () => Promise<number> }>} */
const paths = {
  'iperf3 over the bare veth (link limit)': { key: 'veth-iperf3', measure: () => iperf(UNDER.b) },
  'iperf3 through a Nebula tunnel': { key: 'nebula-iperf3', measure: () => iperf(OVER.b) },
  'iperf3 through the peerguard proxy pair (Noise)': { key: 'proxy-iperf3', measure: viaProxy },
  'Node sender, plain TCP over the bare veth (link limit)': { key: 'veth-node', measure: () => nodeTransfer('tcp', UNDER.b) },
  'Node sender, plain TCP through a Nebula tunnel': { key: 'nebula-node', measure: () => nodeTransfer('tcp', OVER.b) },
  'Node sender, peerguard channel over the veth': { key: 'channel-node', measure: () => nodeTransfer('channel', UNDER.b) }
}
// warm-up: Nebula's handshake, the proxy's first channel, the JIT of the Node ends
for (const p of Object.values(paths)) await p.measure()
/** @type {Record<string, number[]>} */
const runs = {}
for (let round = 0; round < ROUNDS; round++)
  for (const [name, p] of Object.entries(paths)) (runs[name] ??= []).push(await p.measure())

console.log(
  `two network namespaces on a veth pair: ${BYTES / 2 ** 20} MiB from A to B per run; ${ROUNDS} alternating round(s), median; MB = 10^6 bytes`
)
/** @type {Record<string, number>} */
const med = {}
for (const [name, p] of Object.entries(paths)) {
  const s = figure(p.key, `between namespaces: ${name}`, 'MB/s', runs[name] ?? [])
  med[p.key] = s.median
  console.log(`  ${name.padEnd(56)} ${show(s, 'MB/s')}`)
}
const m = (/** @type {string} */ k) => med[k] ?? Number.NaN
console.log('')
console.log(
  `goal: proxy >= 1.0x Nebula (iperf3 through each)            measured ${ratio(m('proxy-iperf3'), m('nebula-iperf3'))}`
)
console.log(`goal: channel >= 1.0x Nebula (the same Node sender)          measured ${ratio(m('channel-node'), m('nebula-node'))}`)
console.log(
  `context: of the bare veth: Nebula ${ratio(m('nebula-iperf3'), m('veth-iperf3'))}, proxy ${ratio(m('proxy-iperf3'), m('veth-iperf3'))} (iperf3); channel ${ratio(m('channel-node'), m('veth-node'))} (Node sender)`
)
console.log(
  `context: TCP retransmits seen by iperf3's sender, all runs: bare veth ${retransmits[UNDER.b] ?? 0}, through Nebula ${retransmits[OVER.b] ?? 0}`
)
// stop every process started here (by pid) and wait for each, so none is left unreaped
await Promise.all(children.map(stopDaemon))
cleanup()
process.exit(0)
