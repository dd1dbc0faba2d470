/**
 * Findings against an inventory and a policy: unknown-peer, policy-violation,
 * policy-requires-encryption, unlogged-access. Uses real corpus captures and the corpus README's
 * PEER_NOT_IN_POLICY example (sv-smb2-ntlmssp-negotiateflags.pcap, ndpi-bittorrent.pcap).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  createPolicyChecks,
  inventoryFromObject,
  loadAuditProfile,
  loadDecisionLog,
  loadInventory,
  openDecisionLog,
  profileFromObject,
  type TrafficAuditReport
} from '@peerguard/audit'
import { generateKeyPair } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import { CORPUS } from './traffic-helpers.js'

const repoRoot = join(CORPUS, '..', '..', '..', '..', '..')

async function auditWith(
  file: string,
  inventory: unknown,
  policyText?: string,
  decisions?: { time: number; address?: string }[]
): Promise<TrafficAuditReport> {
  const inv = inventoryFromObject(inventory)
  const policy = policyText === undefined ? undefined : loadPolicy(policyText)
  return auditCaptureFile(join(CORPUS, file), {
    postChecks: createPolicyChecks({
      inventory: inv,
      ...(policy === undefined ? {} : { policy }),
      ...(decisions === undefined ? {} : { decisions })
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
    expect(req[0]!.evidence).toMatchObject({ resource: 'share:plain', protocol: 'smb' })
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
    expect(v[0]!.evidence).toMatchObject({ resource: 'share:plain', decision: 'deny-default', client: 'desktop.lan' })
  })

  it('unlogged-access: flows to a hardened node need a decision-log entry', async () => {
    const inv = {
      peers: [
        { name: 'desktop.lan', addresses: ['192.168.199.132'] },
        { name: 'server.lan', addresses: ['192.168.199.133'], share: 'data', hardened: true }
      ]
    }
    const none = await auditWith('sv-smb2-ntlmssp-negotiateflags.pcap', inv, undefined, [])
    const unlogged = none.findings.filter((f) => f.code === 'unlogged-access')
    expect(unlogged.length).toBe(6)
    // The hardened node's real decision log (openDecisionLog), one accepted connection per session,
    // at the times of the captured flows.
    const dir = mkdtempSync(join(tmpdir(), 'pg-log-'))
    const file = join(dir, 'decisions.jsonl')
    const starts = none.flows.filter((f) => f.dst === '192.168.199.133' && f.dstPort === 445).map((f) => f.start)
    let now = 0
    const log = await openDecisionLog({ path: file, identity: generateKeyPair(), clock: { now: () => now } })
    for (const s of starts) {
      now = Math.round(s * 1000) + 20
      await log.append({
        kind: 'connection',
        event: 'accepted',
        code: 'allow',
        reason: 'certificate valid',
        peer: { peerId: 'pg1-desktop', address: '192.168.199.132:50000' }
      })
    }
    await log.close()
    const decisions = loadDecisionLog(file)
    expect(decisions).toHaveLength(6)
    const all = await auditWith('sv-smb2-ntlmssp-negotiateflags.pcap', inv, undefined, decisions)
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
