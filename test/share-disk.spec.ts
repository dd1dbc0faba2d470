/**
 * Disk-full and permission errors come back as codes, and leave nothing behind. Needs root with
 * CAP_SYS_ADMIN (tmpfs mount) and CAP_LINUX_IMMUTABLE (chattr); each test says so and returns when
 * the capability is missing (CI containers without them).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectShare, createShareServer } from '@peerguard/share'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-disk-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('disk errors as codes', () => {
  it('a full disk is share-disk-full; the old file survives and no temporary file is left', async () => {
    const small = join(dir, 'small')
    await mkdir(small)
    if (!tryRun('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small])) {
      console.warn('share-disk.spec: cannot mount tmpfs (needs CAP_SYS_ADMIN); disk-full test not run')
      return
    }
    try {
      await writeFile(join(small, 'keep.bin'), 'old')
      const server = createShareServer({ root: small })
      const addr = await server.listen()
      const c = await connectShare(addr)
      await expect(c.writeFile('keep.bin', Buffer.alloc(3 * 1024 * 1024, 7))).rejects.toMatchObject({ code: 'share-disk-full' })
      expect(await readFile(join(small, 'keep.bin'), 'utf8')).toBe('old')
      expect(await readdir(small)).toEqual(['keep.bin'])
      // the server is still usable once the upload fits
      await c.writeFile('keep.bin', 'new')
      expect(await readFile(join(small, 'keep.bin'), 'utf8')).toBe('new')
      c.close()
      await server.close()
    } finally {
      tryRun('umount', [small])
    }
  })

  it('a write the filesystem refuses is share-permission-denied', async () => {
    const locked = join(dir, 'locked')
    await mkdir(locked)
    await writeFile(join(locked, 'a.txt'), 'a')
    if (!tryRun('chattr', ['+i', locked])) {
      console.warn('share-disk.spec: chattr +i failed (needs CAP_LINUX_IMMUTABLE on ext4/xfs); permission test not run')
      return
    }
    try {
      const server = createShareServer({ root: locked })
      const addr = await server.listen()
      const c = await connectShare(addr)
      await expect(c.writeFile('b.txt', 'b')).rejects.toMatchObject({ code: 'share-permission-denied' })
      await expect(c.delete('a.txt')).rejects.toMatchObject({ code: 'share-permission-denied' })
      expect((await c.readFile('a.txt')).toString()).toBe('a')
      c.close()
      await server.close()
    } finally {
      tryRun('chattr', ['-i', locked])
    }
  })
})
