/**
 * The share as the traffic auditor sees it: real loopback traffic captured with dumpcap, then
 * audited. The plain share is found (`peerguard-plain`, with the paths it exposed); the hardened
 * share is recognised as the encrypted channel (`peerguard-channel`) and exposes nothing. Needs
 * root and dumpcap (Debian: wireshark-common, pulled in by tshark): needs() skips visibly, or fails
 * under PEERGUARD_REQUIRE_ALL=1.
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auditCaptureFile } from '@peerguard/audit'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer, type ShareServer } from '@peerguard/share'
import { makeTestPki, needs } from '@peerguard/test-utils'

const capture = needs(['root', 'dumpcap'], 'share-audit: share traffic captured with dumpcap')
let dir: string
const servers: ShareServer[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-share-audit-'))
})
afterAll(async () => {
  for (const s of servers) await s.close()
  await rm(dir, { recursive: true, force: true })
})

async function startCapture(file: string, filter: string): Promise<ChildProcess> {
  const p = spawn('dumpcap', ['-i', 'lo', '-f', filter, '-w', file, '-P'], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    p.stderr?.on('data', (d: Buffer) => d.toString().includes('Capturing on') && resolve())
    p.once('exit', (code) => reject(new Error(`dumpcap exited ${code}`)))
  })
  await new Promise((r) => setTimeout(r, 1000)) // "Capturing on" comes a little before the capture does
  return p
}

describe('the traffic auditor on share traffic', () => {
  capture.it('finds the plain share and its paths; sees only an encrypted channel for the hardened one', async () => {
    const root = join(dir, 'office')
    await mkdir(join(root, 'public'), { recursive: true })
    await writeFile(join(root, 'public', 'notice.txt'), 'SECRET-LUNCH-PLAN\n')
    const pki = await makeTestPki({
      peers: [
        { name: 'alice', groups: ['staff'] },
        { name: 'bob', groups: ['staff'] }
      ]
    })
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const plain = createShareServer({ root, shareName: 'office' })
    const hardened = createShareServer({
      root,
      shareName: 'office',
      transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: pki.trust }),
      authorize: policyAuthorizer(
        loadPolicy(
          'version: 1\nrules:\n  - id: all\n    allow: [read]\n    peers: ["ou:staff"]\n    resources: ["share:office/**"]\n'
        )
      )
    })
    servers.push(plain, hardened)
    const pa = await plain.listen()
    const ha = await hardened.listen()
    const pcap = join(dir, 'share.pcap')
    const dumpcap = await startCapture(pcap, `tcp port ${pa.port} or tcp port ${ha.port}`)
    try {
      const pc = await connectShare(pa)
      expect((await pc.readFile('public/notice.txt')).toString()).toBe('SECRET-LUNCH-PLAN\n')
      pc.close()
      const hc = await connectShare(ha, {
        transport: channelTransport({ identity: bob.identity, chain: bob.chain, trust: pki.trust })
      })
      expect((await hc.readFile('public/notice.txt')).toString()).toBe('SECRET-LUNCH-PLAN\n')
      hc.close()
      await new Promise((r) => setTimeout(r, 1000))
    } finally {
      dumpcap.kill('SIGINT')
      await new Promise((r) => dumpcap.once('exit', r))
    }
    const report = await auditCaptureFile(pcap)
    const plainFinding = report.findings.find((f) => f.code === 'peerguard-plain')
    expect(plainFinding?.flow).toMatchObject({ dstPort: pa.port })
    expect(plainFinding?.evidence).toMatchObject({ paths: ['public/notice.txt'] })
    const channelFinding = report.findings.find((f) => f.code === 'peerguard-channel')
    expect(channelFinding?.flow).toMatchObject({ dstPort: ha.port })
    // the file's content crossed the wire in clear on the plain share only
    const bytes = await readFile(pcap)
    const count = bytes.toString('latin1').split('SECRET-LUNCH-PLAN').length - 1
    expect(count).toBe(1)
  })
})
