/**
 * Export to the tools fleets already run: findings and decision-log entries as Elastic Common
 * Schema JSON lines, and as RFC 5424 syslog over UDP and TCP, received by a real rsyslog started
 * here on 127.0.0.1 with a configuration of our own (imudp/imtcp on free ports, omfile).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  createPolicyChecks,
  decisionToSyslog,
  findingToSyslog,
  inventoryFromObject,
  readDecisionLog,
  sendSyslog,
  syslogTargetFrom,
  type TrafficAuditReport,
  toEcsJsonLines,
  type VerifiedDecisionLog
} from '@peerguard/audit'
import { loadPolicy } from '@peerguard/policy'
import { needs } from '@peerguard/test-utils'
import fc from 'fast-check'
import { INVENTORY, makeOffice, POLICY } from './traffic-office.js'

let report: TrafficAuditReport
let log: VerifiedDecisionLog
beforeAll(async () => {
  const office = await makeOffice()
  log = await readDecisionLog(office.log)
  report = await auditCaptureFile(office.capture, {
    postChecks: createPolicyChecks({ inventory: inventoryFromObject(INVENTORY), policy: loadPolicy(POLICY), decisionLogs: [log] })
  })
})

describe('Elastic Common Schema JSON lines', () => {
  it('one document per finding and per decision-log entry, with ECS fields', () => {
    const text = toEcsJsonLines(report.findings, log.entries)
    const docs = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(docs).toHaveLength(report.findings.length + log.entries.length)
    const violation = docs.find((d) => d.event.code === 'policy-violation')
    expect(violation).toMatchObject({
      ecs: { version: '8.11.0' },
      event: { kind: 'alert', severity: 75, dataset: 'peerguard.audit' },
      source: { ip: '10.1.0.50', port: 50002 },
      destination: { ip: '10.1.0.2', port: 7700 },
      network: { transport: 'tcp' },
      rule: { id: 'policy-violation' },
      log: { level: 'high' }
    })
    expect(violation['@timestamp']).toBe('2025-12-29T09:21:00.000Z')
    const denied = docs.find((d) => d.event.kind === 'event' && d.event.outcome === 'failure')
    expect(denied).toMatchObject({
      event: { action: 'get', category: ['file'] },
      user: { id: 'pg-carol', name: 'carol.guest.lan', roles: ['guests'] },
      source: { ip: '10.1.0.50', port: 50006 },
      file: { path: 'share:office/docs/q4.pdf' }
    })
    expect(toEcsJsonLines([])).toBe('')
  })
})

describe('RFC 5424 messages', () => {
  it('header, structured data and message; values escaped; one line each', () => {
    const f = report.findings.find((x) => x.code === 'policy-violation')!
    const m = findingToSyslog(f, { hostname: 'auditor', procId: 42 })
    // facility 13 (log audit) * 8 + severity 3 (high → error) = 107
    expect(m).toMatch(
      /^<107>1 2025-12-29T09:21:00\.000Z auditor peerguard 42 policy-violation \[peerguard@32473 kind="finding" code="policy-violation" severity="high" proto="tcp" src="10\.1\.0\.50" sport="50002" dst="10\.1\.0\.2" dport="7700" frames="[\d,]+"\] \ufeffcarol\.guest\.lan did put/
    )
    const tricky = { ...f, title: 'a\nb', evidence: {}, flow: { ...f.flow!, src: 'x"]\\y' } }
    const t = findingToSyslog(tricky, { hostname: 'h' })
    expect(t).toContain('src="x\\"\\]\\\\y"')
    expect(t).not.toContain('\n')
    expect(decisionToSyslog(log.entries.find((e) => e.allowed === false)!, { hostname: 'h' })).toMatch(
      /^<108>1 .* decision-operation \[peerguard@32473 kind="operation" code="deny-default"/
    )
    expect(() => syslogTargetFrom('http://x')).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(syslogTargetFrom('tcp://[::1]:6514')).toEqual({ transport: 'tcp', host: '::1', port: 6514 })
    expect(syslogTargetFrom('udp://127.0.0.1')).toEqual({ transport: 'udp', host: '127.0.0.1', port: 514 })
  })

  it('property: any title and evidence give one well-formed line (PRI, version 1, SD with balanced brackets)', () => {
    const f = report.findings[0]!
    fc.assert(
      fc.property(fc.string(), fc.string(), (title, src) => {
        const m = findingToSyslog({ ...f, title, flow: { ...f.flow!, src } }, { hostname: 'h' })
        expect(m).toMatch(/^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ \[peerguard@32473 /)
        expect(m.includes('\n') || m.includes('\r')).toBe(false)
        const sd = m.slice(m.indexOf('['), m.indexOf('] \ufeff') + 1)
        // every `"` and `]` inside a value is escaped: the SD element ends where the unescaped `]` is
        expect(sd.replace(/\\./g, '').match(/\]/g)).toHaveLength(1)
      }),
      { numRuns: 200 }
    )
  })

  it('an unreachable TCP receiver is audit-export-failed', async () => {
    const s = createServer()
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
    const port = (s.address() as { port: number }).port
    await new Promise<void>((r) => s.close(() => r()))
    await expect(sendSyslog({ transport: 'tcp', host: '127.0.0.1', port }, ['<13>1 - - - - - - x'])).rejects.toMatchObject({
      code: 'audit-export-failed'
    })
  })
})

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const rsyslog = needs('rsyslogd', 'syslog export received by a real rsyslog on 127.0.0.1')
rsyslog.describe('a real rsyslog receives the export', () => {
  let child: ChildProcess
  let dir: string
  let udp: number
  let tcp: number
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-rsyslog-'))
    udp = await freePort()
    tcp = await freePort()
    writeFileSync(
      join(dir, 'rsyslog.conf'),
      [
        `global(workDirectory="${dir}")`,
        'module(load="imudp")',
        'module(load="imtcp")',
        `input(type="imudp" address="127.0.0.1" port="${udp}" ruleset="pg")`,
        `input(type="imtcp" address="127.0.0.1" port="${tcp}" ruleset="pg")`,
        'ruleset(name="pg") {',
        `  action(type="omfile" file="${join(dir, 'received.log')}" template="RSYSLOG_SyslogProtocol23Format")`,
        '}',
        ''
      ].join('\n')
    )
    child = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let stderr = ''
    child.stderr?.on('data', (d) => (stderr += d))
    await waitFor(
      `rsyslogd listening on 127.0.0.1:${tcp} (${stderr})`,
      () =>
        new Promise<true | undefined>((resolve) => {
          const s = connect(tcp, '127.0.0.1')
          s.once('connect', () => {
            s.destroy()
            resolve(true)
          })
          s.once('error', () => resolve(undefined))
        })
    )
  }, 90_000)
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await done
    }
  })

  it('over TCP (octet counting) and UDP, every finding and decision arrives intact', async () => {
    const received = join(dir, 'received.log')
    const findings = report.findings.map((f) => findingToSyslog(f, { hostname: 'auditor-tcp' }))
    const decisions = log.entries.map((d) => decisionToSyslog(d, { hostname: 'auditor-tcp' }))
    await sendSyslog(syslogTargetFrom(`tcp://127.0.0.1:${tcp}`), [...findings, ...decisions])
    const viaUdp = report.findings.map((f) => findingToSyslog(f, { hostname: 'auditor-udp' }))
    await sendSyslog(syslogTargetFrom(`udp://127.0.0.1:${udp}`), viaUdp)
    const want = findings.length + decisions.length + viaUdp.length
    const lines = await waitFor('rsyslog to write every message', () => {
      if (!existsSync(received)) return undefined
      const l = readFileSync(received, 'utf8')
        .split('\n')
        .filter((x) => x !== '')
      return l.length >= want ? l : undefined
    })
    expect(lines).toHaveLength(want)
    const tcpLines = lines.filter((l) => l.includes(' auditor-tcp '))
    const udpLines = lines.filter((l) => l.includes(' auditor-udp '))
    expect(udpLines).toHaveLength(viaUdp.length)
    const violation = tcpLines.find((l) => l.includes(' policy-violation '))!
    expect(violation).toMatch(
      /^<107>1 2025-12-29T09:21:00(\.0+)?(Z|\+00:00) auditor-tcp peerguard \d+ policy-violation \[peerguard@32473 kind="finding" code="policy-violation" severity="high" proto="tcp" src="10\.1\.0\.50" sport="50002"/
    )
    expect(violation).toContain('carol.guest.lan did put share:office/public/notes.txt')
    const decision = tcpLines.filter((l) => l.includes(' decision-operation '))
    expect(decision).toHaveLength(log.entries.filter((e) => e.kind === 'operation').length)
    expect(decision.some((l) => l.includes('resource="share:office/docs/q4.pdf"') && l.includes('allowed="false"'))).toBe(true)
    for (const code of new Set(report.findings.map((f) => f.code)))
      expect(udpLines.some((l) => l.includes(` ${code} [`))).toBe(true)
  }, 90_000)
})
