// Encrypted channels on loopback TCP, side by side in one run: plain TCP (the ceiling), Node TLS 1.3
// with mutual certificate authentication, @hyperswarm/secret-stream (Noise XX + libsodium, no
// certificates) and the peerguard channel (Noise XX on node:crypto, certificate chains verified
// with @peerguard/pki on every handshake). Bulk MB/s (one connection, 64 KiB writes, sender and
// receiver in this process), sequential full handshakes per second (TCP connect + handshake +
// close), and memory per idle channel. The IK row reconnects with the server's static key learnt
// from an earlier XX channel (one round trip).
// Run: node bench/channel.bench.js [--quick]   (or: npm run bench -- channel). Needs a build.
//
// Goals (issue 4): bulk throughput >= 1.0x Node TLS 1.3 and >= 0.5x plain TCP; full XX handshakes
// with certificate verification >= 2x secret-stream's rate; memory per idle channel reported.
import { createPrivateKey } from 'node:crypto'
import { connect, createServer } from 'node:net'
import tls from 'node:tls'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import SecretStream from '@hyperswarm/secret-stream'
import { createListener, secureInbound, secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { createCertificateAuthority, createTrustStore, pemEncode } from '@peerguard/pki'

const QUICK = process.argv.includes('--quick')
const BYTES = (QUICK ? 128 : 384) * 1024 * 1024
const CHUNK = 64 * 1024
const HANDSHAKE_MS = QUICK ? 800 : 2000
/** Rounds alternate the contenders; the best of each is kept (a shared machine skews single runs). */
const ROUNDS = QUICK ? 1 : 2
const IDLE = QUICK ? 200 : 300

// ---- fixtures: one CA, a server and a client peer with Ed25519 identities ----
const ca = await createCertificateAuthority({ name: 'Bench LAN CA' })
const trust = createTrustStore({ roots: [ca.certificate] })
const rootPem = pemEncode(ca.certificate, 'CERTIFICATE')
const peers = {}
for (const name of ['server', 'client']) {
  const identity = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['bench'] })
  const keyPem = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(identity.secretKey.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(identity.publicKey).toString('base64url')
    },
    format: 'jwk'
  }).export({ type: 'pkcs8', format: 'pem' })
  peers[name] = {
    identity,
    chain: cert.chain,
    peerId: cert.peerId,
    certPem: cert.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''),
    keyPem
  }
}
const sodiumKeys = { server: SecretStream.keyPair(), client: SecretStream.keyPair() }

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)))
const tcpConnect = (port) =>
  new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    s.setNoDelay(true)
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })

/** Node TLS 1.3 with mutual auth; `ciphersuites` pins the AEAD (default: OpenSSL's choice, AES-256-GCM here). */
function nodeTls(ciphersuites) {
  const suites = ciphersuites === undefined ? {} : { ciphersuites }
  return {
    server: (onStream) =>
      tls.createServer(
        {
          key: peers.server.keyPem,
          cert: peers.server.certPem,
          ca: rootPem,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.3',
          allowHalfOpen: true,
          ...suites
        },
        (s) => onStream(s)
      ),
    connect: (port) =>
      new Promise((resolve, reject) => {
        const s = tls.connect({
          port,
          host: '127.0.0.1',
          key: peers.client.keyPem,
          cert: peers.client.certPem,
          ca: rootPem,
          minVersion: 'TLSv1.3',
          checkServerIdentity: () => undefined,
          ...suites
        })
        s.once('secureConnect', () => resolve(s))
        s.once('error', reject)
      })
  }
}

// ---- contenders: each gives a server (accepting `onStream`) and a client connect ----
const contenders = {
  'plain TCP': {
    server: (onStream) => createServer({ allowHalfOpen: true }, (s) => onStream(s)),
    connect: (port) => tcpConnect(port)
  },
  'Node TLS 1.3 (mutual auth)': nodeTls(),
  'Node TLS 1.3, ChaCha20-Poly1305': nodeTls('TLS_CHACHA20_POLY1305_SHA256'),
  '@hyperswarm/secret-stream': {
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
  },
  'peerguard channel (XX + certificates)': {
    server: (onStream) => {
      const l = createListener({ identity: peers.server.identity, chain: peers.server.chain, trust }, onStream)
      l.on('handshakeError', () => {})
      return l.server
    },
    connect: async (port) =>
      secureOutbound(await tcpConnect(port), {
        identity: peers.client.identity,
        chain: peers.client.chain,
        trust,
        expectedPeerId: peers.server.peerId
      })
  },
  'peerguard channel, IK reconnection': {
    server: (onStream) => contenders['peerguard channel (XX + certificates)'].server(onStream),
    connect: async (port) => {
      const options = { identity: peers.client.identity, chain: peers.client.chain, trust, expectedPeerId: peers.server.peerId }
      // The first connection (XX) learns the server's static key; later ones reuse it (IK).
      if (ikStaticKey === undefined) {
        const first = await secureOutbound(await tcpConnect(port), options)
        ikStaticKey = first.remoteStaticKey
        first.destroy()
      }
      return secureOutbound(await tcpConnect(port), { ...options, remoteStaticKey: ikStaticKey })
    }
  }
}
let ikStaticKey

