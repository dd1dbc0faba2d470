import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it, jest } from '@jest/globals'
import { BIN, ensureCliBuilt, ROOT } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

/** Black-box: `npm start` runs this, the built binary in its own process. */
function peerguardProcess(...args: string[]): { code: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 })
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

/** In-process (run-cli.ts). */
function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: ROOT })
}

beforeAll(() => {
  ensureCliBuilt()
}, 180000)

describe('peerguard demo (npm start)', () => {
  it('runs every step over loopback, prints the table, verifies the log and cleans up', async () => {
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('peerguard-demo-')))
    const r = peerguardProcess('demo')
    expect(r.stderr).toBe('')
    // the process exited by itself: nothing left running (else spawnSync's timeout would have killed it)
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
    const out = r.stdout
    expect(out).toMatch(/hardened\s+bob\s+read public\/notice.txt\s+allowed\s+allowed \(rule everyone-reads-public\)\s+ok/)
    expect(out).toMatch(/hardened\s+bob\s+write public\/notice.txt\s+denied\s+denied: share-denied, file unchanged\s+ok/)
    expect(out).toMatch(/hardened\s+mallory\s+connect \(no certificate\)\s+refused\s+refused at the handshake/)
    expect(out).toMatch(/plain\s+bob\s+write public\/notice.txt\s+allowed\s+allowed: notice overwritten/)
    expect(out).toMatch(/plain\s+mallory\s+connect, read docs\/salaries.csv\s+allowed/)
    expect(out).toMatch(/verify the decision log\s+verifies\s+\d+ entries/)
    expect(out).toMatch(/detected: log-entry-hash-mismatch at line \d+\s+ok/)
    expect(out).toContain('every step behaved as expected')
    expect(out).not.toContain('UNEXPECTED')
    // the workspace is gone; only the decision log directory was added
    const added = readdirSync(tmpdir()).filter((n) => n.startsWith('peerguard-demo-') && !before.has(n))
    expect(added.every((n) => n.startsWith('peerguard-demo-log-'))).toBe(true)
    // the printed verify command works
    const m = /verify it yourself: peerguard audit log verify (\S+) --key (\S+)/.exec(out)
    expect(m).not.toBeNull()
    const v = await peerguard('audit', 'log', 'verify', m?.[1] as string, '--key', m?.[2] as string)
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/: OK: \d+ entries, 1 checkpoint signed by/)
    for (const n of added) spawnSync('rm', ['-rf', join(tmpdir(), n)])
  })

  it('--json gives the steps and the log summary', async () => {
    const r = await peerguard('demo', '--json')
    expect(r.code).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.ok).toBe(true)
    expect(j.steps.length).toBeGreaterThanOrEqual(9)
    expect(j.steps.every((s: { ok: boolean }) => s.ok)).toBe(true)
    expect(j.log.ok).toBe(true)
    expect(existsSync(j.log.path)).toBe(true)
    expect(existsSync(j.workspace)).toBe(false)
    spawnSync('rm', ['-rf', dirname(j.log.path)])
  })
})
