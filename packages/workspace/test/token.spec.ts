import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { EnrollError, type EnrollToken, encodeToken, parseToken, TOKEN_PREFIX } from '../src/index.js'

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const hostPort = fc
  .tuple(fc.stringMatching(/^[a-z0-9.-]{1,40}$/), fc.integer({ min: 1, max: 65535 }))
  .map(([h, p]) => `${h}:${p}`)
const token = fc.record(
  { rootFingerprint: bytes(32), tokenId: bytes(16), secret: bytes(32), address: hostPort },
  { requiredKeys: ['rootFingerprint', 'tokenId', 'secret'] }
)

function malformedCode(f: () => unknown): string {
  try {
    f()
  } catch (err) {
    if (!(err instanceof EnrollError)) throw err
    return err.code
  }
  throw new Error('expected a refusal')
}

const sample: EnrollToken = {
  rootFingerprint: new Uint8Array(randomBytes(32)),
  tokenId: new Uint8Array(randomBytes(16)),
  secret: new Uint8Array(randomBytes(32)),
  address: '127.0.0.1:47180'
}

describe('enrollment token codec', () => {
  it('round-trips every token, with or without an address (property)', () => {
    fc.assert(
      fc.property(token, (t) => {
        const line = encodeToken(t)
        expect(line.startsWith(TOKEN_PREFIX)).toBe(true)
        expect(line).toMatch(/^pgjoin1-[a-z2-7]+$/)
        expect(parseToken(line)).toEqual(t)
        // copy-paste tolerance: case and surrounding whitespace
        expect(parseToken(`  ${line.toUpperCase().replace('PGJOIN1-', TOKEN_PREFIX)}\n`)).toEqual(t)
      })
    )
  })

  it('refuses any changed or lost character by checksum or layout (property)', () => {
    const line = encodeToken(sample)
    const body = line.slice(TOKEN_PREFIX.length)
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567'), (i, ch) => {
        fc.pre(body[i] !== ch)
        const changed = TOKEN_PREFIX + body.slice(0, i) + ch + body.slice(i + 1)
        expect(malformedCode(() => parseToken(changed))).toBe('enroll-token-malformed')
        const lost = TOKEN_PREFIX + body.slice(0, i) + body.slice(i + 1)
        expect(malformedCode(() => parseToken(lost))).toBe('enroll-token-malformed')
      })
    )
  })

  it('throws only enroll-token-malformed on hostile input, never echoing it (property)', () => {
    const hostile = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ maxLength: 300 }).map((s) => TOKEN_PREFIX + s),
      fc.stringMatching(/^[a-z2-7]{0,300}$/).map((s) => TOKEN_PREFIX + s),
      fc.anything()
    )
    fc.assert(
      fc.property(hostile, (input) => {
        try {
          parseToken(input)
        } catch (err) {
          expect(err).toBeInstanceOf(EnrollError)
          expect((err as EnrollError).code).toBe('enroll-token-malformed')
          if (typeof input === 'string' && input.length > 12) expect((err as Error).message).not.toContain(input)
          return
        }
        // only a string that really is a token parses
        expect(typeof input === 'string' && input.trim().toLowerCase().startsWith(TOKEN_PREFIX)).toBe(true)
      })
    )
  })

  it('names what is wrong: prefix, alphabet, length', () => {
    expect(() => parseToken('pgjoin2-aaaa')).toThrow('expected the prefix pgjoin1-')
    expect(() => parseToken(`${TOKEN_PREFIX}abc1`)).toThrow('outside the base32 alphabet')
    expect(() => parseToken(TOKEN_PREFIX + 'a'.repeat(1000))).toThrow('longer than')
    expect(() => parseToken(TOKEN_PREFIX)).toThrow('truncated')
  })

  it('checks what it encodes (exact messages)', () => {
    expect(() => encodeToken({ ...sample, secret: new Uint8Array(16) })).toThrow('token.secret: expected Uint8Array of length 32')
    expect(() => encodeToken({ ...sample, address: 'x'.repeat(256) })).toThrow(
      'token.address: expected host:port of 1..255 UTF-8 bytes'
    )
    expect(() => encodeToken({ ...sample, address: 7 as unknown as string })).toThrow('token.address')
  })
})
