/**
 * Disk-full and permission errors come back as codes, and leave nothing behind. Needs root with
 * CAP_SYS_ADMIN (tmpfs mount) and CAP_LINUX_IMMUTABLE (chattr): needs() skips each test visibly
 * where the capability is missing, or fails it under PEERGUARD_REQUIRE_ALL=1.
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectShare, createShareServer } from '@peerguard/share'
import { needs } from '@peerguard/test-utils'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-disk-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const tmpfs = needs('mount', 'share-disk: a full disk (mount -t tmpfs)')
const immutable = needs('chattr', 'share-disk: a folder the filesystem refuses to change (chattr +i)')

describe('disk errors as codes', () => {
  tmpfs.it('a full disk is share-disk-full; the old file survives and no temporary file is left', async () => {
    const small = join(dir, 'small')
    await mkdir(small)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small])
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

  immutable.it('a write the filesystem refuses is share-permission-denied', async () => {
    const locked = join(dir, 'locked')
    await mkdir(locked)
    await writeFile(join(locked, 'a.txt'), 'a')
    execFileSync('chattr', ['+i', locked])
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
