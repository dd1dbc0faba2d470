// biome-ignore-all lint/suspicious/noExplicitAny: untyped JSON (tshark ground truth) and finding evidence
/**
 * The LAN-sharing detectors on real loopback captures (test/fixtures/lan, made by make-captures.sh
 * with aria2c, cupsd/lp/ipptool, cups-lpd, telnetd, tftpd-hpa, rsync --daemon, sshd; see its
 * README.md): what an expert expects is reported, nothing on the negatives (IPPS, rsync over ssh,
 * SFTP, MSE with RC4), no secret or document text in any report, and every protocol fact tshark
 * extracted (truth.json, tshark 4.0.17) is in our evidence.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import { auditCaptureFile, type TrafficAuditReport } from '@peerguard/audit'

const LAN = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lan')
const truth = JSON.parse(readFileSync(join(LAN, 'truth.json'), 'utf8')) as {
  files: { file: string; packets: number; protocols: string[]; facts: Record<string, any> }[]
}
const INFO_HASH = '255395c6233ce916dc7e974cc7191bfe596ca144'

const reports = new Map<string, TrafficAuditReport>()
async function audit(file: string): Promise<TrafficAuditReport> {
  let r = reports.get(file)
  if (r === undefined) {
    r = await auditCaptureFile(join(LAN, file))
    reports.set(file, r)
  }
  return r
}
const codes = (r: TrafficAuditReport): string[] => [...new Set(r.findings.map((f) => f.code))].sort()
const evidence = (r: TrafficAuditReport, code: string): Record<string, any>[] =>
  r.findings.filter((f) => f.code === code).map((f) => f.evidence as Record<string, any>)
const facts = (file: string): Record<string, any> => truth.files.find((f) => f.file === file)!.facts

/** What each capture must raise, exactly (every other code is a false positive). */
const EXPECTED: Record<string, string[]> = {
  'bt-mse-plaintext.pcap': ['bittorrent-plaintext'],
  'bt-mse-rc4.pcap': ['bittorrent-encrypted'],
  'bt-dht-lsd-peer.pcap': ['bittorrent-dht', 'bittorrent-lsd', 'bittorrent-plaintext'],
  'ipp-print-job.pcap': ['ipp-cleartext', 'ipp-print-job'],
  'ipps-print-job.pcap': [],
  'raw9100-pjl.pcap': ['raw-print-job'],
  'lpd-job.pcap': ['lpd-print-job'],
  'telnet-login.pcap': ['telnet-cleartext-login'],
  'tftp-transfers.pcap': ['tftp-transfer'],
  'rsync-daemon.pcap': ['rsync-daemon-transfer', 'rsync-module-list'],
  'rsync-over-ssh.pcap': [],
  'sftp-transfer.pcap': [],
  'escl-scan.pcap': ['scan-cleartext'],
  'wsd-scan.pcap': ['discovery-leak', 'scan-cleartext']
}

/** Secrets and document text the captures carry in clear; none may reach a report. */
const SECRETS = [
  'Tr0ub4dor&3',
  'wrong-guess',
  'rsync-Secret-9',
  'T+B24NeItdkDoYOtFXWnfSQr71Z0gBDb7ntFiHnpm0Ui',
  'Q3 salaries: confidential',
  'quarterly numbers',
  's3cr3t',
  'hx5rVt7rPNoS4wqbXKX7m0',
  'signed contract',
  'peerguard audit line'
]

describe('LAN-sharing detectors on real loopback captures', () => {
  it('covers every capture in the folder, with its tshark ground truth', () => {
    expect(truth.files.map((f) => f.file).sort()).toEqual(Object.keys(EXPECTED).sort())
  })

  describe.each(Object.entries(EXPECTED))('%s', (file, expected) => {
    it('reads every packet tshark reads', async () => {
      const r = await audit(file)
      expect(r.summary.packets).toBe(truth.files.find((f) => f.file === file)!.packets)
      expect(r.summary.parseErrors.total).toBe(0)
    })

    it(`raises exactly ${expected.join(', ') || 'nothing'}`, async () => {
      expect(codes(await audit(file))).toEqual(expected)
    })

    it('puts no password, challenge response or document text in the report', async () => {
      const text = JSON.stringify(await audit(file))
      for (const s of SECRETS) expect({ secret: s, found: text.includes(s) }).toEqual({ secret: s, found: false })
    })
  })
})

