import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createShareServer, type ShareServer } from '@peerguard/share'

// A server killed mid-upload (kill -9, power loss) leaves `.pgtmp-*` files beside their targets.
// The next server removes them at start — only its predecessors' files, never through a link.
describe('start-up sweep of leftover temporary upload files', () => {
  let dir: string
  let root: string
  let outside: string
  let server: ShareServer | undefined
  const old = new Date(Date.now() - 3600_000)

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-sweep-'))
    root = join(dir, 'share')
    outside = join(dir, 'outside')
    await mkdir(join(root, 'a', 'b'), { recursive: true })
    await mkdir(outside)
    for (const p of [join(root, '.pgtmp-0001'), join(root, 'a', 'b', '.pgtmp-0002'), join(outside, '.pgtmp-0003')]) {
      await writeFile(p, 'partial upload')
      await utimes(p, old, old)
    }
    await writeFile(join(root, 'a', 'keep.txt'), 'data')
    await mkdir(join(root, 'a', '.pgtmp-dir')) // not a file: left alone
    await symlink(outside, join(root, 'a', 'link-out')) // a link to a folder is never descended
    await symlink(join(outside, '.pgtmp-0003'), join(root, '.pgtmp-link')) // a link is not a regular file
  })

  afterEach(async () => {
    await server?.close()
    server = undefined
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('removes old .pgtmp- files everywhere in the share, nothing else, nothing outside', async () => {
    server = createShareServer({ root })
    await server.listen()
    const result = await server.swept
    expect(result).toEqual({ removed: 2, scanned: expect.any(Number), truncated: false })
    expect((await readdir(root)).sort()).toEqual(['.pgtmp-link', 'a'])
    expect((await readdir(join(root, 'a'))).sort()).toEqual(['.pgtmp-dir', 'b', 'keep.txt', 'link-out'])
    expect(await readdir(join(root, 'a', 'b'))).toEqual([])
    expect(await readdir(outside)).toEqual(['.pgtmp-0003'])
  })

  it("never removes a temporary file newer than the server's start (an upload in flight)", async () => {
    server = createShareServer({ root })
    const fresh = join(root, 'a', '.pgtmp-fresh')
    await writeFile(fresh, 'in flight')
    const future = new Date(Date.now() + 3600_000)
    await utimes(fresh, future, future)
    await server.listen()
    await server.swept
    expect(await readdir(join(root, 'a'))).toContain('.pgtmp-fresh')
    const again = await server.sweep()
    expect(again.removed).toBe(0)
  })
})
