/**
 * A damaged token record never takes the CA node down (attacker's review, round 3: garbage in
 * every file the services read). `ca serve-enrollment` and `peerguard node` list the token
 * directory at start and look up the record a joiner names; a record whose fields are JSON of the
 * wrong type or size must be refused as `enroll-failed` ("damaged"), never crash the listing (it
 * sorted on `createdAt.localeCompare`: a number there was a TypeError that stopped the start) nor
 * hand an unchecked name or group to the certificate. Property: whatever replaces one field, or
 * the whole record, lookup/secretMatches/list either give a well-typed record or throw an
 * EnrollError, and list skips only the damaged one.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { EnrollError, TOKEN_DIR, type TokenRecord, TokenStore } from '../src/index.js'

let caDir: string
let store: TokenStore
let good: TokenRecord
let goodText: string
const fingerprint = new Uint8Array(32).fill(7)

beforeAll(async () => {
  caDir = await mkdtemp(join(tmpdir(), 'pg-token-garbage-'))
  store = new TokenStore(caDir)
  good = (await store.create({ name: 'carol', groups: ['staff'], ttlMs: 600_000, rootFingerprint: fingerprint })).record
  goodText = await readFile(join(caDir, TOKEN_DIR, `${good.tokenId}.json`), 'utf8')
})

afterAll(async () => {
  await rm(caDir, { recursive: true, force: true, maxRetries: 5 })
})

/** A well-typed record, as the store promises it. */
function expectWellTyped(r: TokenRecord): void {
  expect(typeof r.tokenId).toBe('string')
  expect(typeof r.name).toBe('string')
  expect(r.name.length).toBeGreaterThan(0)
  expect(Buffer.byteLength(r.name)).toBeLessThanOrEqual(64 * 4)
  expect(Array.isArray(r.groups)).toBe(true)
  for (const g of r.groups) expect(typeof g).toBe('string')
  expect(Number.isFinite(Date.parse(r.createdAt))).toBe(true)
  expect(Number.isFinite(Date.parse(r.expiresAt))).toBe(true)
}

const FIELDS = ['v', 'tokenId', 'name', 'groups', 'createdAt', 'expiresAt', 'secretSha256'] as const

describe('TokenStore: a damaged record is refused, never a crash', () => {
  it('examples: createdAt a number, a group an object, an empty name', async () => {
    const base = JSON.parse(goodText) as Record<string, unknown>
    for (const [field, value] of [
      ['createdAt', 5],
      ['groups', [{}]],
      ['groups', ['x'.repeat(65)]],
      ['name', ''],
      ['name', 'n'.repeat(65)]
    ] as const) {
      const id = new Uint8Array(randomBytes(16))
      const hex = Buffer.from(id).toString('hex')
      const path = join(caDir, TOKEN_DIR, `${hex}.json`)
      await writeFile(path, JSON.stringify({ ...base, tokenId: hex, [field]: value }))
      try {
        await expect(store.lookup(id)).rejects.toMatchObject({ name: 'EnrollError', code: 'enroll-failed' })
        const listed = await store.list() // the damaged one is skipped, the good one stays
        expect(listed.map((r) => r.tokenId)).toContain(good.tokenId)
        expect(listed.map((r) => r.tokenId)).not.toContain(hex)
      } finally {
        await rm(path)
      }
    }
  })

  it('property: any value in any field, or any JSON at all, gives a well-typed record or an EnrollError', async () => {
    const base = JSON.parse(goodText) as Record<string, unknown>
    const record = fc.oneof(
      fc.record({ field: fc.constantFrom(...FIELDS), value: fc.jsonValue() }).map(({ field, value }) => ({
        ...base,
        [field]: value
      })),
      fc.jsonValue()
    )
    await fc.assert(
      fc.asyncProperty(record, async (value) => {
        const id = new Uint8Array(randomBytes(16))
        const hex = Buffer.from(id).toString('hex')
        // the tokenId must name its file: keep it so unless the field under test is tokenId
        const body =
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          (value as { tokenId?: unknown }).tokenId === good.tokenId
            ? { ...value, tokenId: hex }
            : value
        const path = join(caDir, TOKEN_DIR, `${hex}.json`)
        await writeFile(path, JSON.stringify(body) ?? 'null')
        try {
          for (const op of [() => store.lookup(id), () => store.secretMatches(id, new Uint8Array(32))]) {
            try {
              const r = await op()
              if (typeof r === 'object') expectWellTyped(r)
            } catch (err) {
              expect(err).toBeInstanceOf(EnrollError)
            }
          }
          const listed = await store.list()
          for (const r of listed) expectWellTyped(r)
          expect(listed.map((r) => r.tokenId)).toContain(good.tokenId)
        } finally {
          await rm(path)
        }
      }),
      { numRuns: 300 }
    )
  })
})
