import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import { generateKeyPair, InvalidKeyError, keyPairFromSeed, publicKeyOf, sign, verify } from '@peerguard/identity'
import { tweetnaclEd25519 } from '@peerguard/identity/reference'
import { InvalidArgumentError } from '@peerguard/interface'

const here = dirname(fileURLToPath(import.meta.url))
interface Vector {
  name: string
  secretKey: string
  publicKey: string
  message: string
  signature: string
}
/** RFC 8032 §7.1 TEST 1–3 (source named in the file). */
const rfc8032 = JSON.parse(readFileSync(join(here, 'vectors', 'rfc8032-ed25519.json'), 'utf8')) as {
  source: string
  vectors: Vector[]
}
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Ed25519 group order L (RFC 8032 §5.1), little-endian, for the malleability test. */
const L = (1n << 252n) + 27742317777372353535851937790883648493n

describe('RFC 8032 §7.1 known-answer vectors', () => {
  it('names its source', () => {
    expect(rfc8032.source).toContain('RFC 8032')
    expect(rfc8032.vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3'])
  })

  for (const v of rfc8032.vectors) {
    it(`${v.name}: node:crypto and tweetnacl derive the key, sign and verify exactly`, () => {
      for (const impl of [{ keyPairFromSeed, sign, verify }, tweetnaclEd25519]) {
        const kp = impl.keyPairFromSeed(hex(v.secretKey))
        expect(toHex(kp.publicKey)).toBe(v.publicKey)
        expect(toHex(kp.secretKey)).toBe(v.secretKey + v.publicKey)
        const sig = impl.sign(hex(v.message), kp.secretKey)
        expect(toHex(sig)).toBe(v.signature)
        expect(impl.verify(hex(v.signature), hex(v.message), hex(v.publicKey))).toBe(true)
        const other = hex(v.message + '00')
        expect(impl.verify(hex(v.signature), other, hex(v.publicKey))).toBe(false)
      }
    })
  }
})

/**
 * tweetnacl runs 10-15x slower inside Jest's VM sandbox than in plain node (its Float64Array
 * arithmetic deoptimises there), so the reference side of the differential runs in a plain
 * `node` child over the same fast-check inputs, and the test compares the answers here.
 */
const REFERENCE_SCRIPT = `
import nacl from 'tweetnacl'
const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b) => Buffer.from(b).toString('hex')
let input = ''
for await (const chunk of process.stdin) input += chunk
const out = JSON.parse(input).map((c) => {
  const kp = nacl.sign.keyPair.fromSeed(hex(c.seed))
  const sig = nacl.sign.detached(hex(c.message), kp.secretKey)
  return {
    publicKey: toHex(kp.publicKey),
    secretKey: toHex(kp.secretKey),
    signature: toHex(sig),
    verifies: nacl.sign.detached.verify(hex(c.message), sig, kp.publicKey),
    badSignature: nacl.sign.detached.verify(hex(c.message), hex(c.badSignature), kp.publicKey),
    badMessage: nacl.sign.detached.verify(hex(c.badMessage), sig, kp.publicKey),
    foreignKey: nacl.sign.detached.verify(hex(c.message), sig, hex(c.foreignKey))
  }
})
process.stdout.write(JSON.stringify(out))
`
const REPO_ROOT = join(here, '..', '..', '..')

interface Case {
  seed: string
  message: string
  badSignature: string
  badMessage: string
  foreignKey: string
}

describe('differential: node:crypto against tweetnacl', () => {
  it('gives byte-identical keys and signatures and agrees on verify (good, corrupted signature, corrupted message, random key) over 300 random cases', () => {
    const arb = fc.record({
      seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      message: fc.uint8Array({ minLength: 0, maxLength: 512 }),
      pos: fc.nat(63),
      flip: fc.integer({ min: 1, max: 255 }),
      foreignKey: fc.uint8Array({ minLength: 32, maxLength: 32 })
    })
    const fcSeed = Date.now() | 0
    const samples = fc.sample(arb, { numRuns: 300, seed: fcSeed })
    const cases: Case[] = samples.map((s) => {
      const sig = sign(s.message, keyPairFromSeed(s.seed).secretKey)
      const badSignature = sig.slice()
      badSignature[s.pos]! ^= s.flip
      const badMessage = s.message.length === 0 ? Uint8Array.of(s.flip) : s.message.slice()
      if (s.message.length > 0) badMessage[s.pos % s.message.length]! ^= s.flip
      return {
        seed: toHex(s.seed),
        message: toHex(s.message),
        badSignature: toHex(badSignature),
        badMessage: toHex(badMessage),
        foreignKey: toHex(s.foreignKey)
      }
    })
    const reference = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', REFERENCE_SCRIPT], {
        cwd: REPO_ROOT,
        input: JSON.stringify(cases),
        maxBuffer: 64 * 1024 * 1024
      }).toString()
    ) as Array<Record<string, string | boolean>>
    expect(reference).toHaveLength(300)
    cases.forEach((c, i) => {
      const where = `case ${i} (fast-check seed ${fcSeed})`
      const kp = keyPairFromSeed(hex(c.seed))
      const sig = sign(hex(c.message), kp.secretKey)
      const ours = {
        publicKey: toHex(kp.publicKey),
        secretKey: toHex(kp.secretKey),
        signature: toHex(sig),
        verifies: verify(sig, hex(c.message), kp.publicKey),
        badSignature: verify(hex(c.badSignature), hex(c.message), kp.publicKey),
        badMessage: verify(sig, hex(c.badMessage), kp.publicKey),
        foreignKey: verify(sig, hex(c.message), hex(c.foreignKey))
      }
      expect({ where, ...ours }).toEqual({ where, ...reference[i] })
      expect({ where, verifies: ours.verifies, bad: [ours.badSignature, ours.badMessage, ours.foreignKey] }).toEqual({
        where,
        verifies: true,
        bad: [false, false, false]
      })
      expect(publicKeyOf(kp.secretKey)).toEqual(kp.publicKey)
    })
    // ~9 s here (the reference child is pure JS): the default 30 s left a slower, busy CI machine
    // only a 3x margin
  }, 120_000)

  it('the in-process reference wrapper agrees with the native path', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), (seed, message) => {
        const ref = tweetnaclEd25519.keyPairFromSeed(seed)
        expect(keyPairFromSeed(seed)).toEqual(ref)
        expect(sign(message, ref.secretKey)).toEqual(tweetnaclEd25519.sign(message, ref.secretKey))
      }),
      { numRuns: 10 }
    )
  })

  it('is strict where tweetnacl is not: rejects the malleable signature (R, S + L)', () => {
    const { publicKey, secretKey } = generateKeyPair()
    const message = new TextEncoder().encode('malleability')
    const sig = sign(message, secretKey)
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!)
    s += L
    const mauled = sig.slice()
    for (let i = 32; i < 64; i++) {
      mauled[i] = Number(s & 0xffn)
      s >>= 8n
    }
    expect(s).toBe(0n) // S + L still fits in 32 bytes (S < L < 2^253)
    expect(nacl.sign.detached.verify(message, mauled, publicKey)).toBe(true)
    expect(verify(mauled, message, publicKey)).toBe(false)
  })
})

