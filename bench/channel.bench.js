// @ts-check
// Encrypted channels on loopback TCP, side by side in one run: Node TLS 1.3 with mutual certificate
// authentication (the anchor), @hyperswarm/secret-stream (Noise XX + libsodium, no certificates,
// context) and the peerguard channel (Noise XX on node:crypto, certificate chains checked with
// @peerguard/pki). Run: node bench/channel.bench.js [--quick]   (or: npm run bench -- channel).
//
// Bulk: MB/s (10^6 bytes) of one connection, 64 KiB writes, sender and receiver in this process,
// every contender through the same JavaScript loop ("plain TCP, same loop" is that loop's own
// limit). The link's limit is measured apart (bench/tcp-ceiling.js): Node's fastest loopback copy
// (sender in a child process), socat and iperf3 (C).
// Handshakes, sequential (TCP connect + mutual authentication + close), two regimes:
// - cold: nothing is reused. peerguard: each handshake uses a new identity pair on each side (a
//   new Ed25519 key and certificate from a pool larger than every cache), so a new Noise static key
//   and its binding signature are made, the peer's binding signature is verified and its chain is
//   validated against a new trust store (no cached results) on both sides. Node TLS: a new client
//   context each time (key, certificate and CA parsed), a full handshake with both chains verified
//   and both CertificateVerify signatures; the server keeps its one context, as servers do.
// - warm: what each side caches in a long-running process. peerguard: one identity per side, so the
//   static key and its signature are made once per process, the binding verification and the
//   chain validation are cached (pki trust store); the IK row also skips a round trip with the
//   server's static key learnt before. Node TLS: one client context and TLS 1.3 session
//   resumption (PSK from a session ticket: no certificates, no signatures).
// Goals (issue 15): bulk >= 1.0x Node TLS 1.3 with its default cipher; cold mutual-auth handshakes
// >= 1.5x Node TLS 1.3 mTLS.
import { createPrivateKey } from 'node:crypto'
import { connect, createServer } from 'node:net'
import tls from 'node:tls'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import SecretStream from '@hyperswarm/secret-stream'
import { createListener, secureInbound, secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { createCertificateAuthority, createTrustStore, pemEncode } from '@peerguard/pki'
import { at, figure, fmt, QUICK, ratio, show } from './lib.js'
import { iperf3Ceiling, nodeCeiling, socatCeiling } from './tcp-ceiling.js'

const MiB = 2 ** 20
const BYTES = (QUICK ? 64 : 384) * MiB
const CHUNK = 64 * 1024
/** Handshakes per measurement. */
const HANDSHAKES = QUICK ? 20 : 300
const ROUNDS = QUICK ? 1 : 3
const IDLE = QUICK ? 100 : 300
/** Distinct identities per side for cold handshakes: together more than identity's 1,024-key cache. */
const POOL = QUICK ? HANDSHAKES : 600

// ---- fixtures: one CA, identities with certificates ----
const ca = await createCertificateAuthority({ name: 'Bench LAN CA' })
const rootPem = pemEncode(ca.certificate, 'CERTIFICATE')
// Both sides check revocation: peerguard's trust store requires a CRL per CA; TLS gets the same
// CRL (Node then sets OpenSSL's CRL_CHECK | CRL_CHECK_ALL).
const crl = (await ca.crl()).der
const crlPem = pemEncode(crl, 'X509 CRL')
const newTrust = () => createTrustStore({ roots: [ca.certificate], crls: [crl] })
const trust = newTrust()
/** @param {string} name */
async function makePeer(name) {
  const identity = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['bench'] })
  return { identity, chain: cert.chain, peerId: cert.peerId }
}
/** @typedef {Awaited<ReturnType<typeof makePeer>>} Peer */
/** @param {Peer} peer */
function pems(peer) {
  const { identity } = peer
  const jwk = {
    kty: 'OKP',
    crv: 'Ed25519',
    d: Buffer.from(identity.secretKey.subarray(0, 32)).toString('base64url'),
    x: Buffer.from(identity.publicKey).toString('base64url')
  }
  const key = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' })
  return { key: String(key), cert: peer.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join('') }
}
const server = await makePeer('server')
const client = await makePeer('client')
const serverPem = pems(server)
const clientPem = pems(client)
/** @type {Peer[]} */
const serverPool = []
/** @type {Peer[]} */
const clientPool = []
for (let i = 0; i < POOL; i++) {
  serverPool.push(await makePeer(`server-${i}`))
  clientPool.push(await makePeer(`client-${i}`))
}
/** A copy of the key pair whose secret key no cache has seen (caches are keyed by that array). @param {Peer} p */
const fresh = (p) => ({ publicKey: p.identity.publicKey, secretKey: Uint8Array.from(p.identity.secretKey) })
const sodiumKeys = { server: SecretStream.keyPair(), client: SecretStream.keyPair() }

