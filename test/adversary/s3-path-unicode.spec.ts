/**
 * Attacker's review, round 3: a path that is not well-formed Unicode (a lone UTF-16 surrogate,
 * `\ud800`, which JSON carries as an escape) is judged by the policy as one string but reaches the
 * filesystem as another: Node encodes each lone surrogate as U+FFFD (EF BF BD). So `a\ud800`,
 * `a\udfff` and `a\ufffd` all open the same file while the policy sees three different names, and
 * a deny written for the real name (or a log entry for the requested one) misses. Every such path
 * is refused before the policy and the disk (`share-path-invalid`), for every operation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ShareClient } from '@peerguard/share'
import { parseSharePath } from '@peerguard/share'
import type { TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, outcome, type Served, serve, snapshot } from './share-harness.js'

// a file whose name holds U+FFFD (a name copied from a mis-encoded archive) is kept from staff
const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: no-payroll
    deny: [read, write]
    peers: [staff]
    resources: ["share:office/payroll-\uFFFD.csv", "share:office/hr-\uFFFD/**"]
`
const SECRET = 'alice,100\n'

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served
let alice: ShareClient

beforeAll(async () => {
  pki = await makePki([{ name: 'alice', groups: ['staff'] }])
  world = await makeWorld('s3-unicode')
  await writeFile(join(world.root, 'payroll-\uFFFD.csv'), SECRET)
  await mkdir(join(world.root, 'hr-\uFFFD'))
  await writeFile(join(world.root, 'hr-\uFFFD', 'x.txt'), SECRET)
  served = await serve(pki, world.root, POLICY)
  alice = await served.connect('alice')
}, 60_000)

afterAll(async () => {
  await served?.stop()
  expect(await leftovers(world.dir)).toEqual([])
  await world?.remove()
})

async function readAll(client: ShareClient, path: string): Promise<string> {
  const chunks: Buffer[] = []
  await client.read(path, (c) => {
    chunks.push(c)
  })
  return Buffer.concat(chunks).toString()
}

describe('s3: a path that is not well-formed Unicode never reaches the policy or the disk', () => {
  it('the denied name itself is refused by the policy (control)', async () => {
    expect(await outcome(readAll(alice, 'payroll-\uFFFD.csv'))).toBe('share-denied')
  })

  it('a lone surrogate cannot alias a denied file or folder, for any operation', async () => {
    const before = await snapshot(world.dir)
    for (const s of ['\ud800', '\udfff', '\udbff']) {
      const file = `payroll-${s}.csv`
      expect(await outcome(readAll(alice, file))).toBe('share-path-invalid')
      expect(await outcome(alice.stat(file))).toBe('share-path-invalid')
      expect(await outcome(alice.list(`hr-${s}`))).toBe('share-path-invalid')
      expect(await outcome(readAll(alice, `hr-${s}/x.txt`))).toBe('share-path-invalid')
      expect(await outcome(alice.writeFile(file, 'forged'))).toBe('share-path-invalid')
      expect(await outcome(alice.writeFile(`hr-${s}/new.txt`, 'planted'))).toBe('share-path-invalid')
      expect(await outcome(alice.delete(file))).toBe('share-path-invalid')
      expect(await outcome(alice.rename(file, 'mine.csv'))).toBe('share-path-invalid')
      expect(await outcome(alice.rename(`hr-${s}`, 'hr-open'))).toBe('share-path-invalid')
      expect(await outcome(alice.mkdir(`hr-${s}/sub`))).toBe('share-path-invalid')
    }
    expect(await snapshot(world.dir)).toEqual(before)
    // every refusal is on the record as a denial
    const last = served.decisions.slice(-10)
    expect(last.every((d) => d.allowed === false && d.code === 'share-path-invalid')).toBe(true)
  }, 60_000)

  it('parseSharePath accepts exactly the well-formed strings among the otherwise valid ones', () => {
    const unit = fc.oneof(
      fc.constantFrom('a', 'b', '/', '\ufffd', '\u00e9', '\ud83d\ude00'),
      fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))
    )
    fc.assert(
      fc.property(fc.array(unit, { minLength: 1, maxLength: 12 }), (units) => {
        const path = `d/${units.join('')}`
        const wellFormed = Buffer.from(path, 'utf8').toString('utf8') === path
        let code = 'ok'
        try {
          parseSharePath(path)
        } catch (err) {
          code = (err as { code: string }).code
        }
        expect(code).toBe(wellFormed ? 'ok' : 'share-path-invalid')
      }),
      { numRuns: 500 }
    )
  })
})