describe('evidence against tshark', () => {
  it('MSE/PE that selected plaintext: the handshakes tshark decodes, pieces, the MSE header sizes', async () => {
    for (const file of ['bt-mse-plaintext.pcap', 'bt-dht-lsd-peer.pcap']) {
      const r = await audit(file)
      const plain = r.findings.filter((f) => f.code === 'bittorrent-plaintext')
      const frames = plain.flatMap((f) => f.frames)
      for (const h of facts(file).handshakes) {
        expect(h.info_hash).toBe(INFO_HASH)
        expect({ file, frame: h.frame, found: frames.includes(h.frame) }).toEqual({ file, frame: h.frame, found: true })
      }
      for (const e of plain.map((f) => f.evidence as Record<string, any>)) {
        expect(e.infoHashes).toEqual([INFO_HASH])
        expect(e.obfuscation).toBe('mse-plaintext')
        // The MSE header is a 96-byte DH key plus up to 512 bytes of pad, then the hashes and VC.
        expect(e.mseHeaderBytes.client).toBeGreaterThanOrEqual(96 + 40)
        expect(e.mseHeaderBytes.server).toBeGreaterThanOrEqual(96)
        expect(e.peerIds).toEqual(['A2-1-36-0-'])
      }
      // 40,960 bytes in 16 KiB blocks: 3 piece messages. tshark misses one in bt-dht-lsd-peer (a
      // piece message it does not reassemble across segments there), so it is a lower bound.
      const pieces = plain.reduce((n, f) => n + (f.evidence as any).pieces, 0)
      expect(pieces).toBe(Math.ceil(40960 / 16384))
      expect(pieces).toBeGreaterThanOrEqual(facts(file).pieces)
    }
    expect(evidence(await audit('bt-dht-lsd-peer.pcap'), 'bittorrent-lsd').flatMap((e) => e.infoHashes)).toEqual(
      expect.arrayContaining(facts('bt-dht-lsd-peer.pcap').lsd_infohashes)
    )
    expect(evidence(await audit('bt-dht-lsd-peer.pcap'), 'bittorrent-dht')[0]!.messages).toBe(
      facts('bt-dht-lsd-peer.pcap').dht_frames
    )
  })

  it('MSE/PE with RC4: tshark sees no handshake; we say encrypted, method rc4, never plaintext', async () => {
    expect(facts('bt-mse-rc4.pcap').handshakes).toEqual([])
    const e = evidence(await audit('bt-mse-rc4.pcap'), 'bittorrent-encrypted')
    expect(e.length).toBeGreaterThan(0)
    expect(e.map((x) => x.method)).toContain('rc4')
  })

  it('IPP: every user, job name and document format tshark shows, per operation; the job-submitting ones as print jobs', async () => {
    const r = await audit('ipp-print-job.pcap')
    const all = [...evidence(r, 'ipp-print-job'), ...evidence(r, 'ipp-cleartext')]
    const has = (key: string, v: string): boolean => all.some((e) => e[key].includes(v))
    for (const req of facts('ipp-print-job.pcap').requests) {
      const a = req.attributes as Record<string, string[]>
      for (const u of a['requesting-user-name'] ?? []) expect({ u, found: has('users', u) }).toEqual({ u, found: true })
      for (const j of [...(a['job-name'] ?? []), ...(a['document-name'] ?? [])])
        expect({ j, found: has('jobNames', j) }).toEqual({ j, found: true })
      for (const d of a['document-format'] ?? []) expect({ d, found: has('documentFormats', d) }).toEqual({ d, found: true })
      for (const p of a['printer-uri'] ?? []) expect({ p, found: has('printers', p) }).toEqual({ p, found: true })
    }
    const ops = (e: Record<string, any>[]): string[] => e.flatMap((x) => x.operations)
    expect(ops(evidence(r, 'ipp-print-job'))).toEqual(expect.arrayContaining(['Create-Job', 'Send-Document', 'Print-Job']))
    expect(ops(evidence(r, 'ipp-cleartext'))).toEqual(['Get-Jobs'])
    expect(evidence(r, 'ipp-print-job').reduce((n, e) => n + e.jobs, 0)).toBe(
      facts('ipp-print-job.pcap').requests.filter((q: any) => [2, 5, 6].includes(q.operation)).length
    )
  })

  it('IPPS: tshark sees only TLS; we classify the flow as TLS', async () => {
    expect(truth.files.find((f) => f.file === 'ipps-print-job.pcap')!.protocols).toContain('tls')
    expect((await audit('ipps-print-job.pcap')).flows.map((f) => f.protocol)).toEqual(['tls'])
  })

  it('raw 9100 / PJL: user and job name from the PJL header, the document only counted', async () => {
    const [e] = evidence(await audit('raw9100-pjl.pcap'), 'raw-print-job')
    expect(e).toEqual({ users: ['alice'], jobNames: ['Q3 salaries.xlsx'], languages: ['POSTSCRIPT'], pjlCommands: 6, bytes: 322 })
  })

  it('LPD: the queue tshark sees and the control file (user, host, job, file)', async () => {
    expect(facts('lpd-job.pcap').requests[0].code).toBe('2')
    const [e] = evidence(await audit('lpd-job.pcap'), 'lpd-print-job')
    expect(e).toMatchObject({ queues: ['office-laser'], commands: ['receive-job'], users: ['bob'], jobs: 1 })
    expect(e!.jobNames).toEqual(['board_minutes_txt'])
    expect(e!.dataBytes).toBe(322 + 1)
  })

  it('telnet: the user of both attempts, one failure, the password masked', async () => {
    const r = await audit('telnet-login.pcap')
    expect(facts('telnet-login.pcap').data_frames.length).toBeGreaterThan(0)
    const [e] = evidence(r, 'telnet-cleartext-login')
    expect(e).toMatchObject({ users: ['carol'], passwordsTyped: 2, passwordMasked: true, failedLogins: 1 })
    expect(e!.banner).toBe('Debian GNU/Linux 12')
    expect(r.findings.find((f) => f.code === 'telnet-cleartext-login')!.severity).toBe('high')
  })

  it('TFTP: the files tshark sees read and written', async () => {
    const e = evidence(await audit('tftp-transfers.pcap'), 'tftp-transfer')
    for (const q of facts('tftp-transfers.pcap').requests) {
      if (q.opcode === 1) expect(e.flatMap((x) => x.reads)).toContain(q.source_file)
      else expect(e.flatMap((x) => x.writes)).toContain(q.destination_file)
    }
  })

  it('rsync daemon: the module list and the modules tshark sees queried, the authenticated user', async () => {
    const r = await audit('rsync-daemon.pcap')
    const listed = evidence(r, 'rsync-module-list')[0]!.modules as string[]
    for (const line of facts('rsync-daemon.pcap').module_lists as string[]) {
      for (const l of line.split('\\n'))
        if (l !== '' && !l.startsWith('@RSYNCD')) expect(listed).toContain(l.split('\\t')[0]!.trim())
    }
    const queried = (facts('rsync-daemon.pcap').queries as string[]).map((q) => q.replace('\\n', '')).filter((q) => q !== '')
    const transfers = evidence(r, 'rsync-daemon-transfer')
    expect(transfers.flatMap((e) => e.modules).sort()).toEqual(queried.sort())
    expect(transfers.find((e) => e.modules[0] === 'backups')).toMatchObject({ users: ['dave'], authenticated: true })
    expect(transfers.find((e) => e.modules[0] === 'public')).toMatchObject({ users: [], authenticated: false })
  })

  it('eSCL and WSD: the requests tshark sees, scan settings, pages fetched; WS-Discovery probe', async () => {
    const escl = evidence(await audit('escl-scan.pcap'), 'scan-cleartext')
    for (const q of facts('escl-scan.pcap').http_requests) {
      expect(escl.flatMap((e) => e.operations)).toContain(`${q.method} ${q.uri}`)
    }
    expect(escl.flatMap((e) => e.settings)).toEqual(expect.arrayContaining(['InputSource=Platen', 'DocumentFormat=image/jpeg']))
    expect(escl.reduce((n, e) => n + e.documents, 0)).toBe(1)
    const wsd = await audit('wsd-scan.pcap')
    expect(evidence(wsd, 'scan-cleartext')[0]).toMatchObject({
      protocol: 'wsd',
      operations: ['CreateScanJob'],
      jobNames: ['Contract signed'],
      users: ['ERIN-PC\\erin']
    })
    expect(facts('wsd-scan.pcap').udp_3702_frames).toEqual([1])
    expect(evidence(wsd, 'discovery-leak')[0]).toMatchObject({ protocol: 'ws-discovery', queries: ['Probe'] })
  })

  it('negatives: rsync over ssh and SFTP are classified as SSH and raise nothing', async () => {
    for (const file of ['rsync-over-ssh.pcap', 'sftp-transfer.pcap']) {
      const r = await audit(file)
      expect(r.findings).toEqual([])
      expect([...new Set(r.flows.map((f) => f.protocol))]).toEqual(['ssh'])
    }
  })
})
