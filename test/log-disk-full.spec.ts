/**
 * The decision log's disk fills under load (issue 11 item 7), on a real small tmpfs with a real
 * share server on 127.0.0.1: while nothing can be logged every operation is refused and says why;
 * once space is freed the server serves again by itself (no restart); the log never holds a
 * fragment and verifies. Needs root with CAP_SYS_ADMIN (mount -t tmpfs): needs() skips visibly, or
 * fails under PEERGUARD_REQUIRE_ALL=1.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { parseHead } from '@peerguard/decision-log/format'
import { generateKeyPair } from '@peerguard/identity'
import { connectShare, createShareServer, type ShareClient } from '@peerguard/share'
import { needs } from '@peerguard/test-utils'

const tmpfs = needs('mount', 'log-disk-full: the decision log on a small tmpfs (mount -t tmpfs)')
const MOUNTABLE = tmpfs.ok

let dir: string
let disk: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-logfull-'))
  disk = join(dir, 'disk')
  await mkdir(disk)
  if (MOUNTABLE) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', disk])
})

afterAll(async () => {
  if (MOUNTABLE) {
    try {
      execFileSync('umount', [disk])
    } catch {
      // already unmounted
    }
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** Fill the filesystem of `path` until ENOSPC; returns the bytes written. */
async function fill(path: string): Promise<number> {
  const fh = await open(path, 'w')
  let n = 0
  try {
    for (;;) {
      const { bytesWritten } = await fh.write(Buffer.alloc(4096, 1))
      n += bytesWritten
      if (bytesWritten < 4096) break
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    await fh.close()
  }
  return n
}

tmpfs.describe('decision log on a disk that fills under load (tmpfs, root)', () => {
  it('refuses while full, says why, resumes by itself when space returns; the log verifies', async () => {
    const root = join(dir, 'share')
    await mkdir(root)
    await writeFile(join(root, 'notice.txt'), 'hello\n')
    const logPath = join(disk, 'decisions.jsonl')
    const identity = generateKeyPair()
    const log = await openDecisionLog({ path: logPath, identity, checkpointEvery: 16 })
    const server = createShareServer({ root, shareName: 'office', log })
    const addr = await server.listen()
    const clients: ShareClient[] = await Promise.all(Array.from({ length: 4 }, () => connectShare(addr)))

    const outcomes = { ok: 0, refused: 0, messages: new Set<string>(), codes: new Set<string>() }
    let running = true
    const loops = clients.map(async (c, i) => {
      while (running) {
        try {
          if (i % 2 === 0) await c.list('')
          else await c.stat('notice.txt')
          outcomes.ok++
        } catch (err) {
          outcomes.refused++
          outcomes.codes.add((err as { code?: string }).code ?? '?')
          outcomes.messages.add((err as Error).message)
        }
      }
    })
    const waitFor = async (what: () => boolean, label: string): Promise<void> => {
      const deadline = Date.now() + 60_000
      while (!what()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    try {
      await waitFor(() => outcomes.ok > 50, 'operations before the disk fills')
      // the disk fills up while the clients keep going
      const filler = join(disk, 'filler')
      await fill(filler)
      const refusedAtFull = outcomes.refused
      await waitFor(() => outcomes.refused > refusedAtFull + 50, 'refusals while the disk is full')
      // while full, nothing gets through: count what succeeds over a while
      const okWhileFull = outcomes.ok
      await waitFor(() => outcomes.refused > refusedAtFull + 150, 'more refusals')
      expect(outcomes.ok - okWhileFull).toBeLessThanOrEqual(4) // at most ones already logged when it filled
      expect([...outcomes.messages].join(' | ')).toMatch(/decision log cannot be written/)
      expect(log.available).toBe(false)
      // a new connection is refused too (its acceptance cannot be logged)
      const late = await connectShare(addr)
        .then(async (c) => {
          await c.list('')
          c.close()
          return 'served'
        })
        .catch(() => 'refused')
      expect(late).toBe('refused')
      // space returns: no restart, the next operations work
      await unlink(filler)
      const okAtFree = outcomes.ok
      await waitFor(() => outcomes.ok > okAtFree + 50, 'operations after space returned')
      expect(log.available).toBe(true)
      const fresh = await connectShare(addr)
      expect((await fresh.list('')).entries.map((e) => e.name)).toContain('notice.txt')
      fresh.close()
    } finally {
      running = false
      await Promise.all(loops)
      for (const c of clients) c.close()
      await server.close()
      await log.close()
    }
    const report = await verifyDecisionLogFile(logPath, { key: identity.publicKey })
    expect(report.firstBad).toBeUndefined()
    expect(report.tornTail).toBeUndefined()
    expect(report.ok).toBe(true)
    expect(parseHead(await readFile(`${logPath}.head`, 'utf8')).ok).toBe(true)
    // and the node starts again on that log
    const again = await openDecisionLog({ path: logPath, identity })
    await again.close()
  }, 180_000)
})
