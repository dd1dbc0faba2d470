/**
 * Findings against an inventory and a policy: unknown-peer, policy-violation,
 * policy-requires-encryption, unlogged-access. Uses real corpus captures and the corpus README's
 * PEER_NOT_IN_POLICY example (sv-smb2-ntlmssp-negotiateflags.pcap, ndpi-bittorrent.pcap).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  createPolicyChecks,
  inventoryFromObject,
  loadAuditProfile,
  loadInventory,
  profileFromObject,
  readDecisionLog,
  type TrafficAuditReport,
  type VerifiedDecisionLog
} from '@peerguard/audit'
import { openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import { CORPUS } from './traffic-helpers.js'
import { INVENTORY, makeOffice, type Office, POLICY, SESSIONS } from './traffic-office.js'

const repoRoot = join(CORPUS, '..', '..', '..', '..', '..')

async function auditWith(
  file: string,
  inventory: unknown,
  policyText?: string,
  decisionLogs?: VerifiedDecisionLog[]
): Promise<TrafficAuditReport> {
  const inv = inventoryFromObject(inventory)
  const policy = policyText === undefined ? undefined : loadPolicy(policyText)
  return auditCaptureFile(join(CORPUS, file), {
    postChecks: createPolicyChecks({
      inventory: inv,
      ...(policy === undefined ? {} : { policy }),
      ...(decisionLogs === undefined ? {} : { decisionLogs })
    })
  })
}

const LAN_POLICY = `
version: 1
peers:
  desktop: { name: desktop.lan }
  server: { name: server.lan }
groups:
  staff: [desktop]
rules:
  - id: staff-read-data
    allow: [read, write]
    peers: [staff]
    resources: ["share:data", "share:data/**"]
`

describe('inventory and policy findings', () => {
  it('corpus README example: the 139 sessions to .1 break the policy, the 445 sessions do not', async () => {
    const r = await auditWith(
      'sv-smb2-ntlmssp-negotiateflags.pcap',
      {
        peers: [
          { name: 'desktop.lan', addresses: ['192.168.199.132'] },
          { name: 'server.lan', addresses: ['192.168.199.133'], share: 'data' }
        ]
      },
      LAN_POLICY
    )
    const violations = r.findings.filter((f) => f.code === 'policy-violation')
    expect(violations.map((f) => `${f.flow?.src} -> ${f.flow?.dst}:${f.flow?.dstPort}`).sort()).toEqual([
      '192.168.199.133 -> 192.168.199.1:139',
      '192.168.199.133 -> 192.168.199.1:139'
    ])
    // The six 445 sessions are allowed and still carry their own NTLM and signing findings.
    expect(r.findings.filter((f) => f.code === 'ntlm-auth' && f.flow?.dstPort === 445).length).toBeGreaterThanOrEqual(4)
    expect(r.findings.filter((f) => f.code === 'smb-signing-not-required' && f.flow?.dst === '192.168.199.133').length).toBe(6)
    // Discovery chatter from hosts that are not enrolled.
    const unknown = r.findings.filter((f) => f.code === 'unknown-peer').map((f) => (f.evidence as { addr: string }).addr)
    expect(unknown).toEqual(expect.arrayContaining(['192.168.199.1', '169.254.195.103']))
    expect(unknown.filter((a) => a.startsWith('fe80:'))).toHaveLength(3)
    expect(unknown).not.toContain('192.168.199.132')
    expect(unknown).not.toContain('192.168.199.133')
  })

  it('a LAN-only policy flags all 24 BitTorrent streams with public peers', async () => {
    const r = await auditWith(
      'ndpi-bittorrent.pcap',
      { peers: [{ name: 'desktop.lan', addresses: ['192.168.1.3'] }] },
      LAN_POLICY
    )
    expect(r.findings.filter((f) => f.code === 'policy-violation' && f.flow?.proto === 'tcp')).toHaveLength(24)
    expect(r.findings.filter((f) => f.code === 'unknown-peer').length).toBe(r.hosts.length - 1)
  })

  it('policy-requires-encryption: a `require: encrypted` share over plain SMB2, not over SMB3 encryption', async () => {
    const policy = (share: string): string => `
version: 1
peers:
  vm: { name: vm.lan }
resources:
  "share:${share}":
    require: [encrypted]
rules:
  - id: vm-share
    allow: [read, write]
    peers: [vm]
    resources: ["share:${share}", "share:${share}/**"]
`
    const inv = { peers: [{ name: 'vm.lan', addresses: ['127.0.0.1'] }] }
    const plain = await auditWith('gen-smb2-unsigned.pcap', inv, policy('plain'))
    const req = plain.findings.filter((f) => f.code === 'policy-requires-encryption')
    expect(req).toHaveLength(1)
    // Judged per operation: the SMB2 CREATE of the file (a write) and the open of the share root.
    expect(req[0]!.evidence).toMatchObject({ protocol: 'smb' })
    expect((req[0]!.evidence as { resources: { verb: string; resource: string }[] }).resources).toEqual([
      expect.objectContaining({ verb: 'put', resource: 'share:plain/smb2-report.txt', command: 'CREATE' }),
      expect.objectContaining({ verb: 'list', resource: 'share:plain', command: 'CREATE' })
    ])
    expect(plain.findings.filter((f) => f.code === 'policy-violation')).toEqual([])
    const enc = await auditWith(
      'gen-smb3-encrypted.pcap',
      { peers: [{ name: 'vm.lan', addresses: ['127.0.0.1'], share: 'secret' }] },
      policy('secret')
    )
    expect(enc.findings.filter((f) => f.code === 'policy-requires-encryption' || f.code === 'policy-violation')).toEqual([])
  })

  it('a peer the policy gives no access is a policy-violation with the decision code', async () => {
    const inv = { peers: [{ name: 'desktop.lan', addresses: ['127.0.0.1'] }] }
    const r = await auditWith('gen-smb2-unsigned.pcap', inv, LAN_POLICY)
    const v = r.findings.filter((f) => f.code === 'policy-violation')
    expect(v).toHaveLength(1)
    expect(v[0]!.evidence).toMatchObject({ decision: 'deny-default', client: 'desktop.lan', judgedBy: 'operations' })
    // The SMB2 CREATEs of the capture, each judged on its path: write the file, open the root, read it back.
    expect(
      (v[0]!.evidence as { operations: { verb: string; resource: string }[] }).operations.map((o) => `${o.verb} ${o.resource}`)
    ).toEqual(['put share:plain/smb2-report.txt', 'list share:plain', 'get share:plain/smb2-report.txt'])
  })

  it('unlogged-access: flows to a hardened node need a decision-log entry', async () => {
    const inv = {
      peers: [
        { name: 'desktop.lan', addresses: ['192.168.199.132'] },
        { name: 'server.lan', addresses: ['192.168.199.133'], share: 'data', hardened: true }
      ]
    }
    const none = await auditWith('sv-smb2-ntlmssp-negotiateflags.pcap', inv, undefined, [])
    expect(none.findings.filter((f) => f.code === 'decision-log-unverified')).toEqual([])
    const unlogged = none.findings.filter((f) => f.code === 'unlogged-access')
    expect(unlogged.length).toBe(6)
    // The hardened node's real decision log (openDecisionLog), one accepted connection per session,
    // at the times of the captured flows.
    const dir = mkdtempSync(join(tmpdir(), 'pg-log-'))
    const file = join(dir, 'decisions.jsonl')
    const flows = none.flows.filter((f) => f.dst === '192.168.199.133' && f.dstPort === 445)
    let now = 0
    const log = await openDecisionLog({ path: file, identity: generateKeyPair(), clock: { now: () => now } })
    for (const f of flows) {
      now = Math.round(f.start * 1000) + 20
      await log.append({
        kind: 'connection',
        event: 'accepted',
        code: 'allow',
        reason: 'certificate valid',
        peer: { peerId: 'pg1-desktop', address: `${f.src}:${f.srcPort}` }
      })
    }
    await log.close()
    const decisions = await readDecisionLog(file)
    expect(decisions.verify.ok).toBe(true)
    expect(decisions.entries).toHaveLength(6)
    const all = await auditWith('sv-smb2-ntlmssp-negotiateflags.pcap', inv, undefined, [decisions])
    expect(all.findings.filter((f) => f.code === 'unlogged-access')).toEqual([])
  })
})

describe('profiles and inventories in audits/', () => {
  it('loads every profile and the example inventory', () => {
    for (const name of ['default', 'credentials', 'office']) {
      const p = loadAuditProfile(join(repoRoot, 'audits', `${name}.yaml`))
      expect(p.name).toBe(name)
    }
    const office = loadAuditProfile(join(repoRoot, 'audits', 'office.yaml'))
    expect(office.detectors).not.toContain('smb-share-access')
    expect(office.severities['discovery-leak']).toBe('info')
    const inv = loadInventory(office.inventory!)
    expect(inv.peers.map((p) => p.name)).toContain('fileserver.office.lan')
  })

  it('a profile chooses detectors and severities', async () => {
    const p = loadAuditProfile(join(repoRoot, 'audits', 'credentials.yaml'))
    const r = await auditCaptureFile(join(CORPUS, 'arkime-http-digestauth.pcap'), {
      detectors: p.detectors!,
      severities: p.severities
    })
    expect(r.findings.map((f) => [f.code, f.severity])).toEqual([['http-digest-auth', 'low']])
    const smb = await auditCaptureFile(join(CORPUS, 'gen-smb2-unsigned.pcap'), { detectors: p.detectors! })
    expect(smb.findings.map((f) => f.code)).toEqual(['ntlm-auth'])
  })

  it('rejects bad profiles and inventories with typed errors naming the field', () => {
    expect(() => profileFromObject({ name: 'x', detectors: ['nope'] })).toThrow(/unknown finding code "nope"/)
    expect(() => profileFromObject({ name: 'x', severities: { 'smb1-in-use': 'severe' } })).toThrow(/severities.smb1-in-use/)
    expect(() => profileFromObject({ name: 'x', bogus: 1 })).toThrow(expect.objectContaining({ code: 'audit-profile-invalid' }))
    expect(() => profileFromObject([])).toThrow(expect.objectContaining({ code: 'audit-profile-invalid' }))
    expect(() => inventoryFromObject({ peers: [{ name: 'a', addresses: ['not-an-ip'] }] })).toThrow(/addresses\[0\]/)
    expect(() =>
      inventoryFromObject({
        peers: [
          { name: 'a', addresses: ['10.0.0.1'] },
          { name: 'b', addresses: ['10.0.0.1'] }
        ]
      })
    ).toThrow(/belongs to both/)
    expect(() => inventoryFromObject({ peers: 'x' })).toThrow(expect.objectContaining({ code: 'audit-inventory-invalid' }))
    expect(() => loadInventory(join(tmpdir(), 'does-not-exist.yaml'))).toThrow(
      expect.objectContaining({ code: 'audit-inventory-invalid' })
    )
    expect(() => createPolicyChecks({ policy: {} as never })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })
})

describe('policy correlation on an office LAN (hardened by the decision log, plain by decoded operations)', () => {
  async function audit(office: Office, logs = true): Promise<TrafficAuditReport> {
    return auditCaptureFile(office.capture, {
      postChecks: createPolicyChecks({
        inventory: inventoryFromObject(INVENTORY),
        policy: loadPolicy(POLICY),
        ...(logs ? { decisionLogs: [await readDecisionLog(office.log)] } : {})
      })
    })
  }
  const onPort = (r: TrafficAuditReport, code: string, port: number) =>
    r.findings.filter((f) => f.code === code && f.flow?.srcPort === port)

  it("judges each flow by what happened on it: the guest's hardened read is fine, her plain write to public/ is not", async () => {
    const office = await makeOffice()
    const r = await audit(office)
    // carol's hardened session: its log entries say she read public/readme.txt, which she may.
    expect(onPort(r, 'policy-violation', 50001)).toEqual([])
    expect(onPort(r, 'unlogged-access', 50001)).toEqual([])
    // carol's write over the plain share, judged on its path and verb.
    const write = onPort(r, 'policy-violation', 50002)
    expect(write).toHaveLength(1)
    expect(write[0]!.evidence).toMatchObject({
      client: 'carol.guest.lan',
      judgedBy: 'operations',
      operations: [{ verb: 'put', resource: 'share:office/public/notes.txt', command: 'write', decision: 'deny-default' }]
    })
    // alice reads docs/ in clear: allowed to her, but docs must be encrypted.
    const clear = onPort(r, 'policy-requires-encryption', 50003)
    expect(clear).toHaveLength(1)
    expect(clear[0]!.evidence).toMatchObject({ resource: 'share:office/docs/q3.pdf', client: 'alice.office.lan' })
    expect(onPort(r, 'policy-violation', 50003)).toEqual([])
    // alice's plain work on public/ and every hardened session: nothing to report.
    for (const port of [50004, 50005, 50006])
      expect(r.findings.filter((f) => f.flow?.srcPort === port && f.code.startsWith('policy'))).toEqual([])
    expect(r.findings.filter((f) => f.code === 'unlogged-access' || f.code === 'decision-log-unverified')).toEqual([])
  })

  it('an operation the node allowed but the policy denies is a violation judged by the log', async () => {
    const office = await makeOffice([
      {
        who: 'carol',
        port: 50010,
        kind: 'hardened',
        at: 0,
        ops: [{ op: 'read', verb: 'get', resource: 'share:office/docs/pay.xlsx', allowed: true }]
      }
    ])
    const v = onPort(await audit(office), 'policy-violation', 50010)
    expect(v).toHaveLength(1)
    expect(v[0]!.evidence).toMatchObject({
      judgedBy: 'decision-log',
      operations: [{ verb: 'get', resource: 'share:office/docs/pay.xlsx', peer: 'carol.guest.lan', decision: 'deny-default' }]
    })
  })

  it('a hardened flow the log does not mention is unlogged-access', async () => {
    const office = await makeOffice([{ ...SESSIONS[0]!, unlogged: true }, SESSIONS[4]!])
    const r = await audit(office)
    expect(onPort(r, 'unlogged-access', 50001)).toHaveLength(1)
    expect(onPort(r, 'unlogged-access', 50005)).toEqual([])
  })

  it('a tampered log is itself a finding, and nothing after the damage is used', async () => {
    const office = await makeOffice()
    const lines = readFileSync(office.log, 'utf8').split('\n')
    // Edit carol's hardened read (line 2): the entry no longer matches its hash.
    lines[1] = lines[1]!.replace('public/readme.txt', 'public/readme.TXT')
    writeFileSync(office.log, lines.join('\n'))
    const log = await readDecisionLog(office.log)
    expect(log.verify.ok).toBe(false)
    expect(log.entries).toHaveLength(1)
    const r = await audit(office)
    const bad = r.findings.filter((f) => f.code === 'decision-log-unverified')
    expect(bad).toHaveLength(1)
    expect(bad[0]).toMatchObject({ severity: 'high', evidence: { problem: 'log-entry-hash-mismatch', line: 2, entriesUsed: 1 } })
    // Every later session lost its entries: unlogged.
    expect(r.findings.filter((f) => f.code === 'unlogged-access').map((f) => f.flow?.srcPort)).toEqual([
      50002, 50003, 50004, 50005, 50006
    ])
  })

  it('without decision logs, hardened flows are not judged against the whole share', async () => {
    const r = await audit(await makeOffice(), false)
    expect(r.findings.filter((f) => f.code === 'policy-violation').map((f) => f.flow?.srcPort)).toEqual([50002])
  })
})
