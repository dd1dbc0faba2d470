/**
 * The challenge's caProof (SPEC.md §6.3): the CA node proves it holds the token's record (the
 * filed SHA-256 of the secret) on this channel. Properties: a challenge with a caProof round-trips,
 * a cut caProof or one followed by more bytes is `enroll-malformed`, and the proof changes with
 * each of its inputs (another channel, token or secret gives another proof).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { EnrollError } from '../src/index.js'
import { caProof, decodeChallenge, encodeChallenge } from '../src/enroll-wire.js'

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const challenge = fc.record({
  root: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  serverChain: fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 3 }),
  crl: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
  name: fc.string({ minLength: 1, maxLength: 20 }),
  groups: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 4 }),
  caProof: bytes(32)
})

describe('challenge caProof', () => {
  it('round-trips; a cut or padded caProof is enroll-malformed (property)', () => {
    fc.assert(
      fc.property(challenge, fc.integer({ min: 1, max: 31 }), bytes(1), (c, cut, extra) => {
        const encoded = encodeChallenge(c)
        expect(decodeChallenge(encoded)).toEqual(c)
        for (const bad of [encoded.subarray(0, encoded.length - cut), new Uint8Array([...encoded, ...extra])]) {
          expect(() => decodeChallenge(bad)).toThrow(EnrollError)
          try {
            decodeChallenge(bad)
          } catch (err) {
            expect((err as EnrollError).code).toBe('enroll-malformed')
          }
        }
      })
    )
  })

  it('an encoder refuses a caProof of another length', () => {
    expect(() =>
      encodeChallenge({
        root: new Uint8Array(1),
        serverChain: [new Uint8Array(1)],
        crl: undefined,
        name: 'n',
        groups: [],
        caProof: new Uint8Array(31)
      })
    ).toThrow('caProof must be 32 bytes')
  })

  it('depends on the secret, the handshake hash and the token ID (property)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), bytes(16), bytes(32), bytes(32), bytes(16), (s1, h1, t1, s2, h2, t2) => {
        const hash = (s: Uint8Array) => createHash('sha256').update(s).digest()
        const p = Buffer.from(caProof(hash(s1), h1, t1))
        expect(p).toHaveLength(32)
        expect(Buffer.from(caProof(hash(s1), h1, t1)).equals(p)).toBe(true)
        if (!Buffer.from(s2).equals(Buffer.from(s1))) expect(Buffer.from(caProof(hash(s2), h1, t1)).equals(p)).toBe(false)
        if (!Buffer.from(h2).equals(Buffer.from(h1))) expect(Buffer.from(caProof(hash(s1), h2, t1)).equals(p)).toBe(false)
        if (!Buffer.from(t2).equals(Buffer.from(t1))) expect(Buffer.from(caProof(hash(s1), h1, t2)).equals(p)).toBe(false)
      })
    )
  })
})
