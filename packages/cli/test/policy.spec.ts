import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { BIN, ensureCliBuilt, ROOT } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

const OFFICE = join(ROOT, 'policies', 'office.yaml')
/** A peer ID not named in office.yaml (peerguard text form), and alice's in the libp2p form. */
const NEW_HIRE = '3OJ76MM-MSUG2R3-TTSRKRC-3UIGSVS-2PU3ZW5-VSUXXLK-MSW3H6U-N544EAY'
const ALICE_LIBP2P = '12D3KooWHwqJSBb1NDs4j3M4Eb6bioX4WkyzKTtjpniQ4TQecCtL'

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: ROOT })
}

/** Black-box: the built binary in its own process. */
function peerguardProcess(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

let dir: string
beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-policy-'))
}, 180000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard policy lint', () => {
  it('a clean policy: exit 0, summary on stdout', async () => {
    const r = await peerguard('policy', 'lint', OFFICE)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('0 errors, 0 warnings')
  })

  it('a shadowed rule: exit 1, located finding with its code; --json carries the same', async () => {
    const file = join(dir, 'shadow.yaml')
    await writeFile(
      file,
      'version: 1\nrules:\n  - id: a\n    allow: [read]\n    peers: ["*"]\n    resources: ["share:docs/x/**"]\n  - id: d\n    deny: [read]\n    peers: ["*"]\n    resources: ["share:docs/**"]\n'
    )
    const r = await peerguard('policy', 'lint', file)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`${file}:3:5: error: allow rule "a" never applies`)
    expect(r.stdout).toContain('[policy-lint-shadowed]')
    const j = await peerguard('policy', 'lint', file, '--json')
    expect(j.code).toBe(1)
    const out = JSON.parse(j.stdout) as { ok: boolean; findings: Array<{ code: string; source: { line: number } }> }
    expect(out.ok).toBe(false)
    expect(out.findings[0]).toMatchObject({ code: 'policy-lint-shadowed', source: { line: 3 } })
  })

  it('a file that does not load is a lint error with its location and a suggestion', async () => {
    const file = join(dir, 'typo.yaml')
    await writeFile(file, 'version: 1\nrules:\n  - alow: [read]\n    peers: ["*"]\n    resources: ["share:x"]\n')
    const r = await peerguard('policy', 'lint', file)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`${file}:3:5: error: unknown key "alow"`)
    expect(r.stdout).toContain('did you mean "allow"?')
  })

  it('reports every error at once, each located with its code (bad peer ID, unknown group, bad glob)', async () => {
    const file = join(dir, 'many.yaml')
    await writeFile(
      file,
      [
        'version: 1',
        'peers:',
        '  alice: { id: pg1-alice }',
        'rules:',
        '  - allow: [read]',
        '    peers: [stafff]',
        '    resources: ["share:hr|payroll/**"]',
        '  - deny: [read]',
        '    peers: ["id:ABC"]',
        '    resources: ["share:docs/**"]',
        ''
      ].join('\n')
    )
    const r = await peerguard('policy', 'lint', file)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`${file}:3:16: error: bad peer ID "pg1-alice"`)
    expect(r.stdout).toContain('[policy-bad-peer-id]')
    expect(r.stdout).toMatch(/:6:\d+: error: unknown peer or group "stafff".*\[policy-unknown-group\]/)
    expect(r.stdout).toMatch(/:7:\d+: error: bad resource pattern "share:hr\|payroll\/\*\*".*\[policy-bad-glob\]/)
    expect(r.stdout).toMatch(/:9:\d+: error: bad peer ID "ABC".*\[policy-bad-peer-id\]/)
    expect(r.stdout).toContain('4 errors, 0 warnings')
    const j = JSON.parse((await peerguard('policy', 'lint', file, '--json')).stdout) as {
      errors: number
      findings: Array<{ code: string }>
    }
    expect(j.errors).toBe(4)
  })
})

describe('peerguard policy test', () => {
  it.each(['office', 'home', 'private-swarm'])('the %s example passes its own tests', async (name) => {
    const r = await peerguard('policy', 'test', join(ROOT, 'policies', `${name}.yaml`))
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/\d+ passed, 0 failed/)
  })

  it('a failing assertion: exit 1, FAIL line naming the rule that decided (black box)', async () => {
    const text = (await readFile(OFFICE, 'utf8')).replace('peers: [everyone]', 'peers: [staff]')
    const file = join(dir, 'broken.yaml')
    await writeFile(file, text)
    const r = peerguardProcess('policy', 'test', file)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/FAIL .*a guest reads the public share: can read share:public\/readme\.txt .*deny-default/)
    const j = JSON.parse(peerguardProcess('policy', 'test', file, '--json').stdout) as {
      passed: boolean
      failed: number
      results: Array<{ code: string }>
    }
    expect(j.passed).toBe(false)
    expect(j.failed).toBeGreaterThan(0)
    expect(j.results.some((x) => x.code === 'policy-test-failed')).toBe(true)
  })

  it('an invalid file: exit 3 and a located error on stderr, JSON error with --json', async () => {
    const file = join(dir, 'cyclic.yaml')
    await writeFile(file, 'version: 1\ngroups:\n  a: [b]\n  b: [a]\nrules: []\n')
    const r = await peerguard('policy', 'test', file)
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/^peerguard: error: .*cyclic\.yaml:\d+:\d+: groups form a cycle/m)
    const j = await peerguard('policy', 'test', file, '--json')
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).toBe('policy-cyclic-group')
  })
})

