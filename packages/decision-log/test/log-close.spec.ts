/**
 * close() leaves no entry unsigned: an entry appended while the log is closing (an operation's
 * outcome landing during a SIGTERM drain) comes before the last checkpoint, not after it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type DecisionRecord, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'

const alice = generateKeyPair()
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-log-close-'))
})
afterAll(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }))

const outcome = (i: number): DecisionRecord => ({
  kind: 'outcome',
  outcome: 'ok',
  code: 'ok',
  reason: 'done',
  op: 'read',
  resource: `share:docs/${i}.txt`
})

describe('DecisionLog.close', () => {
  it.each([1, 3])('signs %i entries appended while it closes; the file ends with a checkpoint', async (late) => {
    const path = join(dir, `late-${late}.jsonl`)
    const log = await openDecisionLog({ path, identity: alice, checkpointIntervalMs: 0 })
    await log.append(outcome(0))
    const closing = log.close()
    const appended = Array.from({ length: late }, (_, i) => log.append(outcome(i + 1)))
    await closing
    await Promise.all(appended)
    const entries = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; count?: number })
    expect(entries.filter((e) => e.kind === 'outcome')).toHaveLength(1 + late)
    const last = entries.at(-1)
    expect(last?.kind).toBe('checkpoint')
    expect(last?.count).toBe(entries.length - 1)
    const report = await verifyDecisionLogFile(path, { key: log.signer })
    expect(report.ok).toBe(true)
  })

  it('refuses an append once closed', async () => {
    const log = await openDecisionLog({ path: join(dir, 'closed.jsonl'), identity: alice, checkpointIntervalMs: 0 })
    await log.close()
    await expect(log.append(outcome(0))).rejects.toMatchObject({ code: 'aborted' })
  })
})
