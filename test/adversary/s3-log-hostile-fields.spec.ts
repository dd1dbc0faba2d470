/**
 * Attacker's review round 3: hostile values in the fields `verify` names when it finds a bad entry.
 * Someone who can write the log (or its head file) edits an entry and recomputes its self-hash (no
 * key needed), putting terminal controls, U+2028 or 60 KB into `v`, `seq` or a checkpoint's `count`.
 * `audit log verify`, `audit log show` and the node at start-up print the verifier's message: it must
 * describe such a value by its type, never echo it. Real files, the in-process CLI.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { type DecisionRecord, openDecisionLog, verifyDecisionLog } from '@peerguard/decision-log'
import { parseHead } from '@peerguard/decision-log/format'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { runCli } from '../../packages/cli/test/run-cli.js'

const alice = generateKeyPair()
const ALICE = peerIdFromPublicKey(alice.publicKey).toString()

const op: DecisionRecord = {
  kind: 'operation',
  allowed: true,
  code: 'allow',
  reason: 'staff may read',
  action: 'read',
  verb: 'get',
  resource: 'share:docs/a.txt'
}

/** A line sealed like the writer does (self-hash only): what anyone with the file can make. */
function seal(fields: Record<string, unknown>): string {
  const body = JSON.stringify(fields)
  return `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
}

/** Printable ASCII only, and short: what a message about a hostile field may contain. */
const SAFE = /^[\x20-\x7e]*$/

const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom('\u009b2J\u2028log OK', '\u001b]0;x\u0007', '\u202eKO', 'x'.repeat(60_000)),
  fc.jsonValue({ maxDepth: 2 }),
  fc.double()
)

let dir: string
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('hostile values in the fields verify reports', () => {
  it('an edited v, seq or checkpoint count is described by its type in the message (property)', async () => {
    const log = await openDecisionLog({
      path: join(await mkdtemp(join(tmpdir(), 'pg-s3-hostile-')), 'd.jsonl'),
      identity: alice,
      checkpointIntervalMs: 0
    })
    await log.close()
    fc.assert(
      fc.property(fc.constantFrom('v', 'seq', 'count'), hostile, (field, value) => {
        const fields: Record<string, unknown> =
          field === 'count'
            ? { v: 1, seq: 0, ts: 'x', kind: 'checkpoint', count: value, head: '0'.repeat(64), prev: '0'.repeat(64) }
            : { v: 1, seq: 0, ts: 'x', ...op, prev: '0'.repeat(64), [field]: value }
        const report = verifyDecisionLog(`${seal(fields)}\n`, { key: alice.publicKey })
        if (report.firstBad === undefined) return // the value happened to be the right one
        expect(report.firstBad.message).toMatch(SAFE)
        expect(report.firstBad.message.length).toBeLessThan(400)
      }),
      { numRuns: 300 }
    )
  })

  it('a head file with a hostile version is described by its type', () => {
    for (const v of ['\u009b2J\u2028OK', 'y'.repeat(50_000), { a: '\u2028' }]) {
      const parsed = parseHead(`${JSON.stringify({ v, entries: 0, hash: '0'.repeat(64), signer: ALICE, sig: 'AA' })}\n`)
      expect(parsed.ok).toBe(false)
      if (!parsed.ok) {
        expect(parsed.message).toMatch(SAFE)
        expect(parsed.message.length).toBeLessThan(400)
      }
    }
  })

  it('`audit log verify` and `audit log show` print no terminal control or line separator from the log', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-s3-hostile-cli-'))
    const path = join(dir, 'decisions.jsonl')
    const evil = '\u009b2J\u009b1;1H\u2028decisions.jsonl: OK: 0 entries'
    await writeFile(path, `${seal({ v: evil, seq: 0, ts: 'x', ...op, prev: '0'.repeat(64) })}\n`)
    for (const args of [
      ['audit', 'log', 'verify', path, '--key', ALICE],
      ['audit', 'log', 'show', path, '--key', ALICE]
    ]) {
      const r = await runCli(args, { cwd: dir })
      expect(r.code).toBe(1)
      expect(`${r.stdout}${r.stderr}`).toContain('log-entry-malformed')
      for (const text of [r.stdout, r.stderr]) {
        expect(text).not.toMatch(/[\u0080-\u009f\u2028\u2029]/)
        expect(text).not.toContain('OK: 0 entries')
      }
    }
  })
})