/** MB/s of BYTES written by the client in 64 KiB chunks, counted when the server has read them all. */
async function throughput(c) {
  let done
  const finished = new Promise((r) => (done = r))
  const server = c.server((s) => {
    let n = 0
    s.on('error', () => {})
    s.on('data', (d) => {
      n += d.length
      if (n >= BYTES) done(performance.now())
    })
  })
  const port = await listen(server)
  const client = await c.connect(port)
  client.on('error', () => {})
  const chunk = Buffer.alloc(CHUNK, 0x5a)
  const start = performance.now()
  let sent = 0
  while (sent < BYTES) {
    sent += CHUNK
    if (!client.write(chunk)) await new Promise((r) => client.once('drain', r))
  }
  const end = await finished
  client.destroy()
  server.close()
  return BYTES / 1e6 / ((end - start) / 1000)
}

/** Sequential full handshakes per second: connect, authenticate both ways, close. */
async function handshakes(c) {
  const server = c.server((s) => {
    s.on('error', () => {})
    s.resume()
  })
  const port = await listen(server)
  for (let i = 0; i < 20; i++) (await c.connect(port)).destroy() // warm up
  let n = 0
  const start = performance.now()
  while (performance.now() - start < HANDSHAKE_MS) {
    const s = await c.connect(port)
    s.destroy()
    n++
  }
  const rate = (n * 1000) / (performance.now() - start)
  server.close()
  return rate
}

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')
function memory() {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

/** Bytes of heap + external memory per idle connection end, over and above a plain TCP socket. */
async function idleMemory() {
  const open = async (kind) => {
    const ends = []
    const server = createServer({ allowHalfOpen: true }, (s) => {
      if (kind === 'tcp') ends.push(s)
      else secureInbound(s, { identity: peers.server.identity, chain: peers.server.chain, trust }).then((ch) => ends.push(ch))
    })
    const port = await listen(server)
    const before = memory()
    for (let i = 0; i < IDLE; i++) {
      const s = await tcpConnect(port)
      ends.push(
        kind === 'tcp'
          ? s
          : await secureOutbound(s, {
              identity: peers.client.identity,
              chain: peers.client.chain,
              trust,
              expectedPeerId: peers.server.peerId
            })
      )
    }
    await new Promise((r) => setTimeout(r, 200))
    const perEnd = (memory() - before) / (2 * IDLE)
    for (const e of ends) e.destroy()
    server.close()
    return perEnd
  }
  const tcp = await open('tcp')
  const channel = await open('channel')
  return { tcp, channel, overhead: channel - tcp }
}

/** `--only=<a>,<b>`: run plain TCP and the contenders whose name contains one of the texts (e.g. --only=TLS,peerguard). */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length)
const names = Object.keys(contenders).filter(
  (n) => only === undefined || only.split(',').some((o) => n.includes(o)) || n === 'plain TCP'
)
const best = { mbps: {}, hps: {} }
/** Let the previous contender's sockets close and its garbage go before the next measurement. */
async function settle() {
  await new Promise((r) => setTimeout(r, 100))
  memory()
}
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    await settle()
    best.mbps[name] = Math.max(best.mbps[name] ?? 0, await throughput(contenders[name]))
  }
  for (const name of names) {
    if (name === 'plain TCP') continue
    await settle()
    best.hps[name] = Math.max(best.hps[name] ?? 0, await handshakes(contenders[name]))
  }
}
const mem = await idleMemory()

const fmt = (n) => Math.round(n).toLocaleString('en-US')
const tlsName = 'Node TLS 1.3 (mutual auth)'
const pad = (s, n) => String(s).padEnd(n)
console.log(
  `bulk: ${BYTES / 1024 / 1024} MiB in 64 KiB writes, one connection; handshakes: sequential for ${HANDSHAKE_MS} ms; best of ${ROUNDS}`
)
console.log(`${pad('contender', 40)}${pad('MB/s', 10)}handshakes/s`)
for (const name of names)
  console.log(`${pad(name, 40)}${pad(fmt(best.mbps[name]), 10)}${best.hps[name] === undefined ? '-' : fmt(best.hps[name])}`)
const pg = 'peerguard channel (XX + certificates)'
if (best.mbps[pg] === undefined || best.mbps[tlsName] === undefined) process.exit(0)
const ratio = (a, b) => `${(a / b).toFixed(2)}x`
const ss = '@hyperswarm/secret-stream'
console.log('')
console.log(`goal: throughput >= 1.0x Node TLS 1.3   measured ${ratio(best.mbps[pg], best.mbps[tlsName])}`)
console.log(`goal: throughput >= 0.5x plain TCP      measured ${ratio(best.mbps[pg], best.mbps['plain TCP'])}`)
console.log(`goal: handshakes >= 2x secret-stream    measured ${ratio(best.hps[pg], best.hps[ss])}`)
const tlsChacha = 'Node TLS 1.3, ChaCha20-Poly1305'
if (best.mbps[tlsChacha] !== undefined)
  console.log(
    `context: throughput vs TLS 1.3 with the same AEAD (ChaCha20-Poly1305) ${ratio(best.mbps[pg], best.mbps[tlsChacha])}; default TLS 1.3 picks AES-256-GCM`
  )
console.log(
  `memory per idle channel end (heap + external, ${IDLE} pairs): ${fmt(mem.channel)} B; a plain TCP socket end: ${fmt(mem.tcp)} B; channel overhead ${fmt(mem.overhead)} B`
)
process.exit(0)
