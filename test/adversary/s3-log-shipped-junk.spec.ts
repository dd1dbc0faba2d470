/**
 * Attacker's review round 3: shipped checkpoints read back from syslog. Any local user can write to
 * syslog under the tag `peerguard-log` (`logger -t peerguard-log …`), so the lines
 * `journalctl -t peerguard-log -o cat` returns are not all the node's. A line that is not a head
 * signed by the log's signer proves nothing about the log: it must neither make a good log look
 * tampered nor stand in front of a real roll-back (the report must name the truncation, not the
 * junk). Real files, real keys, the real shipper.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { createCheckpointShipper, type DecisionRecord, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { HEAD_DOMAIN } from '@peerguard/decision-log/format'
import { generateKeyPair, peerIdFromPublicKey, sign } from '@peerguard/identity'

const alice = generateKeyPair()
const mallory = generateKeyPair()
const ALICE = peerIdFromPublicKey(alice.publicKey).toString()
const MALLORY = peerIdFromPublicKey(mallory.publicKey).toString()

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
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true, maxRetries: 5 })))
})

/** A closed log with its shipped checkpoints, and a copy of log and head from the middle. */
async function shippedLog(): Promise<{ path: string; shipped: string; oldLog: string; oldHead: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-s3-shipped-'))
  dirs.push(dir)
  const path = join(dir, 'd.jsonl')
  const shippedPath = join(dir, 'syslog.txt')
  const log = await openDecisionLog({
    path,
    identity: alice,
    checkpointEvery: 3,
    checkpointIntervalMs: 0,
    onCheckpoint: createCheckpointShipper({ file: shippedPath })
  })
  let oldLog = ''
  let oldHead = ''
  for (let i = 0; i < 9; i++) {
    await log.append(op(i))
    if (i === 3) {
      await log.checkpoint()
      oldLog = await readFile(path, 'utf8')
      oldHead = await readFile(`${path}.head`, 'utf8')
    }
  }
  await log.close()
  return { path, shipped: await readFile(shippedPath, 'utf8'), oldLog, oldHead }
}

/** A well-formed head that Mallory (any local user with a key) signed herself. */
function malloryHead(entries: number, hash: string): string {
  const sig = Buffer.from(sign(new TextEncoder().encode(`${HEAD_DOMAIN}\n${entries}\n${hash}`), mallory.secretKey))
  return JSON.stringify({ v: 1, entries, hash, signer: MALLORY, sig: sig.toString('base64') })
}

/**
 * What a local user can put into syslog under the tag (journalctl -o cat keeps only the message).
 * Blank lines are skipped without a word by design (a file ends with one), so junk is never blank —
 * a random seed in CI found `""`, which the warning check below cannot expect a warning for.
 */
const junkLine = fc.oneof(
  fc.string({ maxLength: 80 }).filter((s) => s.trim() !== ''),
  fc.constant('{"v":1,"entries":999,"hash":"00","signer":"x","sig":"AA"}'),
  fc.constant(malloryHead(999, 'f'.repeat(64))),
  fc.constant(`{"v":1,"entries":999,"hash":"${'a'.repeat(64)}","signer":"${ALICE}","sig":"${'A'.repeat(86)}=="}`)
)

/** Junk lines put between (before, after) the node's own shipped lines. */
function interleave(shipped: string, junk: string[], at: number[]): string {
  const lines = shipped.split('\n').filter((l) => l !== '')
  junk.forEach((j, i) => {
    lines.splice(Math.min(at[i] ?? 0, lines.length), 0, j)
  })
  return `${lines.join('\n')}\n`
}

describe('junk in the shipped checkpoints (anyone can write to syslog)', () => {
  it('a good log stays good: junk lines are ignored with a warning, every genuine head is still checked', async () => {
    const { path, shipped } = await shippedLog()
    const genuine = shipped.split('\n').filter((l) => l !== '').length
    await fc.assert(
      fc.asyncProperty(
        fc.array(junkLine, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(12), { minLength: 4, maxLength: 4 }),
        async (junk, at) => {
          const report = await verifyDecisionLogFile(path, { key: ALICE, checkpoints: interleave(shipped, junk, at) })
          expect(report.firstBad).toBeUndefined()
          expect(report.ok).toBe(true)
          expect(report.shippedChecked).toBe(genuine)
          expect(report.warnings.join('\n')).toMatch(/checkpoints file.*ignored/)
        }
      ),
      { numRuns: 40 }
    )
  }, 60_000)

  it('a rolled-back log is reported as cut off, whatever junk the attacker put in front', async () => {
    const { path, shipped, oldLog, oldHead } = await shippedLog()
    await writeFile(path, oldLog)
    await writeFile(`${path}.head`, oldHead)
    await fc.assert(
      fc.asyncProperty(
        fc.array(junkLine, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(12), { minLength: 4, maxLength: 4 }),
        async (junk, at) => {
          const report = await verifyDecisionLogFile(path, { key: ALICE, checkpoints: interleave(shipped, junk, at) })
          expect(report.ok).toBe(false)
          expect(['log-truncated', 'log-chain-broken']).toContain(report.firstBad?.code)
        }
      ),
      { numRuns: 40 }
    )
  }, 60_000)
})
