// @ts-check
// libp2p connection setups per second and bulk throughput (MB/s = 10^6 bytes/s over one yamux
// stream) on loopback TCP, with the peerguard encrypter (`/peerguard/1.0.0`: Noise XX + certificate
// chains, CRL-aware trust store) and with stock @chainsafe/libp2p-noise (the anchor), side by side
// in one run. Run: node bench/libp2p.bench.js [--quick]   (or: npm run bench -- libp2p).
//
// Connection setups (dial + upgrade + close, one dialler), two regimes for peerguard:
// - cold: each connection makes a new Noise static key and its Ed25519 binding signature (the
//   identity's secret key reaches the channel as a new array for each connection, so no per-key cache hits:
//   the key is re-imported and re-checked too), verifies the peer's binding, and validates the
//   peer's chain with the trust store's cache dropped (trust.replace({}) before each dial).
// - warm: one static key and signature per process, binding verifications and chain validations
//   cached, as a long-running node has them.
// libp2p-noise keeps one static key per node and signs and verifies its payload on every
// handshake; it has no resumption, so its one figure is the anchor for both regimes. peerguard's
// cold row does more than it (the certificate chain), which is the product's point.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { generateKeyPair } from '@peerguard/identity'
import { libp2pPrivateKeyFromIdentity, peerguardEncrypter } from '@peerguard/libp2p'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { createLibp2p } from 'libp2p'
import { figure, QUICK, ratio, show } from './lib.js'

// libp2p 2.10 reaches it-queue (via mortice), which calls Promise.withResolvers (Node 22); on Node 20
// add the standard function (see packages/libp2p/README.md, "Node 20").
const PromiseCtor = /** @type {any} */ (Promise)
if (typeof PromiseCtor.withResolvers !== 'function') {
  PromiseCtor.withResolvers = function withResolvers() {
    /** @type {unknown} */
    let resolve
    /** @type {unknown} */
    let reject
    const promise = new Promise((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}

const MiB = 2 ** 20
const BYTES = (QUICK ? 32 : 128) * MiB
const CONNECTIONS = QUICK ? 20 : 300
const ROUNDS = QUICK ? 1 : 3
const CHUNK = 64 * 1024
const SINK = '/bench/sink/1.0.0'

const ca = await createCertificateAuthority({ name: 'Bench LAN CA' })
const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
/** @type {Record<string, { identity: import('@peerguard/identity').KeyPair, chain: Uint8Array[] }>} */
const peers = {}
for (const name of ['a', 'b']) {
  const identity = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['bench'] })
  peers[name] = { identity, chain: cert.chain }
}
/** Cold connections bump this before each dial: the identity's secret key is then a new array. */
let epoch = 0
/**
 * The identity with a secret key that is a new array for every connection (the same array within
 * one handshake), so no per-key cache (static key, signature, imported key) can hit.
 * @param {import('@peerguard/identity').KeyPair} id
 */
function uncached(id) {
  let seen = -1
  let copy = id.secretKey
  return {
    publicKey: id.publicKey,
    get secretKey() {
      if (seen !== epoch) {
        seen = epoch
        copy = Uint8Array.from(id.secretKey)
      }
      return copy
    }
  }
}

/** @typedef {'noise' | 'peerguard warm' | 'peerguard cold'} Variant */
/** @param {Variant} variant @param {{ identity: import('@peerguard/identity').KeyPair, chain: Uint8Array[] }} peer */
async function node(variant, peer) {
  const encrypter =
    variant === 'noise'
      ? noise()
      : peerguardEncrypter({
          chain: peer.chain,
          trust,
          ...(variant === 'peerguard cold' ? { identity: uncached(peer.identity) } : {})
        })
  const n = await createLibp2p({
    privateKey: libp2pPrivateKeyFromIdentity(peer.identity),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [encrypter],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: { maxConnections: 10_000, inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1000 }
  })
  // read everything, then answer with one byte: the sender's clock stops when it arrives
  await n.handle(SINK, ({ stream }) => {
    ;(async () => {
      let got = 0
      for await (const c of stream.source) got += c.byteLength
      await stream.sink([Uint8Array.of(got > 0 ? 1 : 0)])
    })().catch(() => {})
  })
  return n
}

/** @typedef {Awaited<ReturnType<typeof node>>} Node */
/** @typedef {ReturnType<Node['getMultiaddrs']>[number]} Multiaddr */

/** Sequential dial + close, CONNECTIONS of them; `cold` drops the trust store's cache before each. @param {Node} a @param {Multiaddr} addr @param {boolean} cold */
async function connectionsPerSecond(a, addr, cold) {
  for (let i = 0; i < 10; i++) await (await a.dial(addr, { force: true })).close()
  const started = performance.now()
  for (let i = 0; i < CONNECTIONS; i++) {
    if (cold) {
      epoch++
      trust.replace({})
    }
    const conn = await a.dial(addr, { force: true })
    await conn.close()
  }
  return CONNECTIONS / ((performance.now() - started) / 1000)
}

/** @param {Node} a @param {Multiaddr} addr */
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
  return BYTES / 1e6 / ((performance.now() - started) / 1000)
}

