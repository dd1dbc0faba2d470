/**
 * Live reload with an intermediate CA (issue 11 item 2, "every documented trust form"): the
 * node's trust folder holds the root and the CRLs of the root and of the intermediate that issued
 * the peers. Revoking a peer at the intermediate closes that peer's open channel; revoking the
 * intermediate itself at the root closes every channel of the peers below it. In process, real
 * sockets and files.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { generateKeyPair, type KeyPair } from '@peerguard/identity'
import { type CertificateAuthority, createCertificateAuthority, createTrustStore, pemEncode } from '@peerguard/pki'
import {
  channelTransport,
  connectShare,
  createShareServer,
  type DroppedEvent,
  type ShareServer,
  type ShareTransport
} from '@peerguard/share'
import { createLiveConfig, type LiveConfig } from '../packages/cli/src/live-config.js'
import { readTrustFiles } from '../packages/cli/src/serve-live.js'

interface Peer {
  identity: KeyPair
  chain: Uint8Array[]
  serial: string
}

let dir: string
let root: CertificateAuthority
let inter: CertificateAuthority
let inter2: CertificateAuthority
let nas: Peer
let live: LiveConfig
let server: ShareServer
let port: number
const dropped: DroppedEvent[] = []

async function replaceFile(path: string, data: string): Promise<void> {
  const tmp = join(dir, `.tmp-${process.hrtime.bigint()}`)
  await writeFile(tmp, data)
  await rename(tmp, path)
}

async function issue(name: string, by: CertificateAuthority = inter): Promise<Peer> {
  const identity = generateKeyPair()
  const cert = await by.issuePeer({ publicKey: identity.publicKey, name, groups: ['staff'] })
  return { identity, chain: cert.chain, serial: cert.serial }
}

/** Connect as `peer`; resolves to when its channel closed. */
async function connectAs(peer: Peer): Promise<{ closed: Promise<number> }> {
  const trust = createTrustStore({
    roots: [root.certificate],
    crls: [(await root.crl()).der, (await inter.crl()).der, (await inter2.crl()).der]
  })
  const base = channelTransport({ identity: peer.identity, chain: peer.chain, trust })
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
  await client.list('')
  return { closed: new Promise<number>((r) => (stream as Duplex).once('close', () => r(Date.now()))) }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-reload-inter-'))
  root = await createCertificateAuthority({ name: 'Office Root CA' })
  inter = await root.issueIntermediate({ name: 'Office Issuing CA' })
  inter2 = await root.issueIntermediate({ name: 'Lab Issuing CA' })
  nas = await issue('nas')
  const trustDir = join(dir, 'trust')
  await mkdir(trustDir)
  await mkdir(join(dir, 'share'))
  await writeFile(join(trustDir, 'root.pem'), pemEncode(root.certificate, 'CERTIFICATE'))
  await writeFile(join(trustDir, 'root.crl'), (await root.crl()).pem)
  await writeFile(join(trustDir, 'issuing.crl'), (await inter.crl()).pem)
  await writeFile(join(trustDir, 'lab.crl'), (await inter2.crl()).pem)
  await writeFile(join(dir, 'nas.pem'), nas.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
  live = await createLiveConfig({
    identity: nas.identity,
    certPath: join(dir, 'nas.pem'),
    trustPath: trustDir,
    loadTrust: () => readTrustFiles(trustDir),
    report: () => {},
    crlRefreshMs: 0
  })
  server = createShareServer({
    root: join(dir, 'share'),
    transport: channelTransport({ identity: nas.identity, chain: live.chain, trust: live.trust }),
    authorize: () => ({ allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }),
    connectionCheck: live.checkPeer
  })
  server.on('dropped', (e: DroppedEvent) => dropped.push(e))
  port = (await server.listen()).port
  live.onChange((change) => server.recheck({ trust: change.trust }))
  await live.start()
}, 60_000)

afterAll(async () => {
  live?.close()
  await server?.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('live reload below an intermediate CA', () => {
  it("a peer below another intermediate than the server's is re-checked with the chain it presented", async () => {
    const dave = await issue('dave', inter2)
    const daveConn = await connectAs(dave)
    let daveClosed = false
    void daveConn.closed.then(() => {
      daveClosed = true
    })
    // an unrelated trust change: a freshly signed root CRL. dave's chain (via "Lab Issuing CA",
    // which the server's own chain does not hold) must still verify, so dave stays connected.
    const before = dropped.length
    let reloaded!: () => void
    const applied = new Promise<void>((r) => (reloaded = r))
    live.onChange(() => reloaded())
    await replaceFile(join(dir, 'trust', 'root.crl'), (await root.crl()).pem)
    await applied
    await new Promise((r) => setTimeout(r, 300))
    expect(dropped.slice(before)).toEqual([])
    expect(daveClosed).toBe(false)
    // revoked at his own intermediate: closed, with the revocation as the reason
    await inter2.revoke(dave.serial, 'keyCompromise')
    await replaceFile(join(dir, 'trust', 'lab.crl'), (await inter2.crl()).pem)
    await daveConn.closed
    expect(dropped.at(-1)).toMatchObject({ code: 'cert-revoked', peer: expect.objectContaining({ name: 'dave' }) })
  }, 30_000)

  it("a peer revoked by the intermediate is closed when the intermediate's CRL lands; the others stay", async () => {
    const bob = await issue('bob')
    const carol = await issue('carol')
    const bobConn = await connectAs(bob)
    const carolConn = await connectAs(carol)
    let carolClosed = false
    void carolConn.closed.then(() => {
      carolClosed = true
    })
    await inter.revoke(bob.serial, 'keyCompromise')
    await replaceFile(join(dir, 'trust', 'issuing.crl'), (await inter.crl()).pem)
    await bobConn.closed
    expect(dropped.at(-1)).toMatchObject({ code: 'cert-revoked', peer: expect.objectContaining({ name: 'bob' }) })
    expect(carolClosed).toBe(false)
    await expect(connectAs(bob)).rejects.toThrow()
    // the intermediate itself revoked at the root: every peer below it is closed
    const interSerial = inter.parsed.serial
    await root.revoke(interSerial, 'cACompromise')
    await replaceFile(join(dir, 'trust', 'root.crl'), (await root.crl()).pem)
    await carolConn.closed
    expect(dropped.at(-1)).toMatchObject({ code: 'cert-revoked', peer: expect.objectContaining({ name: 'carol' }) })
  }, 30_000)
})
