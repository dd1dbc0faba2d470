import { createHash } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair as libp2pGenerateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey as libp2pPeerIdFromPublicKey, peerIdFromString as libp2pPeerIdFromString } from '@libp2p/peer-id'
import {
  InvalidPeerIdError,
  keyPairFromSeed,
  PEER_ID_CHARS,
  PeerIdCheckError,
  type PeerId,
  peerIdFromLibp2p,
  peerIdFromLibp2pBytes,
  peerIdFromPublicKey,
  peerIdFromString
} from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((seed) => keyPairFromSeed(seed).publicKey)

/** Independent oracle: Luhn mod N (N = 32) as described at https://en.wikipedia.org/wiki/Luhn_mod_N_algorithm. */
function luhnModN(text: string): string {
  const n = ALPHABET.length
  let factor = 2
  let sum = 0
  for (let i = text.length - 1; i >= 0; i--) {
    let addend = factor * ALPHABET.indexOf(text[i]!)
    factor = factor === 2 ? 1 : 2
    addend = Math.floor(addend / n) + (addend % n)
    sum += addend
  }
  return ALPHABET[(n - (sum % n)) % n]!
}

function dashless(id: string): string {
  return id.replace(/-/g, '')
}

describe('peer ID text form', () => {
  it('is 8 dash groups of 7 over base32 of the key, a Luhn mod 32 check after each 13 characters', () => {
    fc.assert(
      fc.property(arbKey, (pk) => {
        const text = peerIdFromPublicKey(pk).toString()
        expect(text).toMatch(/^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/)
        const clean = dashless(text)
        expect(clean).toHaveLength(PEER_ID_CHARS)
        let b32 = ''
        for (let i = 0; i < 4; i++) {
          const chunk = clean.slice(i * 14, i * 14 + 13)
          expect(clean[i * 14 + 13]).toBe(luhnModN(chunk))
          b32 += chunk
        }
        expect(b32).toBe(base32(pk))
      }),
      { numRuns: 100 }
    )
  })

  it('round-trips through toString, lower case, look-alikes 0/1/8, spaces and missing dashes', () => {
    fc.assert(
      fc.property(arbKey, (pk) => {
        const id = peerIdFromPublicKey(pk)
        const text = id.toString()
        for (const variant of [
          text,
          text.toLowerCase(),
          dashless(text),
          text.replace(/-/g, ' '),
          ` ${text}\n`,
          text.replace(/O/g, '0').replace(/I/g, '1').replace(/B/g, '8'),
          text.toLowerCase().replace(/o/g, '0').replace(/i/g, '1').replace(/b/g, '8')
        ]) {
          const back = peerIdFromString(variant)
          expect(back.equals(id)).toBe(true)
          expect(back.publicKey).toEqual(pk)
          expect(back.toString()).toBe(text)
        }
      }),
      { numRuns: 100 }
    )
  })

  it('detects EVERY single-character substitution with a check error naming its group', () => {
    for (let k = 0; k < 6; k++) {
      const pk = keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + k * 101) & 0xff)).publicKey
      const clean = dashless(peerIdFromPublicKey(pk).toString())
      for (let pos = 0; pos < clean.length; pos++) {
        for (const c of ALPHABET) {
          if (c === clean[pos]) continue
          const typo = clean.slice(0, pos) + c + clean.slice(pos + 1)
          let error: unknown
          try {
            peerIdFromString(typo)
          } catch (err) {
            error = err
          }
          expect(error).toBeInstanceOf(PeerIdCheckError)
          expect((error as PeerIdCheckError).checkGroup).toBe(Math.floor(pos / 14) + 1)
          expect((error as PeerIdCheckError).code).toBe('peer-id-check-failed')
        }
      }
    }
  })

  it('gives exact error messages', () => {
    const text = peerIdFromPublicKey(keyPairFromSeed(new Uint8Array(32)).publicKey).toString()
    const clean = dashless(text)
    const typo = clean.slice(0, 20) + (clean[20] === 'A' ? 'B' : 'A') + clean.slice(21)
    expect(() => peerIdFromString(typo)).toThrow(
      new PeerIdCheckError(2, 'peer ID: check character wrong in groups 3-4 (check group 2 of 4): a typo there?')
    )
    expect(() => peerIdFromString(clean.slice(1))).toThrow('peer ID: expected 56 characters (8 groups of 7), got 55')
    expect(() => peerIdFromString(`9${clean.slice(1)}`)).toThrow(
      "peer ID: character '9' at position 1 is not in the base32 alphabet"
    )
    expect(() => peerIdFromString('x'.repeat(257))).toThrow('peerId: expected at most 256 characters, got 257')
    expect(() => peerIdFromString('')).toThrow(InvalidPeerIdError)
    // Non-ASCII is refused before upper-casing ('ı'.toUpperCase() === 'I').
    expect(() => peerIdFromString(`${text.slice(0, 9)}\u0131${text.slice(10)}`)).toThrow(
      "peer ID: character 'ı' at position 10 is not in the base32 alphabet"
    )
    expect(() => peerIdFromString(`é${text}`)).toThrow("peer ID: character 'é' at position 1 is not in the base32 alphabet")
  })

  it('refuses a non-canonical encoding even with a correct check character', () => {
    const clean = dashless(peerIdFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(7)).publicKey).toString())
    // The 52nd base32 character carries 1 key bit and 4 zero padding bits (32 bytes = 256 bits).
    const chunk4 = clean.slice(42, 55)
    const last = ALPHABET.indexOf(chunk4[12]!)
    const forged = chunk4.slice(0, 12) + ALPHABET[last | 0b0001]!
    expect(forged).not.toBe(chunk4)
    const text = clean.slice(0, 42) + forged + luhnModN(forged)
    expect(() => peerIdFromString(text)).toThrow(InvalidPeerIdError)
    expect(() => peerIdFromString(text)).toThrow('peer ID: not valid base32')
  })

  it('never throws anything but our errors on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z2-7018 -]{50,70}$/)), (text) => {
        try {
          peerIdFromString(text)
        } catch (err) {
          expect(
            err instanceof InvalidPeerIdError || err instanceof PeerIdCheckError || err instanceof InvalidArgumentError
          ).toBe(true)
        }
      }),
      { numRuns: 500 }
    )
  })

  it('has a short form (first group) and an OpenSSH-notation SHA-256 fingerprint of the raw key', () => {
    const pk = keyPairFromSeed(new Uint8Array(32).fill(1)).publicKey
    const id = peerIdFromPublicKey(pk)
    expect(id.toShortString()).toBe(id.toString().slice(0, 7))
    const digest = createHash('sha256').update(pk).digest('base64').replace(/=+$/, '')
    expect(id.fingerprint()).toBe(`SHA256:${digest}`)
    expect(id.fingerprint()).toHaveLength(7 + 43)
    expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: id.toString() }))
  })

  it('equals compares keys, and copies the key it was given', () => {
    const pk = keyPairFromSeed(new Uint8Array(32).fill(2)).publicKey
    const copy = pk.slice()
    const id = peerIdFromPublicKey(copy)
    copy.fill(0)
    expect(id.publicKey).toEqual(pk)
    expect(id.equals(peerIdFromPublicKey(pk))).toBe(true)
    expect(id.equals(peerIdFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(3)).publicKey))).toBe(false)
    expect(id.equals('not a peer id' as unknown as PeerId)).toBe(false)
  })
})

