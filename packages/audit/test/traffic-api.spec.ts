/**
 * The public API checks its arguments (wrong types, sizes, garbage → typed errors), recognises
 * peerguard's own protocols (packages/channel/SPEC.md, packages/share/SPEC.md), and renders the
 * Markdown summary with what could not be parsed.
 */
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  CaptureParser,
  createPolicyChecks,
  createTrafficAuditor,
  FINDING_CODES,
  inventoryFromObject,
  loadAuditProfile,
  loadInventory,
  ParseErrors,
  profileFromObject,
  RotatingPcapWriter,
  readCaptureFile,
  readDecisionLog,
  renderMarkdown,
  writeReport
} from '@peerguard/audit'
import { CODES } from '@peerguard/interface'
import { CORPUS, ether, ipv4, pcap, tcpConversation } from './traffic-helpers.js'

const invalid = expect.objectContaining({ code: 'invalid-argument' })

describe('argument checks', () => {
  it('auditor options', () => {
    expect(() => createTrafficAuditor({ flowByteBudget: -1 })).toThrow(invalid)
    expect(() => createTrafficAuditor({ flowByteBudget: 1.5 })).toThrow(invalid)
    expect(() => createTrafficAuditor({ maxLiveFlows: 0 })).toThrow(invalid)
    expect(() => createTrafficAuditor({ detectors: ['no-such-code'] })).toThrow(invalid)
    expect(() => createTrafficAuditor({ detectors: 'smb1-in-use' as never })).toThrow(invalid)
    expect(() => createTrafficAuditor({ severities: { 'smb1-in-use': 'urgent' as never } })).toThrow(invalid)
    expect(() => createTrafficAuditor({ severities: { nope: 'high' } })).toThrow(invalid)
    expect(() => createTrafficAuditor(null as never)).toThrow(invalid)
    const a = createTrafficAuditor()
    a.finish()
    expect(() => a.finish()).toThrow(invalid)
  })

  it('files and paths', async () => {
    await expect(auditCaptureFile(42 as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(auditCaptureFile('')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(auditCaptureFile(join(tmpdir(), 'no-such-capture.pcap'))).rejects.toMatchObject({ code: 'not-found' })
    await expect(
      readCaptureFile(join(CORPUS, 'sv-ssdp-notify.pcap'), { packet() {} }, new ParseErrors(), { chunkBytes: 3 })
    ).rejects.toMatchObject({ code: 'invalid-argument' })
    expect(() => loadAuditProfile(5 as never)).toThrow(invalid)
    expect(() => loadInventory('')).toThrow(invalid)
    await expect(readDecisionLog(undefined as never)).rejects.toEqual(invalid)
    expect(() => profileFromObject('name: x')).toThrow(expect.objectContaining({ code: 'audit-profile-invalid' }))
    expect(() => inventoryFromObject(null)).toThrow(expect.objectContaining({ code: 'audit-inventory-invalid' }))
    expect(() => createPolicyChecks(null as never)).toThrow(invalid)
    expect(() => new RotatingPcapWriter('', { linktype: 1 })).toThrow(invalid)
    const dir = mkdtempSync(join(tmpdir(), 'pg-api-'))
    expect(() => new RotatingPcapWriter(join(dir, 'x.pcap'), { linktype: 1, rotateBytes: 10 })).toThrow(invalid)
    const w = new RotatingPcapWriter(join(dir, 'x.pcap'), { linktype: 1 })
    w.close()
    expect(statSync(join(dir, 'x.pcap')).mode & 0o777).toBe(0o600)
    expect(() => new RotatingPcapWriter(join(dir, 'x.pcap'), { linktype: 1 })).toThrow(
      expect.objectContaining({ code: 'already-exists' })
    )
    const report = createTrafficAuditor().finish()
    await expect(writeReport(report, '', 'x')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(writeReport(report, dir, '../escape')).rejects.toMatchObject({ code: 'invalid-argument' })
  })

  it('every finding code is a stable code of the one table', () => {
    for (const code of FINDING_CODES) expect(Object.hasOwn(CODES, code)).toBe(true)
    for (const code of [
      'capture-format-invalid',
      'capture-unavailable',
      'capture-permission-denied',
      'audit-profile-invalid',
      'audit-inventory-invalid'
    ]) {
      expect(Object.hasOwn(CODES, code)).toBe(true)
    }
  })
})

function feed(frames: Buffer[]): ReturnType<ReturnType<typeof createTrafficAuditor>['finish']> {
  const a = createTrafficAuditor()
  const p = new CaptureParser(a, a.engine.errors)
  const file = pcap(frames.map((data) => ({ data })))
  p.parse(file, 0, file.length, true)
  return a.finish()
}

describe("peerguard's own protocols", () => {
  it('the plain share (PGSHARE1 preface, framed JSON requests) is peerguard-plain with ops and paths', () => {
    const request = (id: number, body: object): Buffer => {
      const json = Buffer.from(JSON.stringify(body))
      const h = Buffer.alloc(9)
      h.writeUInt32BE(5 + json.length, 0)
      h[4] = 1
      h.writeUInt32BE(id, 5)
      return Buffer.concat([h, json])
    }
    const toServer = [
      Buffer.concat([Buffer.from('PGSHARE1'), request(1, { op: 'list', path: '' })]),
      request(2, { op: 'read', path: 'docs/q3.pdf' })
    ]
    const r = feed(tcpConversation('10.0.0.5', '10.0.0.6', 50000, 7700, toServer, [Buffer.from('PGSHARE1')]))
    const f = r.findings.find((x) => x.code === 'peerguard-plain')
    expect(f?.evidence).toMatchObject({ ops: ['list', 'read'], paths: ['', 'docs/q3.pdf'] })
    expect(r.flows[0]?.protocol).toBe('peerguard-plain')
    expect(r.flows[0]?.encrypted).toBe(false)
  })

  it('the hardened channel (34-byte first message: length 32 + Noise XX ephemeral) is recognised as such', () => {
    const msg1 = Buffer.concat([Buffer.from([0, 32]), Buffer.alloc(32, 0x5a)])
    const msg2 = Buffer.concat([Buffer.from([0, 200]), Buffer.alloc(200, 0x33)])
    const r = feed(tcpConversation('10.0.0.5', '10.0.0.6', 50001, 7701, [msg1], [msg2]))
    const f = r.findings.find((x) => x.code === 'peerguard-channel')
    expect(f?.severity).toBe('info')
    expect(f?.evidence).toMatchObject({ noise: 'XX', confidence: 0.95 })
    expect(r.flows[0]?.encrypted).toBe(true)
    expect(r.findings.filter((x) => x.code === 'bittorrent-encrypted')).toEqual([])
  })
})

describe('Markdown summary', () => {
  it('lists findings by severity and says what could not be parsed', async () => {
    const r = await auditCaptureFile(join(CORPUS, 'zeek-ftp-bruteforce.pcap'))
    const md = renderMarkdown(r)
    expect(md).toMatch(
      /\| high \| `ftp-bruteforce` \| 1 \| 192\.168\.56\.1 → 192\.168\.56\.101:21 \| .* \| 30 failed FTP logins from 192\.168\.56\.1 to 192\.168\.56\.101:21 \|/
    )
    expect(md).toContain('## Hosts')
    const bad = feed([ether(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, Buffer.alloc(4), { ihl: 3 }))])
    expect(renderMarkdown(bad)).toContain('`ipv4-header-length-under-20`: 1 (first at frame 1)')
  })
})
