// libp2p connection setups per second and bulk throughput (MB/s over one yamux stream) on loopback
// TCP, with the peerguard encrypter (`/peerguard/1.0.0`: Noise XX + certificate chains, CRL-aware
// trust store) and with stock @chainsafe/libp2p-noise (the anchor), side by side in one run.
// Run: node bench/libp2p.bench.js [--quick]   (or: npm run bench -- libp2p). Needs a build.
//
// No goal was set for this package; the ratios against stock Noise are printed.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { generateKeyPair } from '@peerguard/identity'
import { libp2pPrivateKeyFromIdentity, peerguardEncrypter } from '@peerguard/libp2p'
import { createLibp2p } from 'libp2p'

// libp2p 2.10 reaches it-queue (via mortice), which calls Promise.withResolvers (Node 22); on Node 20
// add the standard function (see packages/libp2p/README.md, "Node 20").
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve
    let reject
    const promise = new Promise((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}

const QUICK = process.argv.includes('--quick')
const BYTES = (QUICK ? 32 : 128) * 1024 * 1024
const CONN_MS = QUICK ? 1000 : 2500
// variants alternate over several rounds and the best round counts: loopback figures on a shared
// machine are noisy, and the best round is the one least disturbed
const ROUNDS = QUICK ? 1 : 3
// one dialler: libp2p's dial queue joins concurrent dials to the same peer into one connection
const CONCURRENCY = 1
const CHUNK = 64 * 1024
const SINK = '/bench/sink/1.0.0'

const ca = await createCertificateAuthority({ name: 'Bench LAN CA' })
const trust = createTrustStore({ roots: [ca.certificate] })
const peers = {}
for (const name of ['a', 'b']) {
  const identity = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['bench'] })
  peers[name] = { identity, chain: cert.chain }
}

async function node(variant, peer) {
  const n = await createLibp2p({
    privateKey: libp2pPrivateKeyFromIdentity(peer.identity),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [variant === 'peerguard' ? peerguardEncrypter({ chain: peer.chain, trust }) : noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: { maxConnections: 10_000, inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1000 }
  })
  // read everything, then answer with one byte: the sender's clock stops when it arrives
  await n.handle(SINK, ({ stream }) => {
    ;(async () => {
      let n = 0
      for await (const c of stream.source) n += c.byteLength
      await stream.sink([Uint8Array.of(n > 0 ? 1 : 0)])
    })().catch(() => {})
  })
  return n
}

async function connectionsPerSecond(a, addr) {
  let count = 0
  const end = performance.now() + CONN_MS
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const conn = await a.dial(addr, { force: true })
        await conn.close()
        count++
      }
    })
  )
  return count / ((performance.now() - started) / 1000)
}

async function throughput(a, addr) {
  const stream = await a.dialProtocol(addr, SINK)
  const chunk = new Uint8Array(CHUNK).fill(7)
  const started = performance.now()
  await stream.sink(
    (async function* () {
      for (let sent = 0; sent < BYTES; sent += CHUNK) yield chunk
    })()
  )
  for await (const _ of stream.source) {
    // the one-byte answer
  }
  const seconds = (performance.now() - started) / 1000
  return BYTES / 1024 / 1024 / seconds
}

const results = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of ['noise', 'peerguard']) {
    const a = await node(variant, peers.a)
    const b = await node(variant, peers.b)
    const addr = b.getMultiaddrs()[0]
    if (round === 0) await throughput(a, addr) // warm-up (JIT, first connection)
    const mbps = await throughput(a, addr)
    await a.hangUp(b.peerId)
    const cps = await connectionsPerSecond(a, addr)
    const best = results[variant]
    results[variant] = {
      mbps: Math.max(mbps, best?.mbps ?? 0),
      cps: Math.max(cps, best?.cps ?? 0),
      encryption: variant === 'peerguard' ? '/peerguard/1.0.0' : '/noise'
    }
    await a.stop()
    await b.stop()
  }
}

const pad = (s, n) => String(s).padEnd(n)
console.log(
  `libp2p ${QUICK ? '(quick) ' : ''}on loopback TCP + yamux, best of ${ROUNDS} rounds, ${BYTES / 1024 / 1024} MiB stream, ${CONCURRENCY} dialler, sequential connect+close for ${CONN_MS / 1000} s`
)
console.log(`${pad('encrypter', 30)}${pad('MB/s', 12)}connections/s`)
for (const [name, r] of Object.entries(results)) {
  console.log(`${pad(`${name} (${r.encryption})`, 30)}${pad(r.mbps.toFixed(1), 12)}${r.cps.toFixed(0)}`)
}
const t = results.peerguard.mbps / results.noise.mbps
const c = results.peerguard.cps / results.noise.cps
console.log(`ratio peerguard / noise: throughput ${t.toFixed(2)}x, connection setup ${c.toFixed(2)}x`)
process.exit(0)