function base32(bytes: Uint8Array): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

describe('libp2p PeerId, checked against @libp2p/peer-id and @libp2p/crypto', () => {
  it('our toLibp2p equals what libp2p derives, and each side parses the other', () => {
    fc.assert(
      fc.property(arbKey, (pk) => {
        const ours = peerIdFromPublicKey(pk)
        const theirs = libp2pPeerIdFromPublicKey(publicKeyFromRaw(pk))
        expect(ours.toLibp2p()).toBe(theirs.toString())
        expect(ours.toLibp2p().startsWith('12D3KooW')).toBe(true)
        expect(ours.toLibp2pBytes()).toEqual(theirs.toMultihash().bytes)
        expect(peerIdFromLibp2p(theirs.toString()).equals(ours)).toBe(true)
        expect(peerIdFromLibp2pBytes(theirs.toMultihash().bytes).equals(ours)).toBe(true)
        const parsed = libp2pPeerIdFromString(ours.toLibp2p())
        expect(parsed.type).toBe('Ed25519')
        expect(parsed.publicKey?.raw).toEqual(pk)
      }),
      { numRuns: 100 }
    )
  })

  it('refuses libp2p peer IDs of other key types with an exact message', async () => {
    const secp = await libp2pGenerateKeyPair('secp256k1')
    const text = libp2pPeerIdFromPublicKey(secp.publicKey).toString()
    expect(() => peerIdFromLibp2p(text)).toThrow(InvalidPeerIdError)
    expect(() => peerIdFromLibp2p(text)).toThrow(
      'libp2p peer ID: expected the 38-byte identity multihash of an Ed25519 key, got 39 bytes (only Ed25519 peer IDs are supported)'
    )
    expect(() => peerIdFromLibp2p('12D3KooW0OIl')).toThrow('libp2p peer ID: not valid base58btc')
    const bytes = peerIdFromPublicKey(keyPairFromSeed(new Uint8Array(32)).publicKey).toLibp2pBytes()
    bytes[3] = 2 // protobuf KeyType = Secp256k1
    expect(() => peerIdFromLibp2pBytes(bytes)).toThrow('libp2p peer ID: not an identity multihash of an Ed25519 public key')
  })

  it('never throws anything but our errors on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (bytes) => {
        try {
          peerIdFromLibp2pBytes(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidPeerIdError)
        }
      }),
      { numRuns: 300 }
    )
  })
})

describe('argument checks', () => {
  const cases: Array<[string, () => unknown, string]> = [
    [
      'peerIdFromPublicKey size',
      () => peerIdFromPublicKey(new Uint8Array(31)),
      'publicKey: expected Uint8Array of length 32, got Uint8Array of length 31'
    ],
    [
      'peerIdFromPublicKey type',
      () => peerIdFromPublicKey('key' as never),
      'publicKey: expected Uint8Array of length 32, got string'
    ],
    ['peerIdFromString type', () => peerIdFromString(42 as never), 'peerId: expected string, got number'],
    ['peerIdFromLibp2p type', () => peerIdFromLibp2p(null as never), 'peerId: expected string, got null'],
    ['peerIdFromLibp2p long', () => peerIdFromLibp2p('1'.repeat(129)), 'peerId: expected at most 128 characters, got 129'],
    ['peerIdFromLibp2pBytes type', () => peerIdFromLibp2pBytes([0, 36] as never), 'peerId: expected Uint8Array, got array']
  ]
  for (const [name, fn, message] of cases) {
    it(`${name}: InvalidArgumentError with an exact message`, () => {
      expect(fn).toThrow(InvalidArgumentError)
      expect(fn).toThrow(message)
    })
  }
})
