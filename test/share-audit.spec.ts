/**
 * The share as the traffic auditor sees it: real loopback traffic captured with dumpcap, then
 * audited. The plain share is found (`peerguard-plain`, with the paths it exposed); the hardened
 * share is recognised as the encrypted channel (`peerguard-channel`) and exposes nothing. Needs
 * root and dumpcap (Debian: wireshark-common, pulled in by tshark): needs() skips visibly, or fails
 * under PEERGUARD_REQUIRE_ALL=1.
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
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
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

async function startCapture(file: string, filter: string): Promise<ChildProcess> {
  const p = spawn('dumpcap', ['-i', 'lo', '-f', filter, '-w', file, '-P'], { stdio: ['ignore', 'ignore', 'pipe'] })
  // "Capturing on" is printed before the packet socket exists; "File: …" once the socket is bound,
  // its filter attached and the file opened (strace). Waiting for it replaces a 1 s sleep that a
  // busy machine could outrun (the first packets of the plain share then went uncaptured).
  let err = ''
  await new Promise<void>((resolve, reject) => {
    p.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      if (err.includes(`File: ${file}`)) resolve()
    })
    p.once('exit', (code) => reject(new Error(`dumpcap exited ${code}: ${err}`)))
  })
  return p
}

/** Wait until dumpcap has written what it read: the file stops growing (it flushes every ~100 ms). */
async function settled(file: string): Promise<void> {
  let last = -1
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 250))
    const size = (await stat(file)).size
    if (size === last) return
    last = size
  }
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
      await settled(pcap)
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
