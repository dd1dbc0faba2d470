/**
 * Live reload of a running hardened share (issue 11 item 2), in process over real sockets and
 * real files: the CLI's LiveConfig (packages/cli/src/live-config.ts) wired to a share server the
 * way `share serve` wires it. A CRL copied into the live trust folder closes the revoked peer's
 * open channel within a second of the reload and refuses its next connection; a broken policy edit
 * keeps the old policy (logged as a rejected reload), a good one decides every later operation; an
 * older CRL, a CRL with a bad signature and a certificate for another key are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { type DecisionLog, openDecisionLog } from '@peerguard/decision-log'
import { pemEncode } from '@peerguard/pki'
import {
  channelTransport,
  connectShare,
  createShareServer,
  policyAuthorizer,
  type ShareClient,
  type ShareServer,
  type ShareTransport
} from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { createLiveConfig, type LiveConfig } from '../packages/cli/src/live-config.js'
import { readTrustFiles } from '../packages/cli/src/serve-live.js'

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: guests-read-public
    allow: [read]
    peers: [guests]
    resources: ["share:office/public/**"]
`

let dir: string
let trustDir: string
let pki: TestPki
let nas: TestPeer
let live: LiveConfig
let server: ShareServer
let log: DecisionLog
let port: number
const lines: Array<{ at: number; line: string }> = []

/** Write a file the way `cp` + `mv` or an editor does: a temporary name, then one rename. */
async function replaceFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dir, `.tmp-${process.hrtime.bigint()}`)
  await writeFile(tmp, data)
  await rename(tmp, path)
}

