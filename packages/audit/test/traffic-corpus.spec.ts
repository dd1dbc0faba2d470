// biome-ignore-all lint/suspicious/noExplicitAny: untyped JSON (ground truth, decision-log lines)
/**
 * The auditor over the whole ground-truth corpus (test/fixtures/pcaps, copied from
 * ../shared/corpus/pcaps; see its README.md for sources and licences):
 * - every flag of catalog.json's `auditor_should_flag` maps to a finding we raise;
 * - nothing listed under `auditor_should_not_flag` is raised;
 * - flow counts, frames and bytes match tshark's conversation tables (`conv,tcp`, `conv,udp`)
 *   and the exact per-stream counts of ground-truth.json (differential test against tshark 4.0.17);
 * - the per-protocol facts tshark extracted (NTLM users, info-hashes, FTP users, NFS uids) appear
 *   in our evidence, and no cleartext password ever appears in a report.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { auditCaptureFile, type TrafficAuditReport } from '@peerguard/audit'
import type { Finding } from '@peerguard/interface'
import { CORPUS } from './traffic-helpers.js'

interface GroundTruthFile {
  file: string
  packets: number
  auditor_should_flag: string[]
  auditor_should_not_flag: string[]
  tcp_conversations_z: string[]
  udp_conversations_z: string[]
  tcp_streams: { a: string; b: string; frames: number; bytes: number }[]
  facts: Record<string, any>
}

const truth = JSON.parse(readFileSync(join(CORPUS, 'ground-truth.json'), 'utf8')) as { files: GroundTruthFile[] }
const catalog = JSON.parse(readFileSync(join(CORPUS, 'catalog.json'), 'utf8')) as { flag_vocabulary: Record<string, string> }
const VOCAB = new Set(Object.keys(catalog.flag_vocabulary))

type Matcher = (f: Finding) => boolean
const code =
  (c: string, extra: (e: Record<string, any>) => boolean = () => true): Matcher =>
  (f) =>
    f.code === c && extra(f.evidence as Record<string, any>)

/** The catalog's flag vocabulary mapped onto our finding codes (and evidence, where one code covers several flags). */
const FLAG_TO_FINDING: Record<string, Matcher | null> = {
  SMB1_USED: code('smb1-in-use'),
  SMB1_OFFERED: code('smb1-offered'),
  SMB_SIGNING_NOT_REQUIRED: code('smb-signing-not-required'),
  SMB_UNSIGNED_SESSION: code('smb-unsigned'),
  SMB_UNENCRYPTED: code('smb-unencrypted'),
  SMB_ENCRYPTED: code('smb-encrypted'),
  SMB_NULL_SESSION: code('smb-guest-session'),
  SMB_SHARE_ACCESS: code('smb-share-access'),
  SMB_ADMIN_SHARE_ACCESS: code('smb-admin-share-access'),
  NTLM_AUTH: code('ntlm-auth'),
  NTLMV1_AUTH: code('ntlmv1-auth'),
  HTTP_NTLM_AUTH: code('http-ntlm-auth'),
  FTP_CLEARTEXT_LOGIN: code('ftp-cleartext-credentials'),
  FTP_BRUTEFORCE: code('ftp-bruteforce'),
  FTP_PLAIN_DATA_TRANSFER: code('cleartext-file-transfer', (e) => e.protocol === 'ftp'),
  FTP_AUTH_TLS: code('ftp-auth-tls'),
  HTTP_BASIC_AUTH: code('http-basic-auth'),
  HTTP_DIGEST_AUTH: code('http-digest-auth'),
  HTTP_PLAIN_FILE_TRANSFER: code('cleartext-file-transfer', (e) => e.protocol === 'http' || e.protocol === 'webdav'),
  NFS_AUTH_SYS: code('nfs-auth-sys'),
  NFS_ROOT_CREDENTIAL: code('nfs-root-credential'),
  BT_PLAINTEXT_HANDSHAKE: code('bittorrent-plaintext'),
  BT_PLAIN_TRANSFER: code('bittorrent-plaintext', (e) => e.pieces > 0),
  BT_ENCRYPTED_MSE: code('bittorrent-encrypted'),
  BT_UTP: code('bittorrent-plaintext', (e) => e.transport === 'utp'),
  BT_DHT: code('bittorrent-dht'),
  BT_LSD: code('bittorrent-lsd'),
  DISCOVERY_MDNS: code('discovery-leak', (e) => e.protocol === 'mdns'),
  DISCOVERY_LLMNR: code('discovery-leak', (e) => e.protocol === 'llmnr'),
  DISCOVERY_NBNS: code('discovery-leak', (e) => e.protocol === 'nbns'),
  DISCOVERY_SSDP: code('discovery-leak', (e) => e.protocol === 'ssdp'),
  DISCOVERY_NETBIOS_BROWSER: code('discovery-leak', (e) => e.protocol === 'netbios-browser'),
  // Needs a policy or an inventory: covered by traffic-policy.spec.ts.
  PEER_NOT_IN_POLICY: null
}

