/**
 * Invariant S3 (packages/share/SPEC.md §9): decisions are made on the path the filesystem uses.
 * The server never follows a symbolic link, so the path a peer types is the path of the inode
 * the server touches; a path through a link, or a read of a link, is refused
 * (`share-symlink-refused`, or `share-symlink-escape` when the link points outside the root).
 *
 * Issue 10 item 3: with `current -> hr/salaries` inside the root, `current/2026.txt` used to read
 * what `hr/salaries/2026.txt` refuses.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, outcome, type Served, serve, snapshot } from './share-harness.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: no-salaries
    deny: [read, write]
    peers: [staff]
    resources: ["share:office/hr/salaries/**"]
`
const SALARIES = 'alice,100\nbob,90\n'

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served

beforeAll(async () => {
  pki = await makePki([{ name: 'alice', groups: ['staff'] }])
})

beforeEach(async () => {
  world = await makeWorld('links')
  const { root } = world
  await mkdir(join(root, 'hr', 'salaries'), { recursive: true })
  await writeFile(join(root, 'hr', 'salaries', '2026.txt'), SALARIES)
  await mkdir(join(root, 'pub'))
  // links put there by someone with shell access (peers cannot create links)
  await symlink('hr/salaries', join(root, 'current')) // relative, in the root
  await symlink(join(root, 'hr', 'salaries', '2026.txt'), join(root, 'pub', 'latest.txt')) // absolute, in the root
  await symlink('../hr', join(root, 'pub', 'hr')) // relative with .., still in the root
  served = await serve(pki, root, POLICY)
})

afterEach(async () => {
  await served.stop()
  expect(await leftovers(world.dir)).toEqual([])
  await world.remove()
})

describe('S3: decisions on the path the filesystem uses — links are never followed', () => {
  it('an in-root link cannot alias a denied folder or file, for any verb', async () => {
    const alice = await served.connect('alice')
    const before = await snapshot(world.root)
    await expect(alice.readFile('hr/salaries/2026.txt')).rejects.toMatchObject({ code: 'share-denied' })
    const attempts: Array<[string, Promise<unknown>]> = [
      ['read through dir link', alice.readFile('current/2026.txt')],
      ['read through ../ link', alice.readFile('pub/hr/salaries/2026.txt')],
      ['read file link', alice.readFile('pub/latest.txt')],
      ['list through link', alice.list('current')],
      ['stat through link', alice.stat('current/2026.txt')],
      ['overwrite through link', alice.writeFile('current/2026.txt', 'alice,1000000\n')],
      ['append through link', alice.writeFile('current/2026.txt', 'mallory,1\n', { mode: 'append' })],
      ['create through link', alice.writeFile('current/2027.txt', 'x', { mode: 'create' })],
      ['overwrite file link', alice.writeFile('pub/latest.txt', 'x')],
      ['delete through link', alice.delete('current/2026.txt')],
      ['rename out through link', alice.rename('current/2026.txt', 'pub/got.txt')],
      ['rename in through link', alice.rename('pub', 'current/pub')],
      ['mkdir through link', alice.mkdir('current/new')],
      ['mkdir -p through link', alice.mkdir('current/new/deeper', { parents: true })]
    ]
    for (const [what, p] of attempts) expect([what, await outcome(p)]).toEqual([what, 'share-symlink-refused'])
    expect(await snapshot(world.root)).toEqual(before)
    expect(await readFile(join(world.root, 'hr', 'salaries', '2026.txt'), 'utf8')).toBe(SALARIES)
  })

  it('links are visible as links, and deleting or renaming one acts on the link itself', async () => {
    const alice = await served.connect('alice')
    const { entries } = await alice.list('')
    expect(entries.find((e) => e.name === 'current')).toMatchObject({ type: 'symlink' })
    expect(await alice.stat('pub/latest.txt')).toMatchObject({ type: 'symlink' })
    expect(await alice.stat('')).toMatchObject({ type: 'dir' }) // the root itself, not the /proc/self/fd link to it
    await alice.rename('pub/latest.txt', 'pub/old-link')
    await alice.delete('pub/old-link')
    await alice.delete('current')
    expect(await readFile(join(world.root, 'hr', 'salaries', '2026.txt'), 'utf8')).toBe(SALARIES)
    expect((await alice.list('pub')).entries.map((e) => e.name)).toEqual(['hr'])
  })

  it('the decision is on the typed path, which is the real path: allowed paths without links still work', async () => {
    const alice = await served.connect('alice')
    await alice.writeFile('pub/notice.txt', 'hello')
    expect((await alice.readFile('pub/notice.txt')).toString()).toBe('hello')
    // a hard link made on disk is the same inode under another path; the decision is on the path
    // the peer reads, which the policy allows (SPEC §9 S3 notes why hard links are out of scope)
    await link(join(world.root, 'pub', 'notice.txt'), join(world.root, 'pub', 'notice-2.txt'))
    expect((await alice.readFile('pub/notice-2.txt')).toString()).toBe('hello')
  })
})
