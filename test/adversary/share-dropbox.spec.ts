/**
 * Invariant S5 (packages/share/SPEC.md §9): a peer that may not `list` a folder learns nothing
 * about which names exist in it from a `create` — the answer, and every policy decision taken for
 * it, is the same whether the name exists or not (drop-box semantics, SPEC §5.4).
 *
 * Issue 10 item 6: a put-only drop-box peer learned whether a name exists from
 * `share-already-exists`.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, outcome, type Served, serve } from './share-harness.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
  droppers: ["ou:droppers"]
  exact: ["ou:exact"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: drop-box
    allow: [put]
    peers: [droppers]
    resources: ["share:office/drop/**"]
  - id: one-name-only
    allow: [put]
    peers: [exact]
    resources: ["share:office/drop/exact.txt"]
`

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served

beforeAll(async () => {
  pki = await makePki([
    { name: 'alice', groups: ['staff'] },
    { name: 'dora', groups: ['droppers'] },
    { name: 'eve', groups: ['exact'] }
  ])
})

beforeEach(async () => {
  world = await makeWorld('drop')
  const { root } = world
  await mkdir(join(root, 'drop'))
  await writeFile(join(root, 'drop', 'report.pdf'), 'the real report')
  await writeFile(join(root, 'drop', 'exact.txt'), 'taken')
  await mkdir(join(root, 'drop', 'folder'))
  await symlink('/etc/passwd', join(root, 'drop', 'link.txt'))
  execFileSync('mkfifo', [join(root, 'drop', 'fifo')])
  served = await serve(pki, root, POLICY)
})

afterEach(async () => {
  await served.stop()
  expect(await leftovers(world.dir)).toEqual([])
  await world.remove()
})

/** The decisions logged for the last request(s), without the resource names (which differ). */
function shapes(from: number): string[] {
  return served.decisions.slice(from).map((d) => `${d.verb} ${d.allowed} ${d.code}`)
}

describe('S5: no existence oracle for peers that may not list', () => {
  it('create answers the same for a taken and a free name; the taken file is untouched', async () => {
    const dora = await served.connect('dora')
    await expect(dora.list('drop')).rejects.toMatchObject({ code: 'share-denied' })
    const n0 = served.decisions.length
    const taken = await dora.writeFile('drop/report.pdf', 'my upload', { mode: 'create' })
    const n1 = served.decisions.length
    const free = await dora.writeFile('drop/new.pdf', 'my upload', { mode: 'create' })
    expect(taken).toEqual(free) // same reply: {size, sha256}
    expect(shapes(n0).slice(0, n1 - n0)).toEqual(shapes(n1)) // same decisions, in the same order
    expect(await readFile(join(world.root, 'drop', 'report.pdf'), 'utf8')).toBe('the real report')
    expect(await readFile(join(world.root, 'drop', 'new.pdf'), 'utf8')).toBe('my upload')
    const stored = (await readdir(join(world.root, 'drop'))).filter((n) => /^report~[0-9a-f]{12}\.pdf$/.test(n))
    expect(stored).toHaveLength(1)
    expect(await readFile(join(world.root, 'drop', stored[0] as string), 'utf8')).toBe('my upload')
  })

  it('whatever is at the name — folder, link, FIFO — the answer is the same and it stays as it was', async () => {
    const dora = await served.connect('dora')
    const codes = []
    for (const name of ['folder', 'link.txt', 'fifo', 'absent'])
      codes.push(await outcome(dora.writeFile(`drop/${name}`, 'x', { mode: 'create' })))
    expect(codes).toEqual(['ok', 'ok', 'ok', 'ok'])
    expect(await readdir(join(world.root, 'drop', 'folder'))).toEqual([])
    const names = await readdir(join(world.root, 'drop'))
    for (const base of ['folder', 'link', 'fifo']) expect(names.some((n) => n.startsWith(`${base}~`))).toBe(true)
  })

  it('a peer allowed one exact name is answered the same way whether it exists or not', async () => {
    const eve = await served.connect('eve')
    const whenTaken = await outcome(eve.writeFile('drop/exact.txt', 'x', { mode: 'create' }))
    await alice().then((a) => a.delete('drop/exact.txt'))
    const whenFree = await outcome(eve.writeFile('drop/exact.txt', 'x', { mode: 'create' }))
    expect([whenTaken, whenFree]).toEqual(['share-denied', 'share-denied']) // the drop name is not allowed: see SPEC §5.4
    await eve.writeFile('drop/exact.txt', 'y') // overwrite mode is this peer's way in
    expect(await readFile(join(world.root, 'drop', 'exact.txt'), 'utf8')).toBe('y')
  })

  it('a peer that may list the folder is told the name exists (it could see it anyway)', async () => {
    const a = await alice()
    await expect(a.writeFile('drop/report.pdf', 'x', { mode: 'create' })).rejects.toMatchObject({ code: 'share-already-exists' })
    expect((await readdir(join(world.root, 'drop'))).filter((n) => n.includes('~'))).toEqual([])
  })
})

function alice() {
  return served.connect('alice')
}