function flagsOf(entry: string): string[] {
  return [...entry.matchAll(/[A-Z][A-Z0-9_]{3,}/g)].map((m) => m[0]).filter((id) => VOCAB.has(id))
}

/** tshark 4.0 `format_size` with SI units: plain bytes below 10 000, then truncated kB, MB. */
function tsharkSize(n: number): string {
  if (n >= 10_000_000_000) return `${Math.floor(n / 1e9)} GB`
  if (n >= 10_000_000) return `${Math.floor(n / 1e6)} MB`
  if (n >= 10_000) return `${Math.floor(n / 1e3)} kB`
  return `${n} bytes`
}

function endpoint(addr: string, port: number): string {
  return `${addr}:${port}`
}

/** Our flows as tshark conversation rows: `A <-> B | frames bytes (B->A) | frames bytes (A->B)`. */
function ourRows(report: TrafficAuditReport, proto: 'tcp' | 'udp'): string[] {
  return report.flows
    .filter((f) => f.proto === proto)
    .map(
      (f) =>
        `${endpoint(f.src, f.srcPort)} <-> ${endpoint(f.dst, f.dstPort)} ${f.packets.rev} ${tsharkSize(f.bytes.rev)} ${f.packets.fwd} ${tsharkSize(f.bytes.fwd)}`
    )
    .sort()
}

function tsharkRows(rows: string[]): string[] {
  return rows
    .map((r) => {
      const t = r.trim().split(/\s+/)
      // A <-> B fBA n unit fAB n unit ...
      return `${t[0]} <-> ${t[2]} ${t[3]} ${t[4]} ${t[5]} ${t[6]} ${t[7]} ${t[8]}`
    })
    .sort()
}

const reports = new Map<string, TrafficAuditReport>()
async function reportOf(file: string): Promise<TrafficAuditReport> {
  let r = reports.get(file)
  if (r === undefined) {
    r = await auditCaptureFile(join(CORPUS, file))
    reports.set(file, r)
  }
  return r
}

