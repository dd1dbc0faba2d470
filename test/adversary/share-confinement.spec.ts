/**
 * Invariant S1 (packages/share/SPEC.md §9): no sequence of requests, concurrent or not, makes the
 * server open, create, rename, delete or read an inode outside the share root.
 *
 * Issue 10 item 1: a peer with put and rename rights on its own folder holds a slow upload open
 * and swaps the upload's folder for one holding an (already refused) escaping link with two
 * renames; the old server then wrote, moved or deleted outside the root. Here every such attempt is
 * refused with a specific code and the outside tree is byte-for-byte unchanged.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { needs, type TestPki } from '@peerguard/test-utils'
import { leftovers, makePki, makeWorld, openFds, outcome, type Served, serve, slowSource, snapshot } from './share-harness.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-own-folder
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/mal/**"]
`
const SECRET = 'TOP-SECRET outside the share\n'

let pki: TestPki
let world: Awaited<ReturnType<typeof makeWorld>>
let served: Served
let before: Record<string, string>

beforeAll(async () => {
  pki = await makePki([
    { name: 'mallory', groups: ['staff'] },
    { name: 'mallory2', groups: ['staff'] }
  ])
})

beforeEach(async () => {
  world = await makeWorld('confine')
  const { root, outside } = world
  await mkdir(join(outside, 'sub'), { recursive: true })
  await writeFile(join(outside, 'sub', 'f.txt'), SECRET)
  await writeFile(join(outside, 'sub', 'victim'), SECRET)
  await mkdir(join(root, 'mal', 'a', 'sub'), { recursive: true })
  await writeFile(join(root, 'mal', 'a', 'sub', 'victim'), 'mine\n')
  await mkdir(join(root, 'mal', 'b'), { recursive: true })
  await symlink(join(outside, 'sub'), join(root, 'mal', 'b', 'sub')) // already there: refused whenever used
  before = await snapshot(outside)
  served = await serve(pki, root, POLICY)
})

afterEach(async () => {
  await served.stop()
  expect(await snapshot(world.outside)).toEqual(before)
  expect(await leftovers(world.dir)).toEqual([])
  await world.remove()
})

describe('S1: nothing outside the root is touched', () => {
  it('a slow upload whose folder is swapped for one with an escaping link is refused at commit', async () => {
    const mallory = await served.connect('mallory')
    const slow = slowSource(Buffer.from('pwned '), Buffer.from('by a race\n'))
    const upload = outcome(mallory.write('mal/a/sub/f.txt', slow.source, { size: slow.size }))
    await slow.sent
    await mallory.rename('mal/a', 'mal/a-old') // two renames while the upload is open
    await mallory.rename('mal/b', 'mal/a')
    slow.release()
    expect(await upload).toBe('share-symlink-escape')
    expect(existsSync(join(world.root, 'mal', 'a-old', 'sub', 'f.txt'))).toBe(false)
    expect(await readdir(join(world.root, 'mal', 'a-old', 'sub'))).toEqual(['victim'])
  })

  it('a slow upload whose folder is replaced by another real folder is refused (share-file-changed)', async () => {
    const mallory = await served.connect('mallory')
    const slow = slowSource(Buffer.from('moved '), Buffer.from('away\n'))
    const upload = outcome(mallory.write('mal/a/sub/new.txt', slow.source, { size: slow.size, mode: 'create' }))
    await slow.sent
    await mallory.rename('mal/a', 'mal/a-old')
    await mallory.mkdir('mal/a/sub', { parents: true })
    slow.release()
    expect(await upload).toBe('share-file-changed')
    expect(await readdir(join(world.root, 'mal', 'a', 'sub'))).toEqual([])
    expect(await readdir(join(world.root, 'mal', 'a-old', 'sub'))).toEqual(['victim'])
  })

  it('every operation through an escaping link is refused with share-symlink-escape', async () => {
    const mallory = await served.connect('mallory')
    const attempts: Array<[string, Promise<unknown>]> = [
      ['read', mallory.readFile('mal/b/sub/f.txt')],
      ['list', mallory.list('mal/b/sub')],
      ['stat', mallory.stat('mal/b/sub/f.txt')],
      ['write', mallory.writeFile('mal/b/sub/f.txt', 'pwned')],
      ['create', mallory.writeFile('mal/b/sub/new.txt', 'pwned', { mode: 'create' })],
      ['append', mallory.writeFile('mal/b/sub/victim', 'pwned', { mode: 'append' })],
      ['delete', mallory.delete('mal/b/sub/victim')],
      ['rename out', mallory.rename('mal/b/sub/victim', 'mal/stolen')],
      ['rename in', mallory.rename('mal/a/sub/victim', 'mal/b/sub/planted')],
      ['mkdir', mallory.mkdir('mal/b/sub/d')],
      ['mkdir -p', mallory.mkdir('mal/b/sub/d/e', { parents: true })],
      ['read link', mallory.readFile('mal/b/sub')],
      ['write over link', mallory.writeFile('mal/b/sub', 'x')]
    ]
    for (const [what, p] of attempts) expect([what, await outcome(p)]).toEqual([what, 'share-symlink-escape'])
    // the link itself is the peer's to see and remove: list shows it, delete removes the link only
    expect((await mallory.list('mal/b')).entries).toEqual([expect.objectContaining({ name: 'sub', type: 'symlink' })])
    await mallory.delete('mal/b/sub')
    expect(await readdir(join(world.root, 'mal', 'b'))).toEqual([])
  })

  it('a peer swapping folders and links in a loop never makes another peer reach outside', async () => {
    const mallory = await served.connect('mallory')
    const swapper = await served.connect('mallory2')
    let stop = false
    const swaps = (async () => {
      let n = 0
      while (!stop || n < 4) {
        // a <-> b through t: mal/a is alternately the real folder and the folder with the link
        for (const [from, to] of [
          ['mal/a', 'mal/t'],
          ['mal/b', 'mal/a'],
          ['mal/t', 'mal/b']
        ] as const)
          await swapper.rename(from, to)
        n++
      }
      return n
    })()
    const codes = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const results = await Promise.all([
        outcome(mallory.writeFile(`mal/a/sub/w${i}.txt`, 'pwned')),
        outcome(mallory.writeFile('mal/a/sub/victim', 'pwned', { mode: 'append' })),
        outcome(mallory.readFile('mal/a/sub/f.txt').then((b) => expect(b.toString()).not.toBe(SECRET))),
        outcome(mallory.delete('mal/a/sub/victim')),
        outcome(mallory.rename('mal/a/sub/f.txt', `mal/got${i}`)),
        outcome(mallory.mkdir(`mal/a/sub/d${i}`)),
        outcome(mallory.list('mal/a/sub'))
      ])
      for (const r of results) codes.add(r)
    }
    stop = true
    await swaps
    const expected = [
      'ok',
      'share-symlink-escape',
      'share-not-found',
      'share-file-changed',
      'share-not-directory',
      'share-already-exists'
    ]
    for (const c of codes) expect(expected).toContain(c)
    expect(codes.has('share-symlink-escape')).toBe(true) // the race was really run both ways
  }, 120_000)

  it('leaks no descriptor: the count is the same after hundreds of operations, refusals and aborts', async () => {
    const mallory = await served.connect('mallory')
    const round = async (i: number): Promise<void> => {
      await mallory.writeFile(`mal/a/f${i % 5}.txt`, `v${i}`)
      await mallory.writeFile(`mal/a/f${i % 5}.txt`, '+', { mode: 'append' })
      await mallory.readFile(`mal/a/f${i % 5}.txt`)
      await mallory.list('mal/a')
      await mallory.stat('mal/a/sub')
      await mallory.mkdir(`mal/a/d${i}/e`, { parents: true })
      await mallory.rename(`mal/a/d${i}`, `mal/a/e${i}`)
      await mallory.delete(`mal/a/e${i}/e`)
      await mallory.delete(`mal/a/e${i}`)
      await outcome(mallory.readFile('mal/b/sub/f.txt'))
      await outcome(mallory.writeFile('mal/b/sub/x', 'x'))
      await outcome(mallory.readFile('mal/nope/x'))
      await outcome(mallory.readFile('other/x'))
      await outcome(mallory.writeFile(`mal/a/f${i % 5}.txt`, 'x', { mode: 'create' }))
    }
    await round(0) // warm up lazily opened descriptors
    const start = openFds()
    for (let i = 1; i <= 20; i++) await round(i)
    // an upload aborted by a closed connection releases its directory and temporary file
    const quitter = await served.connect('mallory2')
    const slow = slowSource(Buffer.from('half'), Buffer.from('never'))
    const dropped = outcome(quitter.write('mal/a/quit.txt', slow.source, { size: slow.size }))
    await slow.sent
    quitter.close()
    slow.release() // the client's generator resumes and finds the connection closed
    expect(await dropped).toBe('share-connection-closed')
    await waitFor(async () => (await leftovers(world.root)).length === 0)
    // sockets closed just now are reaped a little later on a busy machine: wait for it; a leaked
    // descriptor never goes away, so this still fails on a leak
    await waitFor(async () => openFds() <= start + 1, 15_000).catch(() => {})
    expect(openFds()).toBeLessThanOrEqual(start + 1) // + the quitter's socket, if not yet reaped
  }, 120_000)
})

describe('S1: the server refuses to start where paths cannot be confined', () => {
  const dist = join(process.cwd(), 'packages', 'share', 'dist', 'index.js')
  needs(['root', 'unshare'], 'share-confinement S1: a mount namespace without /proc').it(
    'without /proc/self/fd: share-platform-unsupported',
    () => {
      try {
        execFileSync('npx', ['tsc', '-b', 'packages/share'], { cwd: process.cwd(), stdio: 'pipe' })
      } catch (err) {
        // another package's work in progress may break the build; test the existing dist then
        if (!existsSync(dist)) throw err
      }
      const script = `import('${dist}').then((m) => { try { m.createShareServer({ root: '/tmp' }); console.log('started') } catch (e) { console.log(e.code) } })`
      const out = execFileSync(
        'unshare',
        ['--mount', '--fork', 'sh', '-c', `mount -t tmpfs none /proc && exec ${process.execPath} -e "${script}"`],
        { encoding: 'utf8' }
      )
      expect(out.trim()).toBe('share-platform-unsupported')
    },
    120_000
  )
})

async function waitFor(check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 20))
  }
}
