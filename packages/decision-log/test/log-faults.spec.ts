/**
 * A decision log that survives faults (issue 11 item 7): short writes are completed, a failed
 * write is cut back to the last whole entry (never followed by another entry), the log refuses
 * with `log-unavailable` while it cannot write and resumes by itself. Real files; faults are
 * injected by wrapping the real file handle.
 */
import { describe, expect, it } from '@jest/globals'
import { appendFile, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  type DecisionLog,
  type DecisionLogOptions,
  type DecisionRecord,
  type LogFileHandle,
  type LogFileOpener,
  openDecisionLog,
  verifyDecisionLogFile
} from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { descriptorsUnder } from './crash-log.js'

const alice = generateKeyPair()

/** `openFile` is an internal seam (not in the published types): the fault-injecting opener goes through it. */
const openFaulty = (options: DecisionLogOptions & { openFile: LogFileOpener }): Promise<DecisionLog> => openDecisionLog(options)
const ALICE = peerIdFromPublicKey(alice.publicKey).toString()

const op = (i: number): DecisionRecord => ({
  kind: 'operation',
  allowed: true,
  code: 'allow',
  reason: 'staff may read',
  action: 'read',
  verb: 'get',
  resource: `share:docs/file-${i}.txt`
})

type Fault = 'short' | 'enospc-after-half' | 'enospc' | 'sync-fails' | 'ok'

/** A real handle whose next operations follow `plan` (then behave), as a full or flaky disk would. */
function faulty(plan: Fault[], opts: { truncateFails?: () => boolean } = {}) {
  const stats = { writes: 0, shortWrites: 0, failures: 0 }
  const opener = async (path: string): Promise<LogFileHandle> => {
    const fh = await open(path, 'a', 0o600)
    let syncFails = false
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    return {
      async write(buffer, offset, length, position) {
        stats.writes++
        const fault = plan.shift() ?? 'ok'
        if (fault === 'short' && length > 1) {
          stats.shortWrites++
          return fh.write(buffer, offset, Math.max(1, Math.floor(length / 3)), position)
        }
        if (fault === 'enospc-after-half') {
          stats.failures++
          if (length > 1) await fh.write(buffer, offset, Math.floor(length / 2), position)
          // the next write call (the rest) fails: the disk is full
          plan.unshift('enospc')
          return { bytesWritten: Math.floor(length / 2) || 1 }
        }
        if (fault === 'enospc') {
          stats.failures++
          throw enospc()
        }
        if (fault === 'sync-fails') syncFails = true
        return fh.write(buffer, offset, length, position)
      },
      async datasync() {
        if (syncFails) {
          syncFails = false
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
        }
        return fh.datasync()
      },
      async truncate(len) {
        if (opts.truncateFails?.()) throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' })
        return fh.truncate(len)
      },
      stat: () => fh.stat(),
      close: () => fh.close()
    }
  }
  return { opener, stats }
}

async function tmp(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-faults-'))
  return { dir, path: join(dir, 'd.jsonl') }
}