describe('peerguard policy explain', () => {
  it('an allowed request: exit 0, the deciding rule and every rule considered', async () => {
    const r = await peerguard(
      'policy',
      'explain',
      OFFICE,
      '--peer',
      'alice',
      '--action',
      'get',
      '--resource',
      'share:docs/q3.pdf'
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ALLOW get share:docs\/q3\.pdf for peer "alice" \[allow\]/)
    expect(r.stdout).toMatch(/=> allow\s+staff-docs/)
    expect(r.stdout).toContain('no-secrets-for-guests')
  })

  it('a denied request: exit 1; --json gives the decision with its stable code', async () => {
    const args = ['policy', 'explain', OFFICE, '--peer', 'carol', '--action', 'write', '--resource', 'share:docs/plan.odt']
    expect((await peerguard(...args)).code).toBe(1)
    const j = await peerguard(...args, '--json')
    expect(j.code).toBe(1)
    const e = JSON.parse(j.stdout) as { decision: { allowed: boolean; code: string; rule: { id: string } }; rules: unknown[] }
    expect(e.decision).toMatchObject({ allowed: false, code: 'deny-rule', rule: { id: 'no-secrets-for-guests' } })
    expect(e.rules.length).toBe(7)
  })

  it('context options: certificate groups, address, time, plain channel', async () => {
    const base = [
      'policy',
      'explain',
      OFFICE,
      '--peer',
      NEW_HIRE,
      '--group',
      'staff',
      '--action',
      'print',
      '--resource',
      'service:printer'
    ]
    expect((await peerguard(...base, '--address', '192.168.10.5', '--time', '2025-03-04T10:00:00+01:00')).code).toBe(0)
    expect((await peerguard(...base, '--address', '10.0.0.5', '--time', '2025-03-04T10:00:00+01:00')).code).toBe(1)
    const plain = await peerguard(
      'policy',
      'explain',
      OFFICE,
      '--peer',
      'alice',
      '--action',
      'get',
      '--resource',
      'share:docs/a',
      '--plain'
    )
    expect(plain.code).toBe(1)
    expect(plain.stdout).toContain('[deny-requirement]')
  })

  it('refuses a peer name the policy does not define (no guessing), exit 2 with a suggestion', async () => {
    const r = await peerguard('policy', 'explain', OFFICE, '--peer', 'alcie', '--action', 'get', '--resource', 'share:docs/a')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('unknown peer "alcie"')
    expect(r.stderr).toContain('did you mean "alice"?')
    const j = await peerguard(
      'policy',
      'explain',
      OFFICE,
      '--peer',
      'alcie',
      '--action',
      'get',
      '--resource',
      'share:docs/a',
      '--json'
    )
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).toBe('policy-unknown-peer')
  })

  it('accepts a peer ID in the libp2p form: the same peer as its peerguard form', async () => {
    const r = await peerguard(
      'policy',
      'explain',
      OFFICE,
      '--peer',
      ALICE_LIBP2P,
      '--name',
      'alice.office.lan',
      '--action',
      'get',
      '--resource',
      'share:docs/a'
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('for peer ID PDDT24E-DNE2NW5-R5HYEHD-36YDU66-YENC4VM-BILEXRL-SRXBF3H-SNWNKQA [allow]')
  })

  it('usage errors exit 2', async () => {
    expect(
      (await peerguard('policy', 'explain', OFFICE, '--peer', 'alice', '--action', 'steal', '--resource', 'share:a')).code
    ).toBe(2)
    expect((await peerguard('policy', 'explain', OFFICE, '--peer', 'alice', '--action', 'get', '--resource', 'nfs:a')).code).toBe(
      2
    )
    expect((await peerguard('policy', 'explain', OFFICE, '--peer', 'alice', '--action', 'get')).code).toBe(2)
    expect(
      (await peerguard('policy', 'explain', OFFICE, '--peer', 'a', '--action', 'get', '--resource', 'share:a', '--size', 'big'))
        .code
    ).toBe(2)
  })

  it('a missing file: exit 3', async () => {
    const r = await peerguard('policy', 'lint', join(dir, 'nope.yaml'))
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('no such policy file')
  })
})

describe('peerguard policy diff', () => {
  it('no semantic change: exit 0', async () => {
    const r = await peerguard('policy', 'diff', OFFICE, OFFICE)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^0 decisions changed of \d+ checked/m)
  })

  it('lists changed decisions, exit 1, and --json', async () => {
    const file = join(dir, 'new.yaml')
    await writeFile(file, (await readFile(OFFICE, 'utf8')).replace('peers: [everyone]', 'peers: [staff]'))
    const r = await peerguard('policy', 'diff', OFFICE, file)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^carol get share:public.*: allow \(public-read\) -> deny-default$/m)
    const j = JSON.parse((await peerguard('policy', 'diff', OFFICE, file, '--json')).stdout) as {
      changes: Array<{ peer: string }>
    }
    expect(j.changes.every((c) => c.peer !== 'alice' && c.peer !== 'bob')).toBe(true)
  })
})
