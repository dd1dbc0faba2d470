import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  assertBytes,
  assertInteger,
  assertString,
  CODES,
  concatBytes,
  equalBytes,
  EXIT_CODES,
  InvalidArgumentError,
  isPeerguardCode,
  PeerguardError,
  writeFileAtomic
} from '@peerguard/interface'

describe('code table', () => {
  it('uses lowercase kebab-case codes with a summary and a documented exit code', () => {
    const exits = new Set<number>(Object.values(EXIT_CODES))
    for (const [code, info] of Object.entries(CODES)) {
      expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
      expect(info.summary.length).toBeGreaterThan(0)
      expect(exits.has(info.exit)).toBe(true)
    }
  })

  it('recognises only its own codes', () => {
    expect(isPeerguardCode('invalid-argument')).toBe(true)
    expect(isPeerguardCode('toString')).toBe(false)
    expect(isPeerguardCode(42)).toBe(false)
  })
})

describe('PeerguardError', () => {
  it('carries code, name, exit code and JSON form', () => {
    const err = new InvalidArgumentError('key: expected Uint8Array of length 32, got string')
    expect(err).toBeInstanceOf(PeerguardError)
    expect(err.name).toBe('InvalidArgumentError')
    expect(err.code).toBe('invalid-argument')
    expect(err.exitCode).toBe(EXIT_CODES.USAGE)
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: 'InvalidArgumentError',
      code: 'invalid-argument',
      message: 'key: expected Uint8Array of length 32, got string'
    })
  })
})

describe('argument checks', () => {
  it('says what was expected and what was given', () => {
    expect(() => assertBytes('secretKey', new Uint8Array(32), 64)).toThrow(
      'secretKey: expected Uint8Array of length 64, got Uint8Array of length 32'
    )
    expect(() => assertBytes('data', 'abc')).toThrow('data: expected Uint8Array, got string')
    expect(() => assertBytes('data', null, 4)).toThrow('data: expected Uint8Array of length 4, got null')
    expect(() => assertString('name', 5)).toThrow('name: expected string, got number')
    expect(() => assertString('name', '', { nonEmpty: true })).toThrow('name: expected a non-empty string')
    expect(() => assertInteger('days', 1.5)).toThrow('days: expected integer, got 1.5')
    expect(() => assertInteger('days', 0, 1, 10)).toThrow('days: expected integer in 1..10, got 0')
    expect(() => assertBytes('ok', Buffer.alloc(3), 3)).not.toThrow()
  })

  it('equalBytes agrees with a byte-by-byte comparison', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const expected = a.length === b.length && a.every((v, i) => v === b[i])
        expect(equalBytes(a, b)).toBe(expected)
        expect(equalBytes(a, Uint8Array.from(a))).toBe(true)
      })
    )
  })

  it('concatBytes round-trips with slicing', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 8 }), (parts) => {
        const joined = concatBytes(...parts)
        let offset = 0
        for (const p of parts) {
          expect(Buffer.from(joined.subarray(offset, offset + p.length))).toEqual(Buffer.from(p))
          offset += p.length
        }
        expect(joined.length).toBe(offset)
      })
    )
  })
})

describe('writeFileAtomic', () => {
  it('writes with mode 0600, replaces old content and leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-atomic-'))
    const file = join(dir, 'k.key')
    await writeFile(file, 'old')
    await writeFileAtomic(file, 'new content')
    expect(await readFile(file, 'utf8')).toBe('new content')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['k.key'])
  })

  it('refuses to overwrite in exclusive mode and keeps the old file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-atomic-'))
    const file = join(dir, 'k.key')
    await writeFile(file, 'old')
    await expect(writeFileAtomic(file, 'new', { exclusive: true })).rejects.toMatchObject({ code: 'already-exists' })
    expect(await readFile(file, 'utf8')).toBe('old')
    expect(await readdir(dir)).toEqual(['k.key'])
  })

  it('reports a missing directory with a code', async () => {
    await expect(writeFileAtomic('/nonexistent-dir-pg/x', 'a')).rejects.toMatchObject({ code: 'not-found' })
  })
})