describe('decision log: faults', () => {
  it('an open whose torn-tail recovery entry cannot be written is refused and leaves no descriptor open', async () => {
    const { dir, path } = await tmp()
    const log = await openDecisionLog({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0 })
    await log.append(op(0))
    await log.close()
    await appendFile(path, '{"v":1,"seq":2,"torn') // a crash mid-write
    const { opener } = faulty(['enospc'])
    await expect(
      openFaulty({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0, openFile: opener })
    ).rejects.toMatchObject({ code: 'log-unavailable' })
    expect(descriptorsUnder(dir)).toEqual([])
    // space is back: the log opens again and verifies
    const again = await openDecisionLog({ path, identity: alice, checkpointIntervalMs: 0 })
    await again.close()
    expect(await verifyDecisionLogFile(path, { key: ALICE })).toMatchObject({ ok: true })
    await rm(dir, { recursive: true })
  })

  it('short writes are completed: every entry whole, the log verifies', async () => {
    const { dir, path } = await tmp()
    const { opener, stats } = faulty(Array.from({ length: 200 }, () => 'short' as Fault))
    const log = await openFaulty({ path, identity: alice, checkpointEvery: 5, checkpointIntervalMs: 0, openFile: opener })
    for (let i = 0; i < 20; i++) await log.append(op(i))
    await log.close()
    expect(stats.shortWrites).toBeGreaterThan(20)
    expect(await verifyDecisionLogFile(path, { key: ALICE })).toMatchObject({ ok: true, unsignedTail: 0 })
    await rm(dir, { recursive: true })
  })

  it('ENOSPC mid-entry: the append is refused (log-unavailable), the fragment is cut back, the log resumes by itself', async () => {
    const { dir, path } = await tmp()
    const plan: Fault[] = []
    const { opener } = faulty(plan)
    const log = await openFaulty({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0, openFile: opener })
    for (let i = 0; i < 3; i++) await log.append(op(i))
    const whole = (await stat(path)).size
    plan.push('enospc-after-half')
    const err = await log.append(op(3)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'log-unavailable' })
    expect((err as Error).message).toMatch(/cannot be written \(ENOSPC: no space left on device\)/)
    expect(log.available).toBe(false)
    expect((await stat(path)).size).toBe(whole) // no fragment left behind
    // still full: refused again, still no fragment
    plan.push('enospc')
    await expect(log.append(op(4))).rejects.toMatchObject({ code: 'log-unavailable' })
    expect((await stat(path)).size).toBe(whole)
    // space is back: the very next append works, no restart
    const r = await log.append(op(5))
    expect(r.seq).toBe(3) // the chain continues from what is on disk
    expect(log.available).toBe(true)
    await log.close()
    const report = await verifyDecisionLogFile(path, { key: ALICE })
    expect(report).toMatchObject({ ok: true })
    const resources = (await readFile(path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).resource)
      .filter(Boolean)
    expect(resources).toEqual([
      'share:docs/file-0.txt',
      'share:docs/file-1.txt',
      'share:docs/file-2.txt',
      'share:docs/file-5.txt'
    ])
    await rm(dir, { recursive: true })
  })

  it('entries queued behind a failed write are refused too (they chain onto it), none is written', async () => {
    const { dir, path } = await tmp()
    const plan: Fault[] = []
    const { opener } = faulty(plan)
    const log = await openFaulty({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0, openFile: opener })
    await log.append(op(0))
    plan.push('enospc')
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => log.append(op(i + 1))))
    expect(results.every((r) => r.status === 'rejected')).toBe(true)
    await log.append(op(99))
    await log.close()
    expect(await verifyDecisionLogFile(path, { key: ALICE })).toMatchObject({ ok: true })
    await rm(dir, { recursive: true })
  })

  it('a failed sync after a complete write is cut back as well; a failed cut is repeated before the next write', async () => {
    const { dir, path } = await tmp()
    const plan: Fault[] = []
    let failTruncate = false
    const { opener } = faulty(plan, { truncateFails: () => failTruncate })
    const log = await openFaulty({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0, openFile: opener })
    await log.append(op(0))
    const whole = (await stat(path)).size
    plan.push('sync-fails')
    await expect(log.append(op(1))).rejects.toMatchObject({ code: 'log-unavailable' })
    expect((await stat(path)).size).toBe(whole)
    // the cut itself fails: the fragment stays for now, and is cut before anything else is written
    failTruncate = true
    plan.push('enospc-after-half')
    await expect(log.append(op(2))).rejects.toMatchObject({ code: 'log-unavailable' })
    expect((await stat(path)).size).toBeGreaterThan(whole)
    failTruncate = false
    await log.append(op(3))
    await log.close()
    expect(await verifyDecisionLogFile(path, { key: ALICE })).toMatchObject({ ok: true })
    await rm(dir, { recursive: true })
  })

  it('property: under any schedule of short writes, ENOSPC and failed syncs, the file holds exactly the acknowledged entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-faults-'))
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Fault>('ok', 'ok', 'short', 'enospc', 'enospc-after-half', 'sync-fails'), { maxLength: 40 }),
        fc.integer({ min: 1, max: 25 }),
        async (schedule, count) => {
          const path = join(dir, `p-${n++}.jsonl`)
          const { opener } = faulty([...schedule])
          const log = await openFaulty({
            path,
            identity: alice,
            checkpointEvery: 4,
            checkpointIntervalMs: 0,
            openFile: opener
          })
          const acked: string[] = []
          const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => log.append(op(i))))
          settled.forEach((r, i) => {
            if (r.status === 'fulfilled') acked.push(`share:docs/file-${i}.txt`)
            else expect(r.reason).toMatchObject({ code: 'log-unavailable' })
          })
          await log.close()
          const report = await verifyDecisionLogFile(path, { key: ALICE })
          expect(report.firstBad).toBeUndefined()
          expect(report.tornTail).toBeUndefined()
          const written = (await readFile(path, 'utf8'))
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l))
            .filter((e) => e.kind === 'operation')
            .map((e) => e.resource)
          expect(written).toEqual(acked)
        }
      ),
      { numRuns: 60 }
    )
    await rm(dir, { recursive: true })
  })
})
