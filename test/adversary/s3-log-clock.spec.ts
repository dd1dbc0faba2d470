/**
 * Attacker's review round 3: the node's clock goes backwards (a spoofed NTP answer, a bad RTC after
 * a reboot). Entries written afterwards carry older timestamps than the ones before them, though the
 * chain proves they came later. `audit log show --since` must not hide them: "rows from then on"
 * means from the first row at or after that time on, in log order. Real log, in-process CLI.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DecisionRecord, openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { runCli } from '../../packages/cli/test/run-cli.js'

const alice = generateKeyPair()
const ALICE = peerIdFromPublicKey(alice.publicKey).toString()
const HOUR = 3_600_000

const op = (resource: string): DecisionRecord => ({
  kind: 'operation',
  allowed: false,
  code: 'deny',
  reason: 'no rule allows it',
  peer: { peerId: 'BOB', name: 'bob' },
  action: 'write',
  verb: 'put',
  resource: `share:${resource}`
})

let dir: string
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('a clock set back while the node runs', () => {
  it('`log show --since` still shows every entry written after the first one in the window', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-s3-clock-'))
    const path = join(dir, 'decisions.jsonl')
    let now = Date.now() - 2 * HOUR // before the window
    const log = await openDecisionLog({ path, identity: alice, checkpointIntervalMs: 0, clock: { now: () => now } })
    await log.append(op('docs/old.txt'))
    now = Date.now() - 10 * 60_000 // within the last hour
    await log.append(op('docs/in-window.txt'))
    now -= 3 * 24 * HOUR // the clock jumps three days back
    await log.append(op('hr/salaries.xlsx'))
    await log.close()
    const r = await runCli(['audit', 'log', 'show', path, '--key', ALICE, '--since', '1h', '--format', 'json'], { cwd: dir })
    expect(r.code).toBe(0)
    const rows = (JSON.parse(r.stdout) as { rows: Array<{ resource: string }> }).rows.map((x) => x.resource)
    expect(rows).toContain('share:docs/in-window.txt')
    expect(rows).toContain('share:hr/salaries.xlsx')
    expect(rows).not.toContain('share:docs/old.txt')
    // and a window nothing falls in shows nothing
    const none = await runCli(['audit', 'log', 'show', path, '--key', ALICE, '--since', '1s', '--format', 'json'], {
      cwd: dir
    })
    expect((JSON.parse(none.stdout) as { rows: unknown[] }).rows).toEqual([])
  })
})
