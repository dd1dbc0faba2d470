import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { EnrollError } from '../src/index.js'
import {
  decodeChallenge,
  decodeHello,
  decodeRequest,
  decodeResult,
  encodeChallenge,
  encodeHello,
  encodeRefusal,
  encodeRequest,
  encodeResult
} from '../src/enroll-wire.js'

const cert = fc.uint8Array({ minLength: 1, maxLength: 200 })
const label = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => Buffer.byteLength(s) <= 255)
const challenge = fc.record({
  root: cert,
  serverChain: fc.array(cert, { minLength: 1, maxLength: 3 }),
  crl: fc.option(fc.uint8Array({ minLength: 1, maxLength: 100 }), { nil: undefined }),
  name: label,
  groups: fc.array(label, { maxLength: 4 })
})
const request = fc.record({
  secret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  csr: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  proof: fc.uint8Array({ minLength: 32, maxLength: 32 })
})
const result = fc.record({
  chain: fc.array(cert, { minLength: 1, maxLength: 3 }),
  bundle: fc.option(fc.uint8Array({ minLength: 1, maxLength: 100 }), { nil: undefined }),
  policy: fc.option(fc.string({ minLength: 1, maxLength: 100 }), { nil: undefined })
})

const decoders = [decodeHello, decodeChallenge, decodeRequest, decodeResult] as const

/** Call `f`; a refusal must be an EnrollError with an enroll-* code, never a RangeError or TypeError. */
function onlyOurErrors(f: () => unknown): void {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(EnrollError)
    expect((err as EnrollError).code).toMatch(/^enroll-/)
  }
}

describe('enrollment messages', () => {
  it('round-trip (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), challenge, request, result, (id, c, q, x) => {
        expect(decodeHello(encodeHello(id))).toEqual(id)
        expect(decodeChallenge(encodeChallenge(c))).toEqual(c)
        expect(decodeRequest(encodeRequest(q))).toEqual(q)
        expect(decodeResult(encodeResult(x))).toEqual(x)
      })
    )
  })

  it('throw only enroll-* errors on garbage, truncation and trailing bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const decode of decoders) onlyOurErrors(() => decode(bytes))
      })
    )
    fc.assert(
      fc.property(challenge, result, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (c, x, cut, extra) => {
        for (const [encoded, decode] of [
          [encodeChallenge(c), decodeChallenge],
          [encodeResult(x), decodeResult]
        ] as const) {
          const truncated = encoded.subarray(0, cut % encoded.length)
          expect(() => decode(truncated)).toThrow(EnrollError)
          expect(() => decode(new Uint8Array([...encoded, ...extra]))).toThrow(EnrollError)
        }
      })
    )
  })

  it('carry a refusal code from the CA as that code, and refuse codes outside the table', () => {
    for (const code of ['enroll-token-used', 'enroll-widening'] as const) {
      let thrown: unknown
      try {
        decodeResult(encodeRefusal(code))
      } catch (err) {
        thrown = err
      }
      expect((thrown as EnrollError).code).toBe(code)
    }
    const forged = new Uint8Array([1, 8, ...Buffer.from('internal')])
    expect(() => decodeChallenge(forged)).toThrow('a refusal with an unknown code')
  })
})
