/**
 * Invariant S2 (packages/share/SPEC.md §9): an operation that affects a subtree (a directory
 * rename, at its source and its destination; a directory removal; `mkdir -p`'s ancestors) is
 * allowed only if the policy allows it on every path of that subtree; and S4: a rename never lets
 * a peer read at the destination what it could not read at the source.
 *
 * Issue 10 item 2: staff may read and write `office/**` except `office/hr/salaries/**`;
 * `mv hr hr-old` used to be authorised as rename of `hr` + put of `hr-old`, after which the
 * salaries were readable and writable as `hr-old/salaries/…`.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, outcome, type Served, serve, snapshot } from './share-harness.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
  clerks: ["ou:clerks"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: no-salaries
    deny: [read, write]
    peers: [staff]
    resources: ["share:office/hr/salaries/**"]
  - id: keep-archive-contents
    deny: [delete]
    peers: [staff]
    resources: ["share:office/archive/*/*"]
  # clerks file things: they may move and write in the inbox and in public, but read only public
  - id: clerks-move
    allow: [put, rename, delete]
    peers: [clerks]
    resources: ["share:office/inbox/**", "share:office/public/**"]
  - id: clerks-read-public
    allow: [read]
    peers: [clerks]
    resources: ["share:office/public/**"]
  - id: clerks-deep-drop
    allow: [put]
    peers: [clerks]
    resources: ["share:office/drop/a/b/**"]
  - id: clerks-see-drop
    allow: [list]
    peers: [clerks]
    resources: ["share:office/drop/**"]
`

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served

beforeAll(async () => {
  pki = await makePki([
    { name: 'alice', groups: ['staff'] },
    { name: 'carol', groups: ['clerks'] }
  ])
})

beforeEach(async () => {
  world = await makeWorld('subtree')
  const { root } = world
  await mkdir(join(root, 'hr', 'salaries'), { recursive: true })
  await writeFile(join(root, 'hr', 'salaries', '2026.txt'), 'alice,100\n')
  await writeFile(join(root, 'hr', 'handbook.txt'), 'be nice\n')
  await mkdir(join(root, 'projects', 'x'), { recursive: true })
  await writeFile(join(root, 'projects', 'x', 'plan.txt'), 'plan\n')
  await mkdir(join(root, 'inbox', 'case'), { recursive: true })
  await writeFile(join(root, 'inbox', 'secret.txt'), 'complaint\n')
  await writeFile(join(root, 'inbox', 'case', 'file.txt'), 'evidence\n')
  await mkdir(join(root, 'public'))
  await mkdir(join(root, 'drop'))
  served = await serve(pki, root, POLICY)
})

afterEach(async () => {
  await served.stop()
  expect(await leftovers(world.dir)).toEqual([])
  await world.remove()
})

describe('S2: subtree operations are authorised on the whole subtree', () => {
  it('renaming an ancestor of a denied folder is refused (share-denied, naming the deny rule); nothing moves', async () => {
    const alice = await served.connect('alice')
    const before = await snapshot(world.root)
    await expect(alice.rename('hr', 'hr-old')).rejects.toMatchObject({ code: 'share-denied', details: { rule: 'no-salaries' } })
    await expect(alice.rename('hr/salaries', 'hr/s2')).rejects.toMatchObject({ code: 'share-denied' })
    // the laundering that followed: the salaries are not reachable under any other name
    await expect(alice.readFile('hr-old/salaries/2026.txt')).rejects.toMatchObject({ code: 'share-not-found' })
    await expect(alice.readFile('hr/salaries/2026.txt')).rejects.toMatchObject({ code: 'share-denied' })
    expect(await snapshot(world.root)).toEqual(before)
    // the log names the subtree decision
    expect(served.decisions).toContainEqual(
      expect.objectContaining({
        allowed: false,
        verb: 'rename',
        resource: 'share:office/hr',
        rule: expect.objectContaining({ id: 'no-salaries' })
      })
    )
  })

  it('moving a folder into a denied folder is refused: put on the whole destination subtree', async () => {
    const alice = await served.connect('alice')
    const before = await snapshot(world.root)
    await expect(alice.rename('projects', 'hr/salaries/projects')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(alice.rename('projects/x/plan.txt', 'hr/salaries/plan.txt')).rejects.toMatchObject({ code: 'share-denied' })
    expect(await snapshot(world.root)).toEqual(before)
  })

  it('allowed subtrees still move (positive control)', async () => {
    const alice = await served.connect('alice')
    await alice.rename('projects', 'projects-2025')
    expect((await alice.readFile('projects-2025/x/plan.txt')).toString()).toBe('plan\n')
    await alice.rename('hr/handbook.txt', 'handbook.txt')
    await alice.mkdir('empty')
    await alice.delete('empty')
  })

  it('removing a directory is a subtree question: an empty folder with a denied subtree stays', async () => {
    const alice = await served.connect('alice')
    await mkdir(join(world.root, 'archive', '2025'), { recursive: true })
    // delete is allowed on archive/2025 itself but denied below it: the folder is a subtree
    await expect(alice.delete('archive/2025')).rejects.toMatchObject({
      code: 'share-denied',
      details: { rule: 'keep-archive-contents' }
    })
    expect((await alice.list('archive')).entries.map((e) => e.name)).toEqual(['2025'])
    const carol = await served.connect('carol')
    await mkdir(join(world.root, 'inbox', 'empty'))
    await carol.delete('inbox/empty') // delete allowed on the whole inbox subtree
    await expect(carol.delete('drop')).rejects.toMatchObject({ code: 'share-denied' })
  })

  it('mkdir -p needs put on every folder it creates', async () => {
    const carol = await served.connect('carol')
    await expect(carol.mkdir('drop/a/b/c', { parents: true })).rejects.toMatchObject({ code: 'share-denied' })
    expect((await carol.list('drop')).entries).toEqual([])
    await mkdir(join(world.root, 'drop', 'a', 'b'), { recursive: true })
    await carol.mkdir('drop/a/b/c/d', { parents: true })
    expect((await carol.list('drop/a/b/c')).entries.map((e) => e.name)).toEqual(['d'])
  })
})

describe('S4: a rename never lets a peer read what it could not read before', () => {
  it('a file may not move from where the peer cannot read to where it can', async () => {
    const carol = await served.connect('carol')
    const before = await snapshot(world.root)
    await expect(carol.readFile('inbox/secret.txt')).rejects.toMatchObject({ code: 'share-denied' })
    expect(await outcome(carol.rename('inbox/secret.txt', 'public/secret.txt'))).toBe('share-denied')
    expect(await snapshot(world.root)).toEqual(before)
    // public -> inbox is fine (carol could read it before) and so is inbox -> inbox
    await carol.writeFile('public/memo.txt', 'memo')
    await carol.rename('public/memo.txt', 'inbox/memo.txt')
    await carol.rename('inbox/secret.txt', 'inbox/filed.txt')
  })

  it('a folder may not move unless the peer can read its whole subtree', async () => {
    const carol = await served.connect('carol')
    const before = await snapshot(world.root)
    expect(await outcome(carol.rename('inbox/case', 'public/case'))).toBe('share-denied')
    expect(await outcome(carol.rename('inbox/case', 'inbox/case-2'))).toBe('share-denied') // conservative: see SPEC §8
    expect(await snapshot(world.root)).toEqual(before)
    await carol.mkdir('public/folder')
    await carol.rename('public/folder', 'public/folder-2')
  })
})
