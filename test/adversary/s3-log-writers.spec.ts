/**
 * Attacker's review round 3: the decision log file changes under a running writer. A second writer
 * on the same log (a second node, or `share serve --log` beside `peerguard node`, with the same
 * identity), or the file renamed away, deleted or replaced while the node runs: every decision must
 * still be written to the file at the log's path before the operation, or the operation refused
 * (fail closed, `log-file-changed`) — never written into an unlinked inode, never interleaved with
 * another writer's chain. Real files, real keys, two real DecisionLog writers.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { appendFile, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { type DecisionLog, type DecisionRecord, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'

const alice = generateKeyPair()
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

const dirs: string[] = []
const logs: DecisionLog[] = []
afterEach(async () => {
  await Promise.all(logs.splice(0).map((l) => l.close().catch(() => {})))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true, maxRetries: 5 })))
})

async function fresh(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-s3-writers-'))
  dirs.push(dir)
  return join(dir, 'decisions.jsonl')
}

async function open(path: string): Promise<DecisionLog> {
  const log = await openDecisionLog({ path, identity: alice, checkpointEvery: 4, checkpointIntervalMs: 0 })
  logs.push(log)
  return log
}

const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'written',
    (err: unknown) => (err as { code?: string }).code ?? 'no code'
  )

describe('a second writer on one decision log', () => {
  it('the writer that finds the file grown by someone else refuses (log-file-changed) and the file still verifies', async () => {
    const path = await fresh()
    const a = await open(path)
    for (let i = 0; i < 3; i++) await a.append(op(i))
    const b = await open(path) // the same identity: b adopts a's unsigned entries and goes on
    await b.append(op(100))
    // a's next decision would chain onto its own view (seq 3) after b's entry: refused, not written
    expect(await codeOf(a.append(op(3)))).toBe('log-file-changed')
    expect(a.available).toBe(false)
    // sticky: the file is no longer a's to extend, however often it tries
    expect(await codeOf(a.append(op(4)))).toBe('log-file-changed')
    await b.append(op(101))
    await b.close()
    const report = await verifyDecisionLogFile(path, { key: alice.publicKey })
    expect(report.firstBad).toBeUndefined()
    expect(report.signer).toBe(ALICE)
  })

  it('any interleaving of two writers leaves a file that verifies, and every acknowledged entry is in it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }), async (who) => {
        const path = await fresh()
        const a = await open(path)
        await a.append(op(-1))
        const b = await open(path)
        const acknowledged: string[] = []
        let i = 0
        for (const useA of who) {
          const name = `${useA ? 'a' : 'b'}-${i++}`
          const rec = { ...op(0), resource: `share:docs/${name}` }
          if ((await codeOf((useA ? a : b).append(rec))) === 'written') acknowledged.push(name)
        }
        await Promise.all([a.close(), b.close()])
        const report = await verifyDecisionLogFile(path, { key: alice.publicKey })
        expect(report.firstBad).toBeUndefined()
        const text = await readFile(path, 'utf8')
        for (const name of acknowledged) expect(text).toContain(`"share:docs/${name}"`)
      }),
      { numRuns: 25 }
    )
  }, 120_000)
})

describe('the log file replaced under a running writer', () => {
  it.each([
    ['renamed away (rotation without telling the node)', async (p: string) => rename(p, `${p}.1`)],
    ['deleted', async (p: string) => unlink(p)],
    [
      'replaced by another file',
      async (p: string) => {
        await rename(p, `${p}.old`)
        await writeFile(p, '')
      }
    ],
    ['appended to by someone else', async (p: string) => appendFile(p, '{"v":1}\n')]
  ])('%s: the next decision is refused with log-file-changed, nothing is written anywhere', async (_what, change) => {
    const path = await fresh()
    const log = await open(path)
    for (let i = 0; i < 2; i++) await log.append(op(i))
    await change(path)
    const before = await readFile(path).catch(() => undefined)
    const old = await readFile(`${path}.1`)
      .catch(() => readFile(`${path}.old`))
      .catch(() => undefined)
    expect(await codeOf(log.append(op(2)))).toBe('log-file-changed')
    expect(await codeOf(log.append(op(3)))).toBe('log-file-changed')
    expect(log.available).toBe(false)
    // nothing reached the file at the path, nor the one moved away
    expect(await readFile(path).catch(() => undefined)).toEqual(before)
    expect(
      await readFile(`${path}.1`)
        .catch(() => readFile(`${path}.old`))
        .catch(() => undefined)
    ).toEqual(old)
  })
})