/** @typedef {import('node:stream').Duplex} Duplex */
/** @typedef {{ server: (onStream: (s: Duplex) => void) => import('node:net').Server, connect: (port: number) => Promise<Duplex> }} Contender */

/** @param {import('node:net').Server} s @returns {Promise<number>} */
const listen = (s) =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r(/** @type {import('node:net').AddressInfo} */ (s.address()).port)))
/** @param {number} port @returns {Promise<import('node:net').Socket>} */
const tcpConnect = (port) =>
  new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    s.setNoDelay(true)
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })

const tlsServerOptions = {
  key: serverPem.key,
  cert: serverPem.cert,
  ca: rootPem,
  crl: crlPem,
  requestCert: true,
  rejectUnauthorized: true
}
const tlsClientOptions = { key: clientPem.key, cert: clientPem.cert, ca: rootPem, crl: crlPem }
/**
 * Node TLS 1.3 with mutual auth. `suites` pins the AEAD (default: OpenSSL's choice, AES-256-GCM);
 * `resume`: one client context and session resumption from the last session ticket.
 * @param {{ suites?: string, resume?: boolean }} [o] @returns {Contender}
 */
function nodeTls(o = {}) {
  const suites = o.suites === undefined ? {} : { ciphersuites: o.suites }
  const context =
    o.resume === true ? tls.createSecureContext({ ...tlsClientOptions, minVersion: 'TLSv1.3', ...suites }) : undefined
  /** @type {Buffer | undefined} */
  let session
  return {
    server: (onStream) => {
      session = undefined // a new server has new ticket keys: the old ticket cannot resume
      return tls.createServer({ ...tlsServerOptions, minVersion: 'TLSv1.3', allowHalfOpen: true, ...suites }, (s) => onStream(s))
    },
    connect: (port) =>
      new Promise((resolve, reject) => {
        const common = {
          port,
          host: '127.0.0.1',
          minVersion: /** @type {const} */ ('TLSv1.3'),
          checkServerIdentity: () => undefined
        }
        const s =
          context === undefined
            ? tls.connect({ ...common, ...tlsClientOptions, ...suites })
            : tls.connect({ ...common, secureContext: context, ...(session === undefined ? {} : { session }) })
        if (context !== undefined) s.on('session', (t) => (session = t))
        s.once('secureConnect', () => {
          // warm: the first connection waits for its ticket; later ones must have resumed
          if (context !== undefined && session === undefined) s.once('session', () => resolve(s))
          else if (context !== undefined && !s.isSessionReused()) reject(new Error('TLS session not resumed'))
          else resolve(s)
        })
        s.once('error', reject)
      })
  }
}

