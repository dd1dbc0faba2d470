/**
 * Live capture through libpcap (the optional `pcap` package) on the loopback interface: a real
 * FTP-style login and file transfer between two sockets on 127.0.0.1 is captured, audited and
 * saved. Needs root and the optional `pcap` build: needs() skips visibly, or fails under
 * PEERGUARD_REQUIRE_ALL=1.
 */
import { createServer, connect, type Server } from 'node:net'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { auditCaptureFile, captureLive, createTrafficAuditor } from '@peerguard/audit'
import { needs } from '@peerguard/test-utils'

const maybe = needs(['root', 'pcap'], 'traffic-live: live capture on lo through libpcap').it

/** A tiny FTP-like server: greets, accepts USER/PASS, answers RETR with a data blob on the same socket. */
function ftpServer(blob: Buffer): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.write('220 test ftp ready\r\n')
      s.on('data', (d) => {
        const line = d.toString('latin1')
        if (line.startsWith('USER')) s.write('331 password please\r\n')
        else if (line.startsWith('PASS')) s.write('230 logged in\r\n')
        else if (line.startsWith('RETR'))
          s.write(Buffer.concat([Buffer.from('150 here it comes\r\n'), blob, Buffer.from('\r\n226 done\r\n')]))
        else if (line.startsWith('QUIT')) s.end('221 bye\r\n')
      })
    })
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }))
  })
}

function client(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1')
    const steps = ['USER alice\r\n', 'PASS live-secret-9\r\n', 'RETR report.pdf\r\n', 'QUIT\r\n']
    let i = 0
    c.on('data', (d) => {
      const t = d.toString('latin1')
      if (/^(220|331|230)|226 done/m.test(t) && i < steps.length) c.write(steps[i++]!)
    })
    c.on('end', () => resolve())
    c.on('error', reject)
  })
}

describe('live capture on loopback', () => {
  maybe('captures a real login and transfer, audits it and saves the capture', async () => {
    const blob = Buffer.alloc(4 * 1024 * 1024, 7)
    const { server, port } = await ftpServer(blob)
    const dir = mkdtempSync(join(tmpdir(), 'pg-live-'))
    const save = join(dir, 'live.pcap')
    const auditor = createTrafficAuditor()
    const ac = new AbortController()
    let ready!: () => void
    const listening = new Promise<void>((r) => (ready = r))
    const capture = captureLive(auditor, {
      iface: 'lo',
      filter: `tcp port ${port}`,
      signal: ac.signal,
      save,
      rotateBytes: 1024 * 1024,
      onReady: ready
    })
    // Traffic starts once libpcap listens; on abort the capture drains what the kernel holds.
    await Promise.race([listening, capture])
    await client(port)
    ac.abort()
    const result = await capture
    server.close()
    const report = auditor.finish()
    expect(result.packets).toBeGreaterThan(10)
    expect(typeof result.stats.dropped).toBe('number')
    expect(report.summary.source).toMatchObject({ interface: 'lo', format: 'live' })
    const creds = report.findings.find((f) => f.code === 'ftp-cleartext-credentials')
    expect(creds?.evidence).toMatchObject({ users: ['alice'], passwordMasked: true })
    expect(report.findings.find((f) => f.code === 'cleartext-file-transfer')?.evidence).toMatchObject({
      files: [{ command: 'RETR', file: 'report.pdf' }]
    })
    expect(JSON.stringify(report)).not.toContain('live-secret-9')
    // The saved capture rotated at 1 MiB and reads back to the same findings.
    expect(result.savedFiles.length).toBeGreaterThan(1)
    for (const f of result.savedFiles) expect(statSync(f).mode & 0o777).toBe(0o600)
    const again = await auditCaptureFile(result.savedFiles[0]!)
    expect(again.findings.map((f) => f.code)).toContain('ftp-cleartext-credentials')
  })

  maybe('an interface that does not exist is a clear not-found error', async () => {
    await expect(captureLive(createTrafficAuditor(), { iface: 'nosuchif0', durationSeconds: 1 })).rejects.toMatchObject({
      code: expect.stringMatching(/not-found|io-error/)
    })
  })

  it('checks its arguments', async () => {
    await expect(captureLive(createTrafficAuditor(), { iface: '' })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(captureLive(createTrafficAuditor(), { iface: 'lo', durationSeconds: -1 })).rejects.toMatchObject({
      code: 'invalid-argument'
    })
    await expect(captureLive(createTrafficAuditor(), { iface: 'lo', onReady: 5 as never })).rejects.toMatchObject({
      code: 'invalid-argument',
      message: 'onReady: expected a function'
    })
  })
})
