/** Black-box tests of `peerguard audit read` and `peerguard audit capture` (the built binary). */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { needs } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt, ROOT } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

/** Live capture needs root (raw sockets) and the optional `pcap` build. */
const live = needs(['root', 'pcap'], 'peerguard audit capture on lo')

const CORPUS = join(ROOT, 'packages', 'audit', 'test', 'fixtures', 'pcaps')

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(args: string[], cwd = ROOT): Promise<CliRun> {
  return runCli(args, { cwd: cwd })
}

/** Black-box: the built binary in its own process. */
function peerguardProcess(args: string[], cwd = ROOT): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

let dir: string
beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-audit-'))
}, 180000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard audit read', () => {
  it('prints findings, masks passwords, writes HTML, JSON and Markdown reports (0600) and exits 1', async () => {
    const out = join(dir, 'r1')
    const r = await peerguard(['audit', 'read', join(CORPUS, 'zeek-ftp-password-pass-command.pcap'), '--out', out])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/high\s+ftp-cleartext-credentials\s+FTP login Admin in clear/)
    expect(r.stdout).not.toContain('qwerty')
    const files = readdirSync(out).sort()
    expect(files.map((f) => f.replace(/.*\./, ''))).toEqual(['html', 'json', 'md'])
    expect(statSync(out).mode & 0o777).toBe(0o700)
    const json = JSON.parse(await readFile(join(out, files.find((f) => f.endsWith('.json'))!), 'utf8'))
    expect(Object.keys(json)).toEqual(['summary', 'overview', 'hosts', 'flows', 'findings', 'groups'])
    expect(json.findings[0]).toMatchObject({ code: 'ftp-cleartext-credentials', severity: 'high' })
    const md = await readFile(join(out, files.find((f) => f.endsWith('.md'))!), 'utf8')
    expect(md).toContain('# peerguard traffic audit')
    expect(md).toContain('`ftp-cleartext-credentials`')
    for (const f of files) expect(statSync(join(out, f)).mode & 0o777).toBe(0o600)
    expect(await readFile(join(out, files[0]!), 'utf8')).not.toContain('qwerty')
  })

  it('--json prints the report; --fail-on decides the exit code', async () => {
    const r = await peerguard([
      'audit',
      'read',
      join(CORPUS, 'sv-ssdp-notify.pcap'),
      '--json',
      '--no-write',
      '--fail-on',
      'medium'
    ])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.summary.packets).toBe(1)
    expect(report.findings.map((f: { code: string }) => f.code)).toEqual(['discovery-leak'])
    expect((await peerguard(['audit', 'read', join(CORPUS, 'sv-ssdp-notify.pcap'), '--no-write'])).code).toBe(1)
  })

  it('a profile from audits/ chooses the detectors', async () => {
    const r = await peerguard([
      'audit',
      'read',
      join(CORPUS, 'gen-smb2-unsigned.pcap'),
      '--profile',
      'credentials',
      '--json',
      '--no-write'
    ])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).findings.map((f: { code: string }) => f.code)).toEqual(['ntlm-auth'])
  })

  it('--inventory and --policy add unknown-peer and policy-violation', async () => {
    await writeFile(
      join(dir, 'inv.yaml'),
      'peers:\n  - name: desktop.lan\n    addresses: [192.168.199.132]\n  - name: server.lan\n    addresses: [192.168.199.133]\n    share: data\n'
    )
    await writeFile(
      join(dir, 'pol.yaml'),
      'version: 1\npeers:\n  desktop: { name: desktop.lan }\nrules:\n  - id: r\n    allow: [read]\n    peers: [desktop]\n    resources: ["share:data", "share:data/**"]\n'
    )
    const r = await peerguard([
      'audit',
      'read',
      join(CORPUS, 'sv-smb2-ntlmssp-negotiateflags.pcap'),
      '--inventory',
      join(dir, 'inv.yaml'),
      '--policy',
      join(dir, 'pol.yaml'),
      '--json',
      '--no-write'
    ])
    expect(r.code).toBe(1)
    const codes = JSON.parse(r.stdout).findings.map((f: { code: string }) => f.code)
    expect(codes).toContain('unknown-peer')
    expect(codes.filter((c: string) => c === 'policy-violation')).toHaveLength(2)
  })

  it('bad input: missing file, not a capture, bad options; typed errors and exit codes', async () => {
    const missing = await peerguard(['audit', 'read', join(dir, 'nope.pcap'), '--no-write'])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/^peerguard: error: .*no such capture file/m)
    await writeFile(join(dir, 'junk.pcap'), 'not a capture')
    const junk = await peerguard(['audit', 'read', join(dir, 'junk.pcap'), '--json', '--no-write'])
    expect(junk.code).toBe(3)
    expect(JSON.parse(junk.stdout).error.code).toBe('capture-format-invalid')
    expect((await peerguard(['audit', 'read', join(CORPUS, 'sv-ssdp-notify.pcap'), '--fail-on', 'severe'])).code).toBe(2)
    const prof = await peerguard([
      'audit',
      'read',
      join(CORPUS, 'sv-ssdp-notify.pcap'),
      '--profile',
      join(dir, 'inv.yaml'),
      '--no-write'
    ])
    expect(prof.code).toBe(3)
    expect(prof.stderr).toMatch(/peerguard: error: .*unknown key/)
    expect((await peerguard(['audit', 'read'])).code).toBe(2)
  })

  it('a truncated or corrupt capture is audited up to the damage and exits 5, never clean', async () => {
    const whole = await readFile(join(CORPUS, 'zeek-ftp-ipv4.pcap'))
    await writeFile(join(dir, 'cut.pcap'), whole.subarray(0, whole.length - 100))
    const r = await peerguard(['audit', 'read', join(dir, 'cut.pcap'), '--no-write'])
    expect(r.code).toBe(5)
    expect(r.stdout).toMatch(/ftp-cleartext-credentials/)
    expect(r.stderr).toMatch(/^peerguard: error: the capture is truncated/m)
    await writeFile(join(dir, 'garbage.pcap'), Buffer.concat([whole.subarray(0, 24), Buffer.from('garbage garbage garbage\n')]))
    const g = await peerguard(['audit', 'read', join(dir, 'garbage.pcap'), '--no-write', '--json'])
    expect(g.code).toBe(5)
    expect(JSON.parse(g.stdout).summary).toMatchObject({ packets: 0, integrity: 'corrupt' })
  })

  it('input errors have their own exit codes: a directory (3), magic-only files alike (3)', async () => {
    const d = await peerguard(['audit', 'read', dir, '--no-write'])
    expect(d.code).toBe(3)
    expect(d.stderr).toMatch(/^peerguard: error: .* is a directory, expected a capture file$/m)
    expect(d.stderr).not.toContain('internal error')
    for (const [name, hex] of [
      ['m.pcap', 'd4c3b2a1'],
      ['m.pcapng', '0a0d0d0a']
    ]) {
      await writeFile(join(dir, name!), Buffer.from(hex!, 'hex'))
      const m = await peerguard(['audit', 'read', join(dir, name!), '--no-write', '--json'])
      expect(m.code).toBe(3)
      expect(JSON.parse(m.stdout).error.code).toBe('capture-format-invalid')
    }
  })

  it('--profile NAME is an audit profile even when a folder of that name is here; the default report folder is stated', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'peerguard-cwd-'))
    await mkdir(join(cwd, 'credentials'))
    const r = await peerguard(
      ['audit', 'read', join(CORPUS, 'gen-smb2-unsigned.pcap'), '--profile', 'credentials', '--json', '--no-write'],
      cwd
    )
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).findings.map((f: { code: string }) => f.code)).toEqual(['ntlm-auth'])
    const none = await peerguard(['audit', 'read', join(CORPUS, 'sv-ssdp-notify.pcap'), '--profile', 'nosuch', '--no-write'], cwd)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no audit profile named "nosuch"\npeerguard: hint: profiles: .*credentials.*office/)
    // --no-write creates nothing; without it the default folder is named on stderr.
    expect(readdirSync(cwd)).toEqual(['credentials'])
    const w = await peerguard(['audit', 'read', join(CORPUS, 'sv-ssdp-notify.pcap')], cwd)
    expect(w.stderr).toContain(
      'peerguard: creating audits/reports/ for the reports (choose another folder with --out, or --no-write)'
    )
    expect(readdirSync(join(cwd, 'audits', 'reports'))).toHaveLength(3)
    await rm(cwd, { recursive: true, force: true, maxRetries: 5 })
  })

  it('--help shows an example', () => {
    const r = peerguardProcess(['audit', 'read', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Example:')
    expect(peerguardProcess(['audit', 'capture', '--help']).stdout).toContain('--iface')
  })
})