/** @type {Contender} */
const plain = {
  server: (onStream) => createServer({ allowHalfOpen: true }, (s) => onStream(s)),
  connect: (port) => tcpConnect(port)
}
/** @type {Contender} */
const secretStream = {
  server: (onStream) =>
    createServer({ allowHalfOpen: true }, (raw) => {
      const s = new SecretStream(false, raw, { keyPair: sodiumKeys.server })
      s.on('error', () => {})
      s.once('connect', () => onStream(s))
    }),
  connect: async (port) => {
    const s = new SecretStream(true, await tcpConnect(port), { keyPair: sodiumKeys.client })
    s.on('error', () => {})
    await new Promise((resolve, reject) => {
      s.once('connect', resolve)
      s.once('error', reject)
    })
    return s
  }
}
/** @type {Contender} the warm channel: one identity per side for the whole process */
const channelWarm = {
  server: (onStream) => {
    const l = createListener({ identity: server.identity, chain: server.chain, trust }, onStream)
    l.on('handshakeError', () => {})
    return l.server
  },
  connect: async (port) =>
    secureOutbound(await tcpConnect(port), {
      identity: client.identity,
      chain: client.chain,
      trust,
      expectedPeerId: server.peerId
    })
}
/** @type {Uint8Array | undefined} */
let ikStaticKey
/** @type {Contender} */
const channelIk = {
  server: channelWarm.server,
  connect: async (port) => {
    const options = { identity: client.identity, chain: client.chain, trust, expectedPeerId: server.peerId }
    if (ikStaticKey === undefined) {
      const first = await secureOutbound(await tcpConnect(port), options)
      ikStaticKey = first.remoteStaticKey
      first.destroy()
    }
    return secureOutbound(await tcpConnect(port), { ...options, remoteStaticKey: ikStaticKey })
  }
}
/** Cold: handshake n uses pool entry n on both sides (handshakes are sequential). */
let coldIndex = 0
/** @type {Contender} */
const channelCold = {
  server: (onStream) =>
    createServer({ allowHalfOpen: true }, (raw) => {
      const p = at(serverPool, coldIndex % POOL)
      secureInbound(raw, { identity: fresh(p), chain: p.chain, trust: newTrust() }).then(onStream, () => raw.destroy())
    }),
  connect: async (port) => {
    const s = at(serverPool, coldIndex % POOL)
    const c = at(clientPool, coldIndex % POOL)
    const ch = await secureOutbound(await tcpConnect(port), {
      identity: fresh(c),
      chain: c.chain,
      trust: newTrust(),
      expectedPeerId: s.peerId
    })
    coldIndex++
    return ch
  }
}

/** MB/s of BYTES written by the client in 64 KiB chunks, counted when the server has read them all. @param {Contender} c */
async function throughput(c) {
  /** @type {(t: number) => void} */
  let done = () => {}
  const finished = new Promise((r) => {
    done = r
  })
  const srv = c.server((s) => {
    let n = 0
    s.on('error', () => {})
    s.on('data', (d) => {
      n += d.length
      if (n >= BYTES) done(performance.now())
    })
  })
  const port = await listen(srv)
  const cl = await c.connect(port)
  cl.on('error', () => {})
  const chunk = Buffer.alloc(CHUNK, 0x5a)
  const start = performance.now()
  for (let sent = 0; sent < BYTES; sent += CHUNK) {
    if (!cl.write(chunk)) await new Promise((r) => cl.once('drain', r))
  }
  const end = await finished
  cl.destroy()
  srv.close()
  return BYTES / 1e6 / ((end - start) / 1000)
}

/** Handshakes per second, HANDSHAKES in sequence after 10 to warm up the JIT (and, warm, the caches). @param {Contender} c */
async function handshakes(c) {
  const srv = c.server((s) => {
    s.on('error', () => {})
    s.resume()
  })
  const port = await listen(srv)
  for (let i = 0; i < 10; i++) (await c.connect(port)).destroy()
  const start = performance.now()
  for (let i = 0; i < HANDSHAKES; i++) (await c.connect(port)).destroy()
  const rate = (HANDSHAKES * 1000) / (performance.now() - start)
  srv.close()
  return rate
}