/** Resolves with the first report line matching `re` after `since` (generous overall timeout). */
async function reported(re: RegExp, since: number, timeoutMs = 60_000): Promise<{ at: number; line: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = lines.find((l) => l.at >= since && re.test(l.line))
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`no report line ${re} in:\n${lines.map((l) => l.line).join('\n')}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A client whose channel's close time is recorded. */
async function connectAs(peer: TestPeer): Promise<{ client: ShareClient; closed: Promise<number> }> {
  const base = channelTransport({ identity: peer.identity, chain: peer.chain, trust: await pki.trustWithCrl() })
  let stream: Duplex | undefined
  const transport: ShareTransport = {
    mode: base.mode,
    accept: (s) => base.accept(s),
    connect: async (s) => {
      const r = await base.connect(s)
      stream = r.stream
      return r
    }
  }
  const client = await connectShare({ host: '127.0.0.1', port }, { transport })
  const closed = new Promise<number>((resolve) => (stream as Duplex).once('close', () => resolve(Date.now())))
  return { client, closed }
}

async function logRecords(): Promise<Array<Record<string, unknown>>> {
  return (await readFile(join(dir, 'decisions.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { record?: Record<string, unknown> } & Record<string, unknown>)
    .map((e) => (e.record ?? e) as Record<string, unknown>)
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-reload-share-'))
  trustDir = join(dir, 'trust')
  await mkdir(join(dir, 'office', 'public'), { recursive: true })
  await writeFile(join(dir, 'office', 'public', 'notice.txt'), 'lunch at noon\n')
  await writeFile(join(dir, 'office', 'plan.txt'), 'the plan\n')
  await mkdir(trustDir)
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['guests'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
  nas = pki.peers.nas as TestPeer
  await writeFile(join(trustDir, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
  await writeFile(join(trustDir, 'ca.crl'), (await pki.ca.crl()).pem)
  await writeFile(join(dir, 'nas.pem'), nas.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
  await writeFile(join(dir, 'office.yaml'), POLICY)
  log = await openDecisionLog({ path: join(dir, 'decisions.jsonl'), identity: nas.identity })
  live = await createLiveConfig({
    identity: nas.identity,
    certPath: join(dir, 'nas.pem'),
    trustPath: trustDir,
    policyPath: join(dir, 'office.yaml'),
    loadTrust: () => readTrustFiles(trustDir),
    log,
    report: (line) => lines.push({ at: Date.now(), line }),
    crlRefreshMs: 0
  })
  server = createShareServer({
    root: join(dir, 'office'),
    transport: channelTransport({ identity: nas.identity, chain: live.chain, trust: live.trust }),
    authorize: policyAuthorizer(live.policy as NonNullable<LiveConfig['policy']>),
    connectionCheck: live.checkPeer,
    log
  })
  port = (await server.listen()).port
  live.onChange((change) => server.recheck({ trust: change.trust }))
  await live.start()
}, 60_000)

afterAll(async () => {
  live?.close()
  await server?.close()
  await log?.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('live reload of a running share', () => {
  it('a CRL copied into the live trust folder closes the revoked peer within a second and refuses it next time', async () => {
    const bob = await connectAs(pki.peers.bob as TestPeer)
    const alice = await connectAs(pki.peers.alice as TestPeer)
    expect((await bob.client.list('public')).entries.map((e) => e.name)).toEqual(['notice.txt'])
    await pki.ca.revoke((pki.peers.bob as TestPeer).certificate.serial, 'keyCompromise')
    const written = Date.now()
    await replaceFile(join(trustDir, 'ca.crl'), (await pki.ca.crl()).pem)
    const reload = await reported(/^peerguard: reloaded crl/, written)
    const closedAt = await bob.closed
    // measured from the reload to the close: the re-check runs in the reload itself
    expect(closedAt - reload.at).toBeLessThan(1000)
    // from the write: the watcher's latency too (1 s poll, fs.watch) — an "eventually", kept generous
    expect(closedAt - written).toBeLessThan(30_000)
    await expect(connectAs(pki.peers.bob as TestPeer)).rejects.toThrow()
    // alice's open connection is untouched
    expect((await alice.client.list('')).entries.map((e) => e.name).sort()).toEqual(['plan.txt', 'public'])
    alice.client.close()
    const records = await logRecords()
    expect(records).toContainEqual(expect.objectContaining({ kind: 'reload', event: 'applied', what: 'crl', code: 'ok' }))
    expect(records).toContainEqual(
      expect.objectContaining({
        kind: 'connection',
        event: 'refused',
        code: 'cert-revoked',
        peer: expect.objectContaining({ name: 'bob' })
      })
    )
  }, 120_000)

  it('a broken policy edit keeps the policy in force (rejected reload); a good edit decides every later operation', async () => {
    const alice = await connectAs(pki.peers.alice as TestPeer)
    const before = live.policySha256
    let since = Date.now()
    await replaceFile(join(dir, 'office.yaml'), 'version: 1\nrules: [ {')
    const rejected = await reported(/reload: new policy rejected \(policy-parse-error\)/, since)
    expect(rejected.line).toMatch(/keeping the policy in force/)
    expect(live.policySha256).toBe(before)
    expect((await alice.client.stat('plan.txt')).type).toBe('file')
    const records = await logRecords()
    expect(records).toContainEqual(
      expect.objectContaining({
        kind: 'reload',
        event: 'rejected',
        what: 'policy',
        code: 'policy-parse-error',
        policySha256: before
      })
    )
    since = Date.now()
    await replaceFile(
      join(dir, 'office.yaml'),
      POLICY.replace(
        'allow: [read, write]\n    peers: [staff]\n    resources: ["share:office/**"]',
        'allow: [read]\n    peers: [staff]\n    resources: ["share:office/public/**"]'
      )
    )
    await reported(/^peerguard: reloaded policy/, since)
    expect(live.policySha256).not.toBe(before)
    // the same open connection: the next operation is decided under the new policy
    await expect(alice.client.stat('plan.txt')).rejects.toMatchObject({ code: 'share-denied' })
    expect((await alice.client.stat('public/notice.txt')).type).toBe('file')
    expect(await logRecords()).toContainEqual(
      expect.objectContaining({ kind: 'reload', event: 'applied', what: 'policy', policySha256: live.policySha256 })
    )
    alice.client.close()
    since = Date.now()
    await replaceFile(join(dir, 'office.yaml'), POLICY)
    await reported(/^peerguard: reloaded policy/, since)
  }, 180_000)

  it('an older CRL, a CRL with a bad signature and a certificate for another key are refused; the ones in force stay', async () => {
    const older = await readFile(join(trustDir, 'ca.crl'), 'utf8')
    const newer = await pki.ca.crl()
    let since = Date.now()
    await replaceFile(join(trustDir, 'ca.crl'), newer.pem)
    await reported(/^peerguard: reloaded crl/, since)
    // roll back to the CRL before
    since = Date.now()
    await replaceFile(join(trustDir, 'ca.crl'), older)
    await reported(/new trust rejected \(crl-older\)/, since)
    // a CRL whose signature was tampered with
    const forged = Uint8Array.from(newer.der)
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0x01
    since = Date.now()
    await replaceFile(join(trustDir, 'ca.crl'), pemEncode(forged, 'X509 CRL'))
    await reported(/new trust rejected \(crl-bad-signature\)/, since)
    // the CRL removed while its CA stays trusted
    since = Date.now()
    await rm(join(trustDir, 'ca.crl'))
    await reported(/new trust rejected \(crl-missing\)/, since)
    // bob is still refused: the newest CRL is the one in force
    await expect(connectAs(pki.peers.bob as TestPeer)).rejects.toThrow()
    // a certificate for another key
    since = Date.now()
    await replaceFile(join(dir, 'nas.pem'), (pki.peers.alice as TestPeer).chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    await reported(/new certificate rejected \(reload-certificate-mismatch\)/, since)
    expect(Buffer.from(live.chain[0] as Uint8Array).equals(Buffer.from(nas.chain[0] as Uint8Array))).toBe(true)
    const records = await logRecords()
    for (const code of ['crl-older', 'crl-bad-signature', 'crl-missing'])
      expect(records).toContainEqual(expect.objectContaining({ kind: 'reload', event: 'rejected', what: 'trust', code }))
    expect(records).toContainEqual(
      expect.objectContaining({ kind: 'reload', event: 'rejected', what: 'certificate', code: 'reload-certificate-mismatch' })
    )
    // put everything back
    await replaceFile(join(dir, 'nas.pem'), nas.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    await replaceFile(join(trustDir, 'ca.crl'), newer.pem)
  }, 300_000)
})