describe('peerguard audit capture', () => {
  it('an unknown interface is a failure with a clear message', async () => {
    const r = await peerguard(['audit', 'capture', '--iface', 'nosuchif0', '--duration', '1', '--no-write'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/peerguard: error: /)
  })

  live.it(
    'captures on loopback for a duration and reports libpcap counters',
    () => {
      const r = peerguardProcess([
        'audit',
        'capture',
        '--iface',
        'lo',
        '--filter',
        'udp port 9',
        '--duration',
        '1',
        '--no-write',
        '--json'
      ])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).summary.source).toMatchObject({ interface: 'lo', format: 'live' })
      expect(r.stderr).toMatch(/libpcap received \d+, dropped \d+, interface dropped \d+/)
    },
    30000
  )

  it('without the pcap build, capture fails with a hint that says what to install', async () => {
    // Hide `pcap` from the resolver the way a machine without libpcap-dev would lack it.
    const preload = join(dir, 'hide-pcap.cjs')
    await writeFile(
      preload,
      "const M = require('node:module')\nconst r = M._resolveFilename\nM._resolveFilename = function (req, ...rest) {\n  if (req === 'pcap') throw Object.assign(new Error(\"Cannot find module 'pcap'\"), { code: 'MODULE_NOT_FOUND' })\n  return r.call(this, req, ...rest)\n}\n"
    )
    const r = spawnSync(
      process.execPath,
      ['--require', preload, BIN, 'audit', 'capture', '--iface', 'lo', '--duration', '1', '--no-write'],
      { cwd: ROOT, encoding: 'utf8', timeout: 60000 }
    )
    expect(r.status).toBe(3)
    expect(r.stderr).toContain('optional `pcap` package')
    expect(r.stderr).toMatch(/peerguard: hint: .*libpcap/)
  }, 180_000)

  it('checks --duration and --rotate-mb', async () => {
    expect((await peerguard(['audit', 'capture', '--iface', 'lo', '--duration', '-3'])).code).toBe(2)
    expect((await peerguard(['audit', 'capture', '--iface', 'lo', '--duration', '1', '--rotate-mb', 'x'])).code).toBe(2)
  })
})