setFlagsFromString('--expose-gc')
const gc = /** @type {() => void} */ (runInNewContext('gc'))
function memory() {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}
/** Let the previous contender's sockets close and its garbage go before the next measurement. */
async function settle() {
  await new Promise((r) => setTimeout(r, 100))
  memory()
}

/** Bytes of heap + external memory per idle connection end. @param {'tcp' | 'channel'} kind */
async function idleMemory(kind) {
  /** @type {Duplex[]} */
  const ends = []
  const c = kind === 'tcp' ? plain : channelWarm
  const srv = c.server((s) => ends.push(s))
  const port = await listen(srv)
  await settle()
  const before = memory()
  for (let i = 0; i < IDLE; i++) ends.push(await c.connect(port))
  await new Promise((r) => setTimeout(r, 200))
  const perEnd = (memory() - before) / (2 * IDLE)
  for (const e of ends) e.destroy()
  srv.close()
  return perEnd
}

// ---- measure: contenders alternate within each round; every round is kept ----
/** @type {Record<string, Contender>} */
const bulk = {
  'plain TCP, same loop': plain,
  'Node TLS 1.3 (AES-256-GCM)': nodeTls(),
  'Node TLS 1.3, ChaCha20-Poly1305': nodeTls({ suites: 'TLS_CHACHA20_POLY1305_SHA256' }),
  '@hyperswarm/secret-stream': secretStream,
  'peerguard channel': channelWarm
}
/** @type {Record<string, Contender>} */
const cold = { 'Node TLS 1.3 mTLS, full handshake': nodeTls(), 'peerguard channel XX, cold': channelCold }
/** @type {Record<string, Contender>} */
const warm = {
  'Node TLS 1.3 mTLS, resumed session': nodeTls({ resume: true }),
  'peerguard channel XX, warm': channelWarm,
  'peerguard channel IK, warm': channelIk,
  '@hyperswarm/secret-stream (no certificates)': secretStream
}
/** @type {Record<string, number[]>} */
const runs = {}
/** @param {string} k @param {number} v */
const add = (k, v) => {
  runs[k] = runs[k] ?? []
  runs[k].push(v)
}
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, c] of Object.entries(bulk)) {
    await settle()
    add(`bulk ${name}`, await throughput(c))
  }
  await settle()
  add('bulk node ceiling', await nodeCeiling(BYTES * 2))
  const socat = await socatCeiling(BYTES * 4)
  if (socat !== undefined) add('bulk socat', socat)
  const iperf3 = await iperf3Ceiling(BYTES * 4)
  if (iperf3 !== undefined) add('bulk iperf3', iperf3)
  for (const [name, c] of Object.entries({ ...cold, ...warm })) {
    await settle()
    add(`hs ${name}`, await handshakes(c))
  }
}
const memTcp = await idleMemory('tcp')
const memChannel = await idleMemory('channel')

