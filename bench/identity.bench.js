// Ed25519 sign and verify: tweetnacl (pure JS reference), node:crypto used directly (KeyObjects
// made once), and peerguard's chosen path (`sign`/`verify` from @peerguard/identity, node:crypto
// behind argument checks and key caches), side by side in one run. Also keystore open time.
// Run: node bench/identity.bench.js [--quick]   (or: npm run bench -- identity). Needs a build.
//
// Goals (issue 2): peerguard's sign/verify cost at most ~15% over node:crypto used directly
// (the price of argument checks and the key cache), and a large multiple of tweetnacl.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes } from 'node:crypto'
import { decodeKeystore, encodeKeystore, keyPairFromSeed, sign, verify } from '@peerguard/identity'
import nacl from 'tweetnacl'

const QUICK = process.argv.includes('--quick')
const DURATION_MS = QUICK ? 300 : 2000

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

const fmt = (n) => Math.round(n).toLocaleString('en-US')
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
const sigs = pairs.map((p, i) => sign(messages[i], p.secretKey))

const rows = []
function measure(name, signFn, verifyFn) {
  const s = rate((i) => signFn(i % KEYS))
  const v = rate((i) => {
    if (!verifyFn(i % KEYS)) throw new Error(`${name}: verify failed`)
  })
  rows.push({ name, sign: s, verify: v })
}

measure(
  'tweetnacl 1.0.3',
  (k) => nacl.sign.detached(messages[k], pairs[k].secretKey),
  (k) => nacl.sign.detached.verify(messages[k], sigs[k], pairs[k].publicKey)
)
measure(
  'node:crypto direct',
  (k) => nodeSign(null, messages[k], nodePriv[k]),
  (k) => nodeVerify(null, messages[k], nodePub[k], sigs[k])
)
measure(
  'peerguard sign/verify',
  (k) => sign(messages[k], pairs[k].secretKey),
  (k) => verify(sigs[k], messages[k], pairs[k].publicKey)
)

const [ref, native, ours] = rows
console.log(`identity: Ed25519, 64-byte messages, ${KEYS} keys rotated, node ${process.version}${QUICK ? ' (quick)' : ''}`)
console.log('')
console.log('| implementation          |     sign ops/s |   verify ops/s |')
console.log('|-------------------------|---------------:|---------------:|')
for (const r of rows) console.log(`| ${r.name.padEnd(23)} | ${fmt(r.sign).padStart(14)} | ${fmt(r.verify).padStart(14)} |`)
console.log('')
console.log(
  `peerguard / node:crypto direct: sign ${ratio(ours.sign, native.sign)}, verify ${ratio(ours.verify, native.verify)}  (goal >= 0.85x)`
)
console.log(`peerguard / tweetnacl:          sign ${ratio(ours.sign, ref.sign)}, verify ${ratio(ours.verify, ref.verify)}`)

// Keystore: open an encrypted key file with the default scrypt cost (the price of a passphrase).
const entry = { type: 'ed25519', secret: seeds[0], publicKey: pairs[0].publicKey }
const file = await encodeKeystore(entry, { passphrase: 'bench passphrase' })
const runs = QUICK ? 2 : 5
const t0 = performance.now()
for (let i = 0; i < runs; i++) await decodeKeystore(file, { passphrase: 'bench passphrase' })
const openMs = (performance.now() - t0) / runs
const plain = await encodeKeystore(entry)
const t1 = performance.now()
for (let i = 0; i < 200; i++) await decodeKeystore(plain)
const plainMs = (performance.now() - t1) / 200
console.log('')
console.log(`keystore open: encrypted (scrypt N=2^15 r=8 p=1) ${openMs.toFixed(1)} ms, unencrypted ${plainMs.toFixed(2)} ms`)