/** @type {Variant[]} */
const variants = ['noise', 'peerguard warm', 'peerguard cold']
/** @type {Record<string, number[]>} */
const mbps = {}
/** @type {Record<string, number[]>} */
const cps = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of variants) {
    const a = await node(variant, /** @type {any} */ (peers.a))
    const b = await node(variant, /** @type {any} */ (peers.b))
    const addr = /** @type {Multiaddr} */ (b.getMultiaddrs()[0])
    if (variant !== 'peerguard cold') {
      if (round === 0)
        await throughput(a, addr) // warm-up (JIT, first connection)
      ;(mbps[variant] ??= []).push(await throughput(a, addr))
      await a.hangUp(b.peerId)
    }
    ;(cps[variant] ??= []).push(await connectionsPerSecond(a, addr, variant === 'peerguard cold'))
    await a.stop()
    await b.stop()
  }
}

const noiseMb = figure('bulk-noise', 'libp2p bulk, @chainsafe/libp2p-noise', 'MB/s', mbps.noise ?? [])
const pgMb = figure('bulk-peerguard', 'libp2p bulk, peerguard encrypter', 'MB/s', mbps['peerguard warm'] ?? [])
const noiseC = figure(
  'conn-noise',
  'libp2p connections, @chainsafe/libp2p-noise (signs and verifies every time)',
  'conn/s',
  cps.noise ?? []
)
const coldC = figure(
  'conn-cold-peerguard',
  'libp2p connections, peerguard encrypter, cold',
  'conn/s',
  cps['peerguard cold'] ?? []
)
const warmC = figure(
  'conn-warm-peerguard',
  'libp2p connections, peerguard encrypter, warm (cached)',
  'conn/s',
  cps['peerguard warm'] ?? []
)
console.log(
  `libp2p ${QUICK ? '(quick) ' : ''}on loopback TCP + yamux, ${ROUNDS} round(s), median; ${BYTES / MiB} MiB stream; ${CONNECTIONS} sequential dial + close; MB = 10^6 bytes`
)
console.log(`  bulk   @chainsafe/libp2p-noise        ${show(noiseMb, 'MB/s')}`)
console.log(`  bulk   peerguard                      ${show(pgMb, 'MB/s')}`)
console.log(`  conn   @chainsafe/libp2p-noise        ${show(noiseC, 'conn/s')}`)
console.log(`  conn   peerguard, cold                ${show(coldC, 'conn/s')}`)
console.log(`  conn   peerguard, warm                ${show(warmC, 'conn/s')}`)
console.log(
  `ratio peerguard / noise: throughput ${ratio(pgMb.median, noiseMb.median)}; connections cold ${ratio(coldC.median, noiseC.median)}, warm ${ratio(warmC.median, noiseC.median)}`
)
process.exit(0)