describe('key pairs and the secret-key cache', () => {
  it('generates distinct, working key pairs in tweetnacl layout', () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    expect(a.publicKey).not.toEqual(b.publicKey)
    expect(a.secretKey.subarray(32)).toEqual(a.publicKey)
    expect(keyPairFromSeed(a.secretKey.subarray(0, 32)).publicKey).toEqual(a.publicKey)
  })

  it('never signs with a stale key after the caller overwrites its secretKey array', () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const m = Uint8Array.of(9)
    const buf = a.secretKey.slice()
    expect(verify(sign(m, buf), m, a.publicKey)).toBe(true)
    buf.set(b.secretKey)
    expect(verify(sign(m, buf), m, b.publicKey)).toBe(true)
    buf.fill(0)
    expect(() => sign(m, buf)).toThrow(InvalidKeyError)
  })

  it('refuses a secret key whose second half is not the public key of its seed', () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const mixed = new Uint8Array(64)
    mixed.set(a.secretKey.subarray(0, 32), 0)
    mixed.set(b.publicKey, 32)
    expect(() => sign(Uint8Array.of(1), mixed)).toThrow(
      'secretKey: the last 32 bytes are not the public key of the first 32 (the seed)'
    )
  })
})

describe('argument checks', () => {
  const kp = generateKeyPair()
  const sig = sign(Uint8Array.of(1), kp.secretKey)
  const cases: Array<[string, () => unknown, string]> = [
    [
      'keyPairFromSeed short',
      () => keyPairFromSeed(new Uint8Array(31)),
      'seed: expected Uint8Array of length 32, got Uint8Array of length 31'
    ],
    ['keyPairFromSeed string', () => keyPairFromSeed('seed' as never), 'seed: expected Uint8Array of length 32, got string'],
    ['sign message type', () => sign('hi' as never, kp.secretKey), 'message: expected Uint8Array, got string'],
    [
      'sign secretKey size',
      () => sign(Uint8Array.of(1), kp.publicKey),
      'secretKey: expected Uint8Array of length 64, got Uint8Array of length 32'
    ],
    ['sign secretKey null', () => sign(Uint8Array.of(1), null as never), 'secretKey: expected Uint8Array of length 64, got null'],
    [
      'verify signature size',
      () => verify(sig.subarray(1), Uint8Array.of(1), kp.publicKey),
      'signature: expected Uint8Array of length 64, got Uint8Array of length 63'
    ],
    ['verify message type', () => verify(sig, [1] as never, kp.publicKey), 'message: expected Uint8Array, got array'],
    [
      'verify publicKey size',
      () => verify(sig, Uint8Array.of(1), kp.secretKey),
      'publicKey: expected Uint8Array of length 32, got Uint8Array of length 64'
    ],
    [
      'publicKeyOf size',
      () => publicKeyOf(kp.publicKey),
      'secretKey: expected Uint8Array of length 64, got Uint8Array of length 32'
    ],
    [
      'reference seed',
      () => tweetnaclEd25519.keyPairFromSeed(undefined as never),
      'seed: expected Uint8Array of length 32, got undefined'
    ],
    [
      'reference sign',
      () => tweetnaclEd25519.sign(Uint8Array.of(1), kp.publicKey),
      'secretKey: expected Uint8Array of length 64, got Uint8Array of length 32'
    ],
    [
      'reference verify',
      () => tweetnaclEd25519.verify(sig, Uint8Array.of(1), new Uint8Array(33)),
      'publicKey: expected Uint8Array of length 32, got Uint8Array of length 33'
    ]
  ]
  for (const [name, fn, message] of cases) {
    it(`${name}: InvalidArgumentError with an exact message`, () => {
      expect(fn).toThrow(InvalidArgumentError)
      expect(fn).toThrow(message)
    })
  }
})
