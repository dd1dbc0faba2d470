// @ts-check
// Ed25519 sign and verify: tweetnacl (pure JS reference), node:crypto used directly (KeyObjects
// made once), and peerguard's chosen path (`sign`/`verify` from @peerguard/identity, node:crypto
// behind argument checks and key caches), side by side in one run. Also keystore open time.
// Run: node bench/identity.bench.js [--quick]   (or: npm run bench -- identity). Needs a build.
//
// Rounds alternate the implementations; the median of the rounds is reported and recorded.
//
// Goals (issue 2): peerguard's sign/verify cost at most ~15% over node:crypto used directly
// (the price of argument checks and the key cache), and a large multiple of tweetnacl.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes } from 'node:crypto'
import { decodeKeystore, encodeKeystore, keyPairFromSeed, sign, verify } from '@peerguard/identity'
import nacl from 'tweetnacl'
import { at, figure, QUICK, show } from './lib.js'

const DURATION_MS = QUICK ? 300 : 700
const ROUNDS = QUICK ? 1 : 3

/** Calls per second of `fn` over `ms`, after a warm-up. @param {(i: number) => unknown} fn */
function rate(fn, ms = DURATION_MS) {
  for (let i = 0; i < 50; i++) fn(i) // warm up
  let calls = 0
  const start = performance.now()
  let now = start
  while (now - start < ms) {
    for (let i = 0; i < 20; i++) fn(calls + i)
    calls += 20
    now = performance.now()
  }
  return (calls * 1000) / (now - start)
}

/** @param {number} a @param {number} b */
const ratio = (a, b) => `${(a / b).toFixed(2)}x`

// 16 keys and 64-byte messages (a handshake transcript hash and some framing), rotated.
const KEYS = 16
const seeds = Array.from({ length: KEYS }, () => randomBytes(32))
const pairs = seeds.map((s) => keyPairFromSeed(s))
const messages = Array.from({ length: KEYS }, () => randomBytes(64))
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const nodePriv = seeds.map((s) => createPrivateKey({ key: Buffer.concat([PKCS8, s]), format: 'der', type: 'pkcs8' }))
const nodePub = pairs.map((p) => createPublicKey({ key: Buffer.concat([SPKI, p.publicKey]), format: 'der', type: 'spki' }))
const sigs = pairs.map((p, i) => sign(at(messages, i), p.secretKey))

/** @typedef {{ name: string, key: string, sign: (k: number) => unknown, verify: (k: number) => boolean }} Impl */
/** @type {Impl[]} */
const impls = [
  {
    name: 'tweetnacl 1.0.3',
    key: 'tweetnacl',
    sign: (k) => nacl.sign.detached(at(messages, k), at(pairs, k).secretKey),
    verify: (k) => nacl.sign.detached.verify(at(messages, k), at(sigs, k), at(pairs, k).publicKey)
  },
  {
    name: 'node:crypto direct',
    key: 'node',
    sign: (k) => nodeSign(null, at(messages, k), at(nodePriv, k)),
    verify: (k) => nodeVerify(null, at(messages, k), at(nodePub, k), at(sigs, k))
  },
  {
    name: 'peerguard sign/verify',
    key: 'peerguard',
    sign: (k) => sign(at(messages, k), at(pairs, k).secretKey),
    verify: (k) => verify(at(sigs, k), at(messages, k), at(pairs, k).publicKey)
  }
]
/** @type {Record<string, { sign: number[], verify: number[] }>} */
const runs = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const impl of impls) {
    const r = (runs[impl.key] ??= { sign: [], verify: [] })
    r.sign.push(rate((i) => impl.sign(i % KEYS)))
    r.verify.push(
      rate((i) => {
        if (!impl.verify(i % KEYS)) throw new Error(`${impl.name}: verify failed`)
      })
    )
  }
}
const rows = impls.map((impl) => {
  const r = /** @type {{ sign: number[], verify: number[] }} */ (runs[impl.key])
  return {
    name: impl.name,
    sign: figure(`sign-${impl.key}`, `Ed25519 sign: ${impl.name}`, 'ops/s', r.sign),
    verify: figure(`verify-${impl.key}`, `Ed25519 verify: ${impl.name}`, 'ops/s', r.verify)
  }
})

const [ref, native, ours] = /** @type {[typeof rows[0], typeof rows[0], typeof rows[0]]} */ (rows)
console.log(
  `identity: Ed25519, 64-byte messages, ${KEYS} keys rotated, node ${process.version}; ${ROUNDS} round(s), median${QUICK ? ' (quick)' : ''}`
)
console.log('')
for (const r of rows)
  console.log(`  ${r.name.padEnd(24)} sign ${show(r.sign, 'ops/s').padEnd(36)} verify ${show(r.verify, 'ops/s')}`)
console.log('')
console.log(
  `peerguard / node:crypto direct: sign ${ratio(ours.sign.median, native.sign.median)}, verify ${ratio(ours.verify.median, native.verify.median)}  (goal >= 0.85x)`
)
console.log(
  `peerguard / tweetnacl:          sign ${ratio(ours.sign.median, ref.sign.median)}, verify ${ratio(ours.verify.median, ref.verify.median)}`
)

// Keystore: open an encrypted key file with the default scrypt cost (the price of a passphrase).
const entry = { type: /** @type {const} */ ('ed25519'), secret: at(seeds, 0), publicKey: at(pairs, 0).publicKey }
const file = await encodeKeystore(entry, { passphrase: 'bench passphrase' })
const opens = QUICK ? 2 : 5
const t0 = performance.now()
for (let i = 0; i < opens; i++) await decodeKeystore(file, { passphrase: 'bench passphrase' })
const openMs = (performance.now() - t0) / opens
const plain = await encodeKeystore(entry)
const t1 = performance.now()
for (let i = 0; i < 200; i++) await decodeKeystore(plain)
const plainMs = (performance.now() - t1) / 200
console.log('')
figure('keystore-open-scrypt', 'keystore open, encrypted (scrypt N=2^15)', 'ms', [openMs], { higherIsBetter: false })
console.log(`keystore open: encrypted (scrypt N=2^15 r=8 p=1) ${openMs.toFixed(1)} ms, unencrypted ${plainMs.toFixed(2)} ms`)
