/**
 * Reports people look at: findings grouped by code, host pair and time window with first/last
 * seen; a summary with remediation; the self-contained HTML report rendered in Debian's headless
 * Chromium (no console errors, no network, the graph and the expected findings; a screenshot is
 * kept in .tmp/test-artifacts/).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  createPolicyChecks,
  FrameTimes,
  groupFindings,
  inventoryFromObject,
  readDecisionLog,
  renderHtml,
  renderMarkdown,
  type TrafficAuditReport,
  writeReport
} from '@peerguard/audit'
import { loadPolicy } from '@peerguard/policy'
import { needs } from '@peerguard/test-utils'
import fc from 'fast-check'
import { openPage } from './traffic-chromium.js'
import { CORPUS } from './traffic-helpers.js'
import { ALICE, CAROL, INVENTORY, makeOffice, POLICY, SERVER } from './traffic-office.js'

const ARTIFACTS = join(CORPUS, '..', '..', '..', '..', '..', '.tmp', 'test-artifacts')

async function officeReport(): Promise<TrafficAuditReport> {
  const office = await makeOffice()
  return auditCaptureFile(office.capture, {
    postChecks: createPolicyChecks({
      inventory: inventoryFromObject(INVENTORY),
      policy: loadPolicy(POLICY),
      decisionLogs: [await readDecisionLog(office.log)]
    })
  })
}

describe('grouped findings with times and a summary that says how to fix', () => {
  it('thirty FTP logins from one client are one group, with first and last seen; brute force names port 21', async () => {
    const r = await auditCaptureFile(join(CORPUS, 'zeek-ftp-bruteforce.pcap'))
    expect(r.findings.filter((f) => f.code === 'ftp-cleartext-credentials')).toHaveLength(30)
    const creds = r.groups.filter((g) => g.code === 'ftp-cleartext-credentials')
    expect(creds).toHaveLength(1)
    expect(creds[0]).toMatchObject({ count: 30, client: '192.168.56.1', server: '192.168.56.101', port: 21, severity: 'high' })
    expect(creds[0]!.firstSeen).toBeLessThan(creds[0]!.lastSeen!)
    expect(creds[0]!.firstSeen).toBeCloseTo(r.summary.firstTimestamp!, 0)
    const brute = r.groups.find((g) => g.code === 'ftp-bruteforce')
    expect(brute).toMatchObject({ port: 21, count: 1 })
    expect(r.findings.find((f) => f.code === 'ftp-bruteforce')?.flow?.dstPort).toBe(21)
    const md = renderMarkdown(r)
    expect(md).toMatch(
      /\| high \| `ftp-cleartext-credentials` \| 30 \| 192\.168\.56\.1 → 192\.168\.56\.101:21 \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \|/
    )
    // The summary: what is wrong, how bad, and vsftpd lines that fix it.
    expect(r.overview).toMatchObject({ verdict: 'findings', worst: 'high' })
    expect(r.overview.issues.map((i) => i.code)).toEqual(['ftp-cleartext-credentials', 'ftp-bruteforce'])
    expect(md).toContain('ssl_enable=YES')
    expect(md).toContain('max_login_fails=3')
    expect(md.indexOf('## Summary')).toBeLessThan(md.indexOf('## Findings'))
  })

  it('splits a group when findings are further apart than the window', () => {
    const f = (t: number) => ({
      code: 'ftp-cleartext-credentials',
      severity: 'high' as const,
      title: 'x',
      flow: { proto: 'tcp' as const, src: '10.0.0.1', srcPort: 40000 + t, dst: '10.0.0.2', dstPort: 21 },
      evidence: {},
      frames: [t + 1],
      firstSeen: t,
      lastSeen: t
    })
    expect(groupFindings([f(0), f(100), f(5000)], 3600).map((g) => g.count)).toEqual([2, 1])
    expect(groupFindings([f(0), f(100), f(5000)], 1e9).map((g) => g.count)).toEqual([3])
  })

  it('remediation for Samba, CUPS-style prefixes, aria2 and Transmission; nothing for the good cases', async () => {
    const { remediationFor } = await import('@peerguard/audit')
    expect(remediationFor('smb1-in-use')?.config[0]?.lines).toContain('server min protocol = SMB2_10')
    expect(
      remediationFor('bittorrent-plaintext')
        ?.config.map((c) => c.lines.join(' '))
        .join(' ')
    ).toMatch(/bt-require-crypto=true.*"encryption": 2/)
    expect(remediationFor('ipp-print-job')?.config[0]?.lines).toContain('DefaultEncryption Required')
    expect(remediationFor('smb-encrypted')).toBeUndefined()
    expect(remediationFor('peerguard-channel')).toBeUndefined()
    // no guessing by prefix, nothing from Object.prototype
    expect(remediationFor('ipp-cleartext-job')).toBeUndefined()
    expect(remediationFor('constructor')).toBeUndefined()
    expect(remediationFor('toString')).toBeUndefined()
  })

  it('every finding code in the table has a remediation with config lines, except the good cases', async () => {
    const { remediationFor } = await import('@peerguard/audit')
    const { DEFAULT_SEVERITY, FINDING_CODES } = await import('../src/traffic/findings.js')
    // Informational codes that report the secure case: nothing to fix.
    const GOOD = ['smb-encrypted', 'smb-share-access', 'ftp-auth-tls', 'bittorrent-encrypted', 'peerguard-channel']
    for (const code of GOOD) expect([code, DEFAULT_SEVERITY[code]]).toEqual([code, 'info'])
    const missing: string[] = []
    for (const code of FINDING_CODES) {
      const r = remediationFor(code)
      if (GOOD.includes(code)) {
        expect([code, r]).toEqual([code, undefined])
        continue
      }
      if (r === undefined || r.risk === '' || r.fix === '' || r.config.length === 0) missing.push(code)
      for (const c of r?.config ?? []) expect([code, c.where, c.lines.length > 0]).toEqual([code, c.where, true])
    }
    expect(missing).toEqual([])
    // The README's findings table names exactly the codes the auditor emits.
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const table = readme.slice(readme.indexOf('### Findings'), readme.indexOf('What could not be parsed'))
    const inTable = [...table.matchAll(/^\| (.+?) +\|/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/`([a-z0-9-]+)`/g)].map((x) => x[1]!)
    )
    expect(new Set(inTable)).toEqual(new Set(FINDING_CODES))
  })

  it('concrete fixes for printers, scanners, telnet, TFTP, the rsync daemon and NFS data', async () => {
    const { remediationFor } = await import('@peerguard/audit')
    const lines = (code: string) => remediationFor(code)?.config.flatMap((c) => c.lines) ?? []
    expect(lines('ipp-print-job')).toContain('DefaultEncryption Required')
    expect(lines('ipp-cleartext')).toContain('DefaultEncryption Required')
    expect(lines('raw-print-job').join('\n')).toMatch(/backend\/lpd .*backend\/socket/)
    expect(lines('lpd-print-job').join('\n')).toMatch(/backend\/lpd/)
    expect(lines('scan-cleartext').join('\n')).toMatch(/https:\/\/SCANNER\/eSCL/)
    expect(lines('telnet-cleartext-login').join('\n')).toMatch(/PasswordAuthentication no/)
    expect(lines('telnet-session').join('\n')).toMatch(/purge telnetd/)
    expect(lines('tftp-transfer').join('\n')).toMatch(/scp:\/\/.*[\s\S]*--secure/)
    expect(lines('rsync-daemon-transfer')).toEqual(
      expect.arrayContaining(['auth users = backup', 'secrets file = /etc/rsyncd.secrets'])
    )
    expect(lines('rsync-daemon-transfer').join('\n')).toMatch(/-e ssh/)
    expect(lines('rsync-module-list')).toContain('list = no')
    expect(lines('nfs-cleartext-data').join('\n')).toMatch(/sec=krb5p.*\n.*sec=krb5p/)
  })

  it('frame times: exact for small captures, never later than the frame beyond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300_000 }), fc.integer({ min: 1, max: 300_000 }), (n, q) => {
        const t = new FrameTimes()
        for (let i = 1; i <= n; i++) t.add(i * 0.5)
        const frame = Math.min(q, n)
        const got = t.time(frame)!
        expect(got).toBeLessThanOrEqual(frame * 0.5)
        expect(frame * 0.5 - got).toBeLessThan(t.stride * 0.5)
        if (n <= FrameTimes.CAPACITY) expect(got).toBe(frame * 0.5)
      }),
      { numRuns: 25 }
    )
  })
})

describe('HTML report', () => {
  it('is one file with no external references, and escapes what the capture says', async () => {
    const r = await officeReport()
    const hostile = {
      ...r,
      groups: [
        { ...r.groups[0]!, title: '<img src=x onerror=alert(1)>"</script><script>alert(2)</script>' },
        ...r.groups.slice(1)
      ]
    }
    const html = renderHtml(hostile)
    expect(html).not.toMatch(/<img src=x/)
    expect(html).not.toContain('</script><script>alert(2)')
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;')
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/)/)
    expect(html).toContain("default-src 'none'")
    const dir = mkdtempSync(join(tmpdir(), 'pg-report-'))
    const w = await writeReport(r, dir, 'office')
    expect(readFileSync(w.html, 'utf8')).toContain('<svg id="graph"')
  })
})

const chromium = needs('chromium', 'the HTML report rendered in headless Chromium')
chromium.describe('HTML report in headless Chromium', () => {
  const pages: { close(): Promise<void> }[] = []
  afterAll(async () => {
    for (const p of pages) await p.close()
  })

  it('loads without errors or network, shows the host graph and the findings; clicking an edge shows its findings', async () => {
    const r = await officeReport()
    const dir = mkdtempSync(join(tmpdir(), 'pg-report-'))
    const { html } = await writeReport(r, dir, 'office')
    const page = await openPage(pathToFileURL(html).href)
    pages.push(page)
    expect(await page.evaluate('document.body.getAttribute("data-ready")')).toBe('1')
    const nodes = await page.evaluate<string[]>(
      '[...document.querySelectorAll("#graph .node")].map(n => n.getAttribute("data-host")).sort()'
    )
    expect(nodes).toEqual([ALICE, SERVER, CAROL].sort())
    // The flagged edge carol ↔ server is coloured by its worst finding.
    const flagged = await page.evaluate<string[]>(
      '[...document.querySelectorAll("#graph .edge.sev-high")].map(e => e.getAttribute("data-edge"))'
    )
    expect(flagged.length).toBeGreaterThanOrEqual(1)
    const rows = await page.evaluate<string[]>(
      '[...document.querySelectorAll("#findings tbody tr")].map(r => r.getAttribute("data-code"))'
    )
    expect(rows).toEqual(
      expect.arrayContaining(['policy-violation', 'policy-requires-encryption', 'peerguard-plain', 'peerguard-channel'])
    )
    expect(await page.evaluate('document.getElementById("headline").textContent')).toContain('policy-violation')
    // Click the edge between carol and the server: the panel lists carol's plain write.
    const shown = await page.evaluate<string>(`(() => {
      const edges = [...document.querySelectorAll('#graph .edge')]
      const data = JSON.parse(document.getElementById('pg-data').textContent)
      const i = data.edges.findIndex(e => [e.a, e.b].includes('${CAROL}'))
      edges.find(e => e.getAttribute('data-edge') === String(i)).dispatchEvent(new MouseEvent('click', { bubbles: true }))
      return document.getElementById('details').textContent
    })()`)
    expect(shown).toContain('policy-violation')
    expect(shown).toContain('carol.guest.lan did put share:office/public/notes.txt')
    const visible = await page.evaluate<string[]>(
      '[...document.querySelectorAll("#findings tbody tr:not(.hidden)")].map(r => r.getAttribute("data-code"))'
    )
    expect(visible).not.toContain('policy-requires-encryption')
    // Sorting by count puts the largest group first.
    const counts = await page.evaluate<number[]>(`(() => {
      document.querySelector('#findings th[data-key="count"]').click()
      document.querySelector('#findings th[data-key="count"]').click()
      return [...document.querySelectorAll('#findings tbody tr')].map(r => +r.cells[2].textContent)
    })()`)
    expect(counts).toEqual([...counts].sort((a, b) => b - a))
    mkdirSync(ARTIFACTS, { recursive: true })
    writeFileSync(join(ARTIFACTS, 'audit-report-office.png'), await page.screenshot())
    expect(page.errors).toEqual([])
    expect(page.requests).toEqual([])
  }, 120_000)

  it('a large real capture renders too (SMB, NTLM, discovery: 22 hosts)', async () => {
    const r = await auditCaptureFile(join(CORPUS, 'sv-smb2-ntlmssp-negotiateflags.pcap'))
    const dir = mkdtempSync(join(tmpdir(), 'pg-report-'))
    const { html } = await writeReport(r, dir, 'smb')
    const page = await openPage(pathToFileURL(html).href)
    pages.push(page)
    expect(await page.evaluate('document.querySelectorAll("#graph .node").length')).toBe(r.hosts.length)
    expect(await page.evaluate('document.querySelectorAll("#findings tbody tr").length')).toBe(r.groups.length)
    writeFileSync(join(ARTIFACTS, 'audit-report-smb.png'), await page.screenshot())
    expect(page.errors).toEqual([])
    expect(page.requests).toEqual([])
  }, 120_000)
})