describe("peerguard audit capture of peerguard's own traffic", () => {
  live.it(
    'the real plain share is flagged (ops, paths) and the real hardened channel recognised',
    async () => {
      const { connect, createServer } = await import('node:net')
      const { mkdtempSync } = await import('node:fs')
      const { connectShare, createShareServer } = await import('@peerguard/share')
      const { secureInbound, secureOutbound } = await import('@peerguard/channel')
      const { generateKeyPair, peerIdFromPublicKey } = await import('@peerguard/identity')
      const root = mkdtempSync(join(tmpdir(), 'pg-share-root-'))
      const share = createShareServer({ root })
      const { port: sharePort } = await share.listen({ host: '127.0.0.1' })
      const a = generateKeyPair()
      const b = generateKeyPair()
      const channelServer = createServer(async (s) => {
        const ch = await secureInbound(s, { identity: b, pinnedPeers: [peerIdFromPublicKey(a.publicKey).toString()] })
        ch.on('data', () => {})
        ch.on('end', () => ch.end())
      })
      await new Promise<void>((r) => channelServer.listen(0, '127.0.0.1', () => r()))
      const chPort = (channelServer.address() as { port: number }).port
      const { spawn } = await import('node:child_process')
      const child = spawn(
        process.execPath,
        [
          BIN,
          'audit',
          'capture',
          '--iface',
          'lo',
          '--filter',
          `tcp port ${sharePort} or tcp port ${chPort}`,
          '--json',
          '--no-write'
        ],
        { cwd: ROOT }
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      // The traffic starts when the CLI says libpcap listens (however long start-up takes on a
      // busy machine), and the capture is stopped with Ctrl-C once the traffic is done: the CLI
      // drains what the kernel already captured before it reports.
      const listening = await Promise.race([
        new Promise<boolean>((r) => child.stderr.on('data', () => stderr.includes('peerguard: capturing on lo') && r(true))),
        exited.then(() => false)
      ])
      expect([listening, stderr]).toEqual([true, expect.stringContaining('peerguard: capturing on lo')])
      const client = await connectShare({ host: '127.0.0.1', port: sharePort })
      await client.writeFile('plan.txt', 'the plan\n')
      await client.list('')
      client.close()
      const sock = connect(chPort, '127.0.0.1')
      await new Promise((r) => sock.on('connect', r))
      const ch = await secureOutbound(sock, { identity: a, pinnedPeers: [peerIdFromPublicKey(b.publicKey).toString()] })
      ch.on('data', () => {})
      const closed = new Promise((r) => sock.once('close', r))
      ch.end(Buffer.alloc(50_000, 7))
      await closed
      child.kill('SIGINT')
      const code = await exited
      await share.close()
      channelServer.close()
      expect(stderr).not.toContain('optional `pcap` package')
      expect(code).toBe(1)
      const report = JSON.parse(stdout)
      const findings = (c: string) => report.findings.filter((f: { code: string }) => f.code === c)
      expect(findings('peerguard-plain')).toContainEqual(
        expect.objectContaining({
          evidence: expect.objectContaining({
            paths: expect.arrayContaining(['plan.txt']),
            ops: expect.arrayContaining(['write', 'list'])
          })
        })
      )
      expect(findings('peerguard-channel')).toContainEqual(
        expect.objectContaining({ severity: 'info', evidence: expect.objectContaining({ confidence: 0.95 }) })
      )
      expect(findings('bittorrent-encrypted')).toEqual([])
    },
    120_000
  )
})

describe('peerguard audit read --decision-log', () => {
  it('flows to a hardened node without a decision are unlogged-access; with the real decision log they are not', async () => {
    const { openDecisionLog } = await import('@peerguard/decision-log')
    const { generateKeyPair } = await import('@peerguard/identity')
    await writeFile(
      join(dir, 'hard.yaml'),
      'peers:\n  - name: desktop.lan\n    addresses: [192.168.199.132]\n  - name: server.lan\n    addresses: [192.168.199.133]\n    hardened: true\n'
    )
    const empty = join(dir, 'empty.jsonl')
    await writeFile(empty, '')
    const file = join(CORPUS, 'sv-smb2-ntlmssp-negotiateflags.pcap')
    const none = await peerguard([
      'audit',
      'read',
      file,
      '--inventory',
      join(dir, 'hard.yaml'),
      '--decision-log',
      empty,
      '--json',
      '--no-write'
    ])
    const report = JSON.parse(none.stdout)
    const unlogged = report.findings.filter((f: { code: string }) => f.code === 'unlogged-access')
    expect(unlogged).toHaveLength(6)
    const logPath = join(dir, 'decisions.jsonl')
    let now = 0
    const log = await openDecisionLog({ path: logPath, identity: generateKeyPair(), clock: { now: () => now } })
    for (const f of report.flows.filter(
      (x: { dst: string; dstPort: number }) => x.dst === '192.168.199.133' && x.dstPort === 445
    )) {
      now = Math.round(f.start * 1000)
      await log.append({
        kind: 'connection',
        event: 'accepted',
        code: 'allow',
        reason: 'ok',
        peer: { address: `${f.src}:${f.srcPort}` }
      })
    }
    await log.close()
    const logged = await peerguard([
      'audit',
      'read',
      file,
      '--inventory',
      join(dir, 'hard.yaml'),
      '--decision-log',
      logPath,
      '--json',
      '--no-write'
    ])
    expect(JSON.parse(logged.stdout).findings.filter((f: { code: string }) => f.code === 'unlogged-access')).toEqual([])
  })
})

describe('peerguard audit replay and exports (office LAN of the audit tests)', () => {
  it('replay names what a proposed policy would deny or newly allow, by whom; exit 1 when something changes', async () => {
    const { makeOffice, INVENTORY, POLICY, PROPOSED_POLICY } = await import('../../audit/test/traffic-office.js')
    const office = await makeOffice()
    await writeFile(join(office.dir, 'inv.json'), JSON.stringify(INVENTORY))
    await writeFile(join(office.dir, 'current.yaml'), POLICY)
    await writeFile(join(office.dir, 'proposed.yaml'), PROPOSED_POLICY)
    const args = [
      'audit',
      'replay',
      office.capture,
      '--inventory',
      join(office.dir, 'inv.json'),
      '--current',
      join(office.dir, 'current.yaml'),
      '--decision-log',
      office.log
    ]
    const r = await peerguard([...args, '--policy', join(office.dir, 'proposed.yaml')])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/would now be denied, 1 newly allowed/)
    expect(r.stdout).toMatch(
      /alice\.office\.lan\s+delete\s+share:office\/docs\/q1\.pdf .*decision-log; was allow; now deny-rule \(rule staff-no-delete\)/
    )
    expect(r.stdout).toMatch(/carol\.guest\.lan\s+put\s+share:office\/public\/notes\.txt .*traffic; was deny-default; now allow/)
    const same = await peerguard([...args, '--policy', join(office.dir, 'current.yaml'), '--json'])
    expect(same.code).toBe(0)
    expect(JSON.parse(same.stdout)).toMatchObject({ newlyDenied: [], newlyAllowed: [], decisionLogs: [{ ok: true }] })
  })

  it('--export-ecs writes JSON lines and --syslog sends RFC 5424 messages (UDP receiver on loopback)', async () => {
    const { makeOffice, INVENTORY, POLICY } = await import('../../audit/test/traffic-office.js')
    const { createSocket } = await import('node:dgram')
    const office = await makeOffice()
    await writeFile(join(office.dir, 'inv.json'), JSON.stringify(INVENTORY))
    await writeFile(join(office.dir, 'policy.yaml'), POLICY)
    const sock = createSocket('udp4')
    const got: string[] = []
    sock.on('message', (m) => got.push(m.toString('utf8')))
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
    const port = sock.address().port
    const ecs = join(office.dir, 'findings.ecs.jsonl')
    const { spawn } = await import('node:child_process')
    const child = spawn(
      process.execPath,
      [
        BIN,
        'audit',
        'read',
        office.capture,
        '--inventory',
        join(office.dir, 'inv.json'),
        '--policy',
        join(office.dir, 'policy.yaml'),
        '--decision-log',
        office.log,
        '--no-write',
        '--json',
        '--export-ecs',
        ecs,
        '--syslog',
        `udp://127.0.0.1:${port}`
      ],
      { cwd: ROOT }
    )
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    const code = await new Promise<number | null>((r) => child.on('close', r))
    const report = JSON.parse(stdout)
    expect(code).toBe(1)
    const docs = (await readFile(ecs, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    const entries = readFileSync(office.log, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.includes('"kind":"checkpoint"')).length
    expect(docs).toHaveLength(report.findings.length + entries)
    const until = Date.now() + 120_000
    while (got.length < report.findings.length + entries && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    sock.close()
    expect(got).toHaveLength(report.findings.length + entries)
    expect(got.some((m) => / policy-violation \[peerguard@32473 kind="finding"/.test(m))).toBe(true)
    const bad = await peerguard(['audit', 'read', office.capture, '--no-write', '--syslog', 'http://x'])
    expect(bad.code).toBe(2)
  })
})