// ---- report ----
const MBS = 'MB/s'
const HS = 'handshakes/s'
/** @param {string} key @param {string} label @param {string} unit @param {string} name @param {string} [note] */
const rec = (key, label, unit, name, note) => figure(key, label, unit, runs[name] ?? [], note === undefined ? {} : { note })
/** @type {Record<string, string>} */
const keys = {
  'plain TCP, same loop': 'bulk-tcp-same-loop',
  'Node TLS 1.3 (AES-256-GCM)': 'bulk-tls',
  'Node TLS 1.3, ChaCha20-Poly1305': 'bulk-tls-chacha',
  '@hyperswarm/secret-stream': 'bulk-secret-stream',
  'peerguard channel': 'bulk-channel',
  'Node TLS 1.3 mTLS, full handshake': 'hs-cold-tls',
  'peerguard channel XX, cold': 'hs-cold-channel',
  'Node TLS 1.3 mTLS, resumed session': 'hs-warm-tls',
  'peerguard channel XX, warm': 'hs-warm-channel',
  'peerguard channel IK, warm': 'hs-warm-channel-ik',
  '@hyperswarm/secret-stream (no certificates)': 'hs-secret-stream'
}
console.log(
  `bulk: ${BYTES / MiB} MiB in 64 KiB writes, one connection, in this process; handshakes: ${HANDSHAKES} sequential; ${ROUNDS} round(s), median; MB = 10^6 bytes`
)
/** @type {Record<string, import('./lib.js').Summary>} */
const s = {}
for (const name of Object.keys(bulk)) {
  const f = rec(keys[name] ?? name, `channel bulk: ${name}`, MBS, `bulk ${name}`)
  s[name] = f
  console.log(`  bulk  ${name.padEnd(48)}${show(f, MBS)}`)
}
const ceilNode = rec(
  'bulk-node-ceiling',
  'loopback ceiling: Node plain TCP, sender in a child process, 1 MiB writes',
  MBS,
  'bulk node ceiling'
)
console.log(`  link  ${'Node plain TCP, child-process sender (ceiling)'.padEnd(48)}${show(ceilNode, MBS)}`)
if (runs['bulk socat'] !== undefined) {
  const ceilSocat = rec('bulk-socat', 'loopback ceiling: socat to socat (spawn included)', MBS, 'bulk socat')
  console.log(`  link  ${'socat -> socat (ceiling)'.padEnd(48)}${show(ceilSocat, MBS)}`)
} else console.log('  link  socat not installed: no C ceiling')
if (runs['bulk iperf3'] !== undefined) {
  const ceilIperf = rec('bulk-iperf3', 'loopback ceiling: iperf3 (its own clock)', MBS, 'bulk iperf3')
  console.log(`  link  ${'iperf3 (ceiling)'.padEnd(48)}${show(ceilIperf, MBS)}`)
} else console.log('  link  iperf3 not installed: no iperf3 ceiling')
for (const name of Object.keys({ ...cold, ...warm })) {
  const regime = name in cold ? 'cold' : 'warm'
  const f = rec(keys[name] ?? name, `channel handshakes, ${regime}: ${name}`, HS, `hs ${name}`)
  s[name] = f
  console.log(`  ${regime}  ${name.padEnd(48)}${show(f, HS)}`)
}
figure('idle-memory-channel', 'memory per idle channel end (heap + external)', 'B', [memChannel], { higherIsBetter: false })
figure('idle-memory-tcp', 'memory per idle plain TCP socket end (heap + external)', 'B', [memTcp], { higherIsBetter: false })
/** @param {string} n */
const med = (n) => s[n]?.median ?? Number.NaN
console.log('')
console.log(
  `goal: bulk >= 1.0x Node TLS 1.3 (default cipher)     measured ${ratio(med('peerguard channel'), med('Node TLS 1.3 (AES-256-GCM)'))}`
)
console.log(
  `goal: cold handshakes >= 1.5x Node TLS 1.3 mTLS      measured ${ratio(med('peerguard channel XX, cold'), med('Node TLS 1.3 mTLS, full handshake'))}`
)
console.log(
  `context: bulk vs TLS with ChaCha20-Poly1305 ${ratio(med('peerguard channel'), med('Node TLS 1.3, ChaCha20-Poly1305'))}; vs Node's loopback ceiling ${ratio(med('peerguard channel'), ceilNode.median)}`
)
console.log(
  `context: warm handshakes vs resumed TLS: XX ${ratio(med('peerguard channel XX, warm'), med('Node TLS 1.3 mTLS, resumed session'))}, IK ${ratio(med('peerguard channel IK, warm'), med('Node TLS 1.3 mTLS, resumed session'))}`
)
console.log(`memory per idle end (${IDLE} pairs): channel ${fmt(memChannel)} B, plain TCP socket ${fmt(memTcp)} B`)
process.exit(0)
