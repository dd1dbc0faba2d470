/**
 * needs(): a missing capability is a visible skip, or with PEERGUARD_REQUIRE_ALL=1 a failure. The
 * two modes are checked on a real child Jest run of test/fixtures/needs.fixture.ts, with root hidden
 * through PEERGUARD_TEST_WITHOUT (so it holds on any machine).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import {
  CAPABILITIES,
  type Capability,
  capabilityHint,
  hasCapability,
  needs,
  REQUIRE_ALL_ENV,
  requireAll,
  WITHOUT_ENV
} from '@peerguard/test-utils'

const ROOT = join(import.meta.dirname, '..', '..', '..')

interface JestJson {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  testResults: Array<{ assertionResults: Array<{ title: string; status: string; failureMessages: string[] }> }>
}

/** Run the fixture in a child Jest with `env` added; the JSON report, exit code and stderr. */
function runFixture(env: Record<string, string>): { code: number | null; report: JestJson; stderr: string } {
  const childEnv = { ...process.env, ...env }
  // The parent's own setting must not leak into the child's modes.
  if (!(REQUIRE_ALL_ENV in env)) delete childEnv[REQUIRE_ALL_ENV]
  const r = spawnSync(
    process.execPath,
    [
      '--experimental-vm-modules',
      join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--runInBand',
      '--json',
      '--testMatch',
      '<rootDir>/packages/test-utils/test/fixtures/needs.fixture.ts'
    ],
    { cwd: ROOT, env: childEnv, encoding: 'utf8', timeout: 240_000 }
  )
  return { code: r.status, report: JSON.parse(r.stdout) as JestJson, stderr: r.stderr }
}

describe('needs(): a missing capability cannot hide', () => {
  it('without PEERGUARD_REQUIRE_ALL: the gated tests are skipped, the run passes, stderr says why once per gate', () => {
    const { code, report, stderr } = runFixture({ [WITHOUT_ENV]: 'root' })
    expect(code).toBe(0)
    expect(report).toMatchObject({ numPassedTests: 1, numFailedTests: 0, numPendingTests: 2 })
    const lines = stderr.split('\n').filter((l) => l.startsWith('peerguard tests: SKIPPED'))
    expect(lines).toEqual([
      'peerguard tests: SKIPPED the needs() fixture, a block: missing root (run the tests as root); PEERGUARD_REQUIRE_ALL=1 makes this a failure',
      'peerguard tests: SKIPPED the needs() fixture, one test: missing root (run the tests as root); PEERGUARD_REQUIRE_ALL=1 makes this a failure'
    ])
  }, 240_000)

  it('with PEERGUARD_REQUIRE_ALL=1: each gate is a failing test that names what is missing', () => {
    const { code, report } = runFixture({ [WITHOUT_ENV]: 'root', [REQUIRE_ALL_ENV]: '1' })
    expect(code).toBe(1)
    expect(report).toMatchObject({ numPassedTests: 1, numFailedTests: 2, numPendingTests: 0 })
    const failed = report.testResults.flatMap((f) => f.assertionResults).filter((a) => a.status === 'failed')
    expect(failed.map((a) => a.title).sort()).toEqual(['a test that needs root', 'needs root'])
    for (const a of failed)
      expect(a.failureMessages.join('\n')).toMatch(
        /PEERGUARD_REQUIRE_ALL is set and this test cannot run: the needs\(\) fixture, .*; missing root \(run the tests as root\)/
      )
  }, 240_000)
})

describe('needs() and its probes', () => {
  it('a present capability gives the real describe and it', () => {
    // Any machine that runs this suite has one of these (the CLI tests need openssl anyway).
    const present = (['root', 'openssl', 'python3', 'curl'] as const).find((c) => hasCapability(c))
    if (present === undefined) throw new Error('none of root, openssl, python3, curl is present')
    const gate = needs(present, 'a probe that is present')
    expect(gate).toMatchObject({ ok: true, missing: [] })
    expect(gate.it).toBe(it)
    expect(gate.describe).toBe(describe)
  })

  it('root is the effective user id 0', () => {
    expect(hasCapability('root')).toBe(process.getuid?.() === 0)
  })

  it('PEERGUARD_TEST_WITHOUT hides a capability', () => {
    const before = process.env[WITHOUT_ENV]
    process.env[WITHOUT_ENV] = 'curl, root'
    try {
      expect(hasCapability('root')).toBe(false)
      expect(hasCapability('curl')).toBe(false)
    } finally {
      if (before === undefined) delete process.env[WITHOUT_ENV]
      else process.env[WITHOUT_ENV] = before
    }
  })

  it('a tool probe answers for what is on PATH', () => {
    const sh = spawnSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' }).status === 0
    expect(hasCapability('tcpdump')).toBe(sh)
  })

  it('every capability has an install hint', () => {
    for (const c of CAPABILITIES) expect(capabilityHint(c)).toMatch(/\S/)
    expect(CAPABILITIES).toEqual(
      expect.arrayContaining([
        'root',
        'pcap',
        'tshark',
        'tcpdump',
        'smbd',
        'vsftpd',
        'openssl',
        'aria2c',
        'stunnel4',
        'netns',
        'curl'
      ])
    )
  })

  it('PEERGUARD_REQUIRE_ALL: set means any value but empty, 0 or false', () => {
    expect(requireAll({})).toBe(false)
    expect(requireAll({ [REQUIRE_ALL_ENV]: '' })).toBe(false)
    expect(requireAll({ [REQUIRE_ALL_ENV]: '0' })).toBe(false)
    expect(requireAll({ [REQUIRE_ALL_ENV]: 'FALSE' })).toBe(false)
    expect(requireAll({ [REQUIRE_ALL_ENV]: '1' })).toBe(true)
    expect(requireAll({ [REQUIRE_ALL_ENV]: 'yes' })).toBe(true)
  })

  it('checks its arguments', () => {
    expect(() => hasCapability('nmap' as Capability)).toThrow(
      expect.objectContaining({
        code: 'invalid-argument',
        message: expect.stringMatching(/^capability: expected one of root, pcap, .* got "nmap"$/)
      })
    )
    expect(() => hasCapability('toString' as Capability)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => needs([], 'nothing')).toThrow('capabilities: expected a capability or a non-empty array of them')
    expect(() => needs('root', '  ')).toThrow('reason: expected a non-empty string')
    expect(() => needs(['root', 'nmap' as Capability], 'a typo')).toThrow(/got "nmap"/)
  })
})
