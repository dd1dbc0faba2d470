/**
 * Attacker's review, round 3: a size limit in the policy (`when: {min-size|max-size}` — "file size
 * bounds", policies/README.md) against `append`. The share passed the policy the bytes appended,
 * not the size of the file the append makes, so a peer grew a file past any limit in small
 * appends. An append is now decided (and logged) with the size it results in, inside the path's
 * writer queue (so two appends cannot both be decided on the old size). Likewise a rename: its
 * destination was decided as a `put` of 0 bytes, so a big file (or a folder of them) moved into a
 * folder its size keeps it out of; a file is now decided with its size there, a folder with an
 * unknown size (a size rule fails closed).
 */
import { existsSync } from 'node:fs'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import type { TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, outcome, type Served, serve } from './share-harness.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: no-big-media
    deny: [put]
    peers: ["*"]
    resources: ["share:office/media/**"]
    when: { min-size: 1KiB }
  - id: small-drops
    allow: [put]
    peers: ["*"]
    resources: ["share:office/drop/**"]
    when: { max-size: 1KiB }
`

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served

beforeAll(async () => {
  pki = await makePki([
    { name: 'alice', groups: ['staff'] },
    { name: 'guest', groups: ['guests'] }
  ])
})

beforeEach(async () => {
  world = await makeWorld('s3-append')
  await mkdir(join(world.root, 'media'))
  await mkdir(join(world.root, 'drop'))
  await writeFile(join(world.root, 'media', 'clip.bin'), Buffer.alloc(800, 1))
  await writeFile(join(world.root, 'drop', 'note.txt'), Buffer.alloc(800, 2))
  await mkdir(join(world.root, 'tmp', 'folder'), { recursive: true })
  await writeFile(join(world.root, 'tmp', 'big.bin'), Buffer.alloc(2000, 5))
  await writeFile(join(world.root, 'tmp', 'small.bin'), Buffer.alloc(500, 6))
  await writeFile(join(world.root, 'tmp', 'folder', 'big.bin'), Buffer.alloc(2000, 7))
  served = await serve(pki, world.root, POLICY)
})

afterEach(async () => {
  await served.stop()
  expect(await leftovers(world.dir)).toEqual([])
  await world.remove()
})

const size = async (p: string): Promise<number> => (await stat(join(world.root, p))).size

describe('s3: a size limit holds against append', () => {
  it('a deny on big files refuses the append that makes the file big, and allows one that does not', async () => {
    const alice = await served.connect('alice')
    expect(await outcome(alice.write('media/clip.bin', Buffer.alloc(800, 3), { mode: 'append' }))).toBe('share-denied')
    expect(await size('media/clip.bin')).toBe(800)
    expect(await outcome(alice.write('media/clip.bin', Buffer.alloc(100, 3), { mode: 'append' }))).toBe('ok')
    expect(await size('media/clip.bin')).toBe(900)
    // the refusal is on the record with the size the append would have made
    expect(served.decisions).toContainEqual(
      expect.objectContaining({ allowed: false, verb: 'put', resource: 'share:office/media/clip.bin', code: 'deny-rule' })
    )
  })

  it('an allow bounded by max-size does not cover an append past the bound', async () => {
    const guest = await served.connect('guest')
    expect(await outcome(guest.write('drop/note.txt', Buffer.alloc(800, 4), { mode: 'append' }))).toBe('share-denied')
    expect(await size('drop/note.txt')).toBe(800)
    expect(await outcome(guest.write('drop/note.txt', Buffer.alloc(224, 4), { mode: 'append' }))).toBe('ok')
    expect(await size('drop/note.txt')).toBe(1024)
  })

  it('concurrent appends are each decided on the size before them (the writer queue)', async () => {
    const alice = await served.connect('alice')
    const results = await Promise.all(
      [1, 2, 3].map((i) => outcome(alice.write('media/clip.bin', Buffer.alloc(150, i), { mode: 'append' })))
    )
    // 800 + 150 = 950 fits; a second 150 would make 1100 > 1 KiB
    expect(results.filter((r) => r === 'ok')).toHaveLength(1)
    expect(results.filter((r) => r === 'share-denied')).toHaveLength(2)
    expect(await size('media/clip.bin')).toBe(950)
  })

  it('a rename cannot move a file or folder into a place its size keeps it out of', async () => {
    const alice = await served.connect('alice')
    expect(await outcome(alice.rename('tmp/big.bin', 'media/big.bin'))).toBe('share-denied')
    expect(await outcome(alice.rename('tmp/folder', 'media/folder'))).toBe('share-denied')
    expect(existsSync(join(world.root, 'media', 'big.bin'))).toBe(false)
    expect(existsSync(join(world.root, 'media', 'folder'))).toBe(false)
    expect(await size('tmp/big.bin')).toBe(2000)
    // a small file moves in; a big one moves anywhere without a size rule
    expect(await outcome(alice.rename('tmp/small.bin', 'media/small.bin'))).toBe('ok')
    expect(await outcome(alice.rename('tmp/big.bin', 'big.bin'))).toBe('ok')
    expect(await outcome(alice.rename('tmp/folder', 'folder'))).toBe('ok')
    expect(served.decisions).toContainEqual(
      expect.objectContaining({ allowed: false, verb: 'put', resource: 'share:office/media/big.bin', code: 'deny-rule' })
    )
  })
})