describe('traffic auditor over the ground-truth corpus', () => {
  it('has all 42 captures', () => {
    expect(truth.files).toHaveLength(42)
  })

  describe.each(truth.files.map((f) => [f.file, f] as const))('%s', (file, gt) => {
    it('reads every packet and matches tshark conversation tables', async () => {
      const r = await reportOf(file)
      expect(r.summary.packets).toBe(gt.packets)
      expect(ourRows(r, 'tcp')).toEqual(tsharkRows(gt.tcp_conversations_z))
      expect(ourRows(r, 'udp')).toEqual(tsharkRows(gt.udp_conversations_z))
      // Exact per-stream frame and byte totals (tshark -T fields over tcp.stream).
      const ours = r.flows
        .filter((f) => f.proto === 'tcp')
        .map(
          (f) =>
            `${[endpoint(f.src, f.srcPort), endpoint(f.dst, f.dstPort)].sort().join(' ')} ${f.packets.fwd + f.packets.rev} ${f.bytes.fwd + f.bytes.rev}`
        )
        .sort()
      const theirs = gt.tcp_streams.map((s) => `${[s.a, s.b].sort().join(' ')} ${s.frames} ${s.bytes}`).sort()
      expect(ours).toEqual(theirs)
    })

    it('raises every finding the catalog lists and none it rules out', async () => {
      const r = await reportOf(file)
      for (const entry of gt.auditor_should_flag) {
        const [flag] = flagsOf(entry)
        expect(flag).toBeDefined()
        const matcher = FLAG_TO_FINDING[flag!]
        expect(matcher).not.toBeUndefined()
        if (matcher === null) continue
        expect({ flag, found: r.findings.some(matcher!) }).toEqual({ flag, found: true })
      }
      for (const entry of gt.auditor_should_not_flag) {
        for (const flag of flagsOf(entry)) {
          const matcher = FLAG_TO_FINDING[flag]
          if (matcher === null || matcher === undefined) continue
          expect({ flag, raised: r.findings.filter(matcher).map((f) => f.title) }).toEqual({ flag, raised: [] })
        }
      }
    })

    it('has the facts tshark extracted in its evidence', async () => {
      const r = await reportOf(file)
      const ev = (c: string): Record<string, any>[] =>
        r.findings.filter((f) => f.code === c).map((f) => f.evidence as Record<string, any>)
      for (const a of gt.facts.ntlmssp?.authenticate_msgs ?? []) {
        if (a.version === 'anonymous') {
          expect(r.findings.some((f) => f.code === 'smb-guest-session' && f.frames.includes(a.frame))).toBe(true)
          continue
        }
        const hit = r.findings.find(
          (f) =>
            f.code === (a.version === 'NTLMv1' ? 'ntlmv1-auth' : 'ntlm-auth') &&
            (f.evidence as any).user === a.user &&
            f.frames.includes(a.frame)
        )
        expect({ user: a.user, frame: a.frame, found: hit !== undefined }).toEqual({ user: a.user, frame: a.frame, found: true })
        expect((hit!.evidence as any).domain).toBe(a.domain === 'NULL' ? '' : a.domain)
        expect((hit!.evidence as any).workstation).toBe(a.host === 'NULL' ? '' : a.host)
        expect((hit!.evidence as any).ntlmVersion).toBe(a.version === 'NTLMv1' ? 'v1' : 'v2')
      }
      for (const h of gt.facts.bittorrent?.plaintext_handshakes ?? []) {
        expect(ev('bittorrent-plaintext').some((e) => e.infoHashes.includes(h.info_hash))).toBe(true)
      }
      for (const c of gt.facts.ftp?.commands ?? []) {
        if (c.cmd === 'USER') expect(ev('ftp-cleartext-credentials').some((e) => e.users.includes(c.arg))).toBe(true)
        if (c.cmd === 'RETR' || c.cmd === 'STOR') {
          expect(ev('cleartext-file-transfer').some((e) => e.files?.some((x: any) => x.file === c.arg))).toBe(true)
        }
      }
      for (const c of gt.facts.rpc_nfs?.calls ?? []) {
        if (c.auth_flavor !== 'AUTH_UNIX' || c.program === 'portmap') continue
        expect(ev('nfs-auth-sys').some((e) => e.machineNames.includes(c.machinename) && e.uids.includes(Number(c.uid)))).toBe(
          true
        )
      }
      for (const name of gt.facts.nbns?.names ?? []) {
        if (name.includes(' (') || name.startsWith('<')) continue
        expect(ev('discovery-leak').some((e) => e.protocol === 'nbns' && e.names.includes(name))).toBe(true)
      }
    })

    it('never puts a cleartext password in the report', async () => {
      const text = JSON.stringify(await reportOf(file))
      for (const secret of ['qwerty', 'passworddddd', 'Passw0rd!', ':1234']) expect(text).not.toContain(secret)
      for (const c of gt.facts.ftp?.commands ?? []) {
        if (c.cmd === 'PASS' && String(c.arg).length >= 4) expect(text).not.toContain(`"${c.arg}"`)
      }
    })
  })
})
