import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { createSocket } from 'node:dgram'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HandshakeLimiter } from '@peerguard/channel'
import { generateKeyPair, type KeyPair } from '@peerguard/identity'
import { createCsr, verifyPeerChain } from '@peerguard/pki'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'
import {
  announceKeyOf,
  discoverEnrollment,
  type EnrollEvent,
  EnrollError,
  EnrollmentService,
  type EnrollToken,
  enroll,
  parseHostPort,
  parseToken,
  rootFingerprintOf,
  sealAnnouncement,
  TOKEN_DIR,
  TokenStore,
  workspaceIdOf
} from '../src/index.js'
import { rawJoin } from './enroll-helpers.js'

interface CaNode {
  pki: TestPki
  dir: string
  tokens: TokenStore
  events: EnrollEvent[]
  server: Server
  port: number
  clock: { now(): number }
  skewMs: number
}

async function startCaNode(caName: string): Promise<CaNode> {
  const pki = await makeTestPki({ caName, peers: [{ name: 'admin', groups: ['admins'] }] })
  const admin = pki.peers.admin
  if (admin === undefined) throw new Error('fixture: admin')
  const dir = await mkdtemp(join(tmpdir(), 'pg-enroll-'))
  const node: Partial<CaNode> = { pki, dir, events: [], skewMs: 0 }
  const clock = { now: () => Date.now() + (node.skewMs ?? 0) }
  const tokens = new TokenStore(dir, { clock })
  const crl = (await pki.ca.crl()).der
  const service = new EnrollmentService({
    ca: pki.ca,
    root: pki.ca.certificate,
    tokens,
    identity: admin.identity,
    chain: admin.chain,
    crl: () => crl,
    policy: () => 'version: 1\n',
    onEvent: (e) => node.events?.push(e)
  })
  const server = createServer((socket) => void service.handle(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return Object.assign(node, { tokens, server, port: address.port, clock }) as CaNode
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof EnrollError) return err.code
    throw err
  }
  throw new Error('expected an enrollment refusal')
}

let ca: CaNode
let impostor: CaNode

beforeAll(async () => {
  ca = await startCaNode('Home LAN CA')
  impostor = await startCaNode('Impostor CA')
})

afterAll(async () => {
  for (const n of [ca, impostor]) await new Promise((resolve) => n?.server.close(resolve))
})

async function makeToken(node: CaNode, name: string, groups: string[], ttlMs = 15 * 60_000): Promise<string> {
  const made = await node.tokens.create({ name, groups, ttlMs, rootFingerprint: rootFingerprintOf(node.pki.ca.certificate) })
  return made.token
}

const join1 = (node: CaNode, token: string | EnrollToken, identity: KeyPair = generateKeyPair()) =>
  enroll({ token: typeof token === 'string' ? parseToken(token) : token, identity, host: '127.0.0.1', port: node.port })

describe('enrollment with a one-time token', () => {
  it('certifies the new key for exactly the token name and groups, with root, CRL and policy', async () => {
    const line = await makeToken(ca, 'carol', ['family', 'printers'])
    const identity = generateKeyPair()
    const got = await join1(ca, line, identity)
    expect(got.name).toBe('carol')
    expect(got.groups).toEqual(['family', 'printers'])
    expect(got.root).toEqual(ca.pki.ca.certificate)
    expect(got.caPeerId).toBe(ca.pki.peers.admin?.peerId)
    expect(got.crl).toBeDefined()
    expect(got.policy).toBe('version: 1\n')
    const verified = await verifyPeerChain(got.chain.slice(0, -1), { trust: ca.pki.trust })
    expect(Buffer.from(verified.publicKey)).toEqual(Buffer.from(identity.publicKey))
    expect(ca.events.at(-1)).toMatchObject({ outcome: 'enrolled', name: 'carol', peerId: verified.peerId })
  })

  it('keeps only the hash of the secret at rest, mode 0600, and marks the token used', async () => {
    const line = await makeToken(ca, 'dave', [])
    const t = parseToken(line)
    await join1(ca, line)
    const id = Buffer.from(t.tokenId).toString('hex')
    const tokenDir = join(ca.dir, TOKEN_DIR)
    const text = await readFile(join(tokenDir, `${id}.json`), 'utf8')
    expect(text).not.toContain(Buffer.from(t.secret).toString('hex'))
    expect(text).not.toContain(Buffer.from(t.secret).toString('base64'))
    expect(JSON.parse(text)).toMatchObject({ name: 'dave', groups: [] })
    expect((await stat(join(tokenDir, `${id}.json`))).mode & 0o777).toBe(0o600)
    expect((await stat(tokenDir)).mode & 0o777).toBe(0o700)
    expect(await readdir(tokenDir)).toContain(`${id}.used`)
  })

  it('refuses a replay of a used token (enroll-token-used)', async () => {
    const line = await makeToken(ca, 'erin', [])
    await join1(ca, line)
    expect(await refusal(join1(ca, line))).toBe('enroll-token-used')
    expect(ca.events.at(-1)).toMatchObject({ outcome: 'refused', code: 'enroll-token-used' })
  })

  it('refuses an expired token (enroll-token-expired)', async () => {
    const line = await makeToken(ca, 'frank', [], 1000)
    ca.skewMs = 2000
    try {
      expect(await refusal(join1(ca, line))).toBe('enroll-token-expired')
    } finally {
      ca.skewMs = 0
    }
  })

  it('refuses a token the CA never made (enroll-token-unknown) and a wrong secret (enroll-token-mac)', async () => {
    const real = parseToken(await makeToken(ca, 'gina', []))
    const unknown = { ...real, tokenId: new Uint8Array(randomBytes(16)) }
    expect(await refusal(join1(ca, unknown))).toBe('enroll-token-unknown')
    const wrongSecret = { ...real, secret: new Uint8Array(randomBytes(32)) }
    expect(await refusal(join1(ca, wrongSecret))).toBe('enroll-token-mac')
    // a wrong guess does not burn the token
    expect((await join1(ca, real)).name).toBe('gina')
  })

  it('refuses an impostor CA that holds the token: no secret, CSR or proof reaches it', async () => {
    const line = await makeToken(ca, 'hank', ['family'])
    const id = Buffer.from(parseToken(line).tokenId).toString('hex')
    // the impostor got hold of the token record (and would know the ID): it answers as if the token were its own
    await mkdir(join(impostor.dir, TOKEN_DIR), { recursive: true })
    await copyFile(join(ca.dir, TOKEN_DIR, `${id}.json`), join(impostor.dir, TOKEN_DIR, `${id}.json`))
    const before = impostor.events.length
    expect(await refusal(join1(impostor, line))).toBe('enroll-ca-mismatch')
    await until(() => impostor.events.length > before)
    // the impostor saw the hello only: the joiner hung up before any request, so it could not claim the token
    expect(impostor.events.at(-1)?.outcome).toBe('refused')
    expect(['enroll-malformed', 'enroll-failed']).toContain(impostor.events.at(-1)?.code)
    expect(impostor.events.some((e) => e.outcome === 'enrolled')).toBe(false)
    expect(await readdir(join(impostor.dir, TOKEN_DIR))).not.toContain(`${id}.used`)
    // and the token still works at the real CA
    expect((await join1(ca, line)).name).toBe('hank')
  })

  it('lets exactly one of ten concurrent joins with the same token succeed', async () => {
    const line = await makeToken(ca, 'ivy', ['family'])
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => join1(ca, line)))
    const ok = results.filter((r) => r.status === 'fulfilled')
    expect(ok).toHaveLength(1)
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as EnrollError).code).toBe('enroll-token-used')
    }
    const issued = (await ca.pki.ca.list()).filter((rec) => rec.name === 'ivy')
    expect(issued).toHaveLength(1)
  })
})

describe('hostile joiners', () => {
  it('refuses a CSR for another name (enroll-widening) and for another key (enroll-csr-mismatch)', async () => {
    const wide = parseToken(await makeToken(ca, 'judy', ['family']))
    const me = generateKeyPair()
    const asAdmin = await rawJoin(ca.port, me, wide, async () => (await createCsr({ keyPair: me, name: 'admin' })).der)
    expect(asAdmin).toBe('enroll-widening')
    const other = parseToken(await makeToken(ca, 'kim', []))
    const someoneElse = generateKeyPair()
    const forOther = await rawJoin(ca.port, me, other, async () => (await createCsr({ keyPair: someoneElse, name: 'kim' })).der)
    expect(forOther).toBe('enroll-csr-mismatch')
    // neither refusal burned its token
    expect((await join1(ca, wide)).name).toBe('judy')
  })

  it('refuses a proof made for another channel (enroll-token-mac)', async () => {
    const t = parseToken(await makeToken(ca, 'lee', []))
    const me = generateKeyPair()
    const code = await rawJoin(ca.port, me, t, async () => (await createCsr({ keyPair: me, name: 'lee' })).der, {
      handshakeHash: new Uint8Array(32)
    })
    expect(code).toBe('enroll-token-mac')
  })

  it('answers garbage and truncated messages with enroll-malformed and no certificate', async () => {
    const me = generateKeyPair()
    const t = parseToken(await makeToken(ca, 'max', []))
    expect(await rawJoin(ca.port, me, t, undefined, { hello: new Uint8Array(randomBytes(40)) })).toBe('enroll-malformed')
    // 70 random bytes parse as a request when their CSR length (bytes 32-33) is 4, exactly the bytes
    // left for the CSR before the 32-byte proof: then the CA answers enroll-token-mac (1 run in
    // 65,536). Drawn again until that field cannot fit.
    let garbage = new Uint8Array(randomBytes(70))
    while (Buffer.from(garbage).readUInt16BE(32) === 70 - 32 - 2 - 32) garbage = new Uint8Array(randomBytes(70))
    expect(await rawJoin(ca.port, me, t, undefined, { request: garbage })).toBe('enroll-malformed')
    const before = ca.events.length
    expect(await rawJoin(ca.port, me, t, undefined, { truncate: true })).toBe('enroll-malformed')
    await until(() => ca.events.length > before)
    expect(ca.events.at(-1)).toMatchObject({ outcome: 'refused', code: 'enroll-malformed' })
    expect((await join1(ca, t)).name).toBe('max')
  })

  it('refuses a plain peerguard client without the enrollment protocol', async () => {
    const before = ca.events.length
    const t = parseToken(await makeToken(ca, 'ned', []))
    expect(await rawJoin(ca.port, generateKeyPair(), t, undefined, { protocols: [] })).toBe('enroll-malformed')
    await until(() => ca.events.length > before)
    expect(ca.events.at(-1)).toMatchObject({ outcome: 'refused', code: 'enroll-malformed' })
  })
})

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('finding the CA node by announcements (no address in the token)', () => {
  async function freeUdpPort(): Promise<number> {
    const s = createSocket('udp4')
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    const { port } = s.address()
    await new Promise<void>((resolve) => s.close(() => resolve()))
    return port
  }

  it("tries the senders of its workspace's announcements, ignores other workspaces, then enrolls", async () => {
    const t = parseToken(await makeToken(ca, 'pat', ['family']))
    const port = await freeUdpPort()
    const admin = ca.pki.peers.admin as NonNullable<typeof ca.pki.peers.admin>
    const body = { timestampMs: Date.now(), seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] }
    const seal = (root: Uint8Array) =>
      sealAnnouncement(body, { identity: admin.identity, workspaceId: workspaceIdOf(root), key: announceKeyOf(root) })
    const foreign = seal(impostor.pki.ca.certificate)
    const ours = seal(ca.pki.ca.certificate)
    const sender = createSocket('udp4')
    const found = discoverEnrollment({
      rootFingerprint: t.rootFingerprint,
      udp: { host: '127.0.0.1', port },
      enrollPort: ca.port,
      timeoutMs: 20_000
    })
    // UDP may drop a datagram: repeat until discovery answers
    const timer = setInterval(() => {
      sender.send(foreign, port, '127.0.0.1')
      sender.send(new Uint8Array(40), port, '127.0.0.1')
      sender.send(ours, port, '127.0.0.1')
    }, 50)
    try {
      expect(await found).toEqual({ host: '127.0.0.1', port: ca.port })
    } finally {
      clearInterval(timer)
      sender.close()
    }
    expect((await enroll({ token: t, identity: generateKeyPair(), host: '127.0.0.1', port: ca.port })).name).toBe('pat')
  })

  it('gives up with enroll-failed when no member of the workspace announces', async () => {
    const t = parseToken(await makeToken(ca, 'quinn', []))
    const port = await freeUdpPort()
    expect(
      await refusal(discoverEnrollment({ rootFingerprint: t.rootFingerprint, udp: { host: '127.0.0.1', port }, timeoutMs: 200 }))
    ).toBe('enroll-failed')
  })
})

describe('argument checks (exact messages)', () => {
  it('enroll, parseHostPort and EnrollmentService refuse wrong types and sizes', async () => {
    const t = parseToken(await makeToken(ca, 'oz', []))
    const identity = generateKeyPair()
    const base = { token: t, identity, host: '127.0.0.1', port: ca.port }
    await expect(enroll({ ...base, token: { ...t, secret: new Uint8Array(31) } })).rejects.toThrow(
      'options.token.secret: expected Uint8Array of length 32'
    )
    await expect(enroll({ ...base, port: 70000 })).rejects.toThrow('options.port')
    await expect(enroll({ ...base, identity: { publicKey: new Uint8Array(32) } as unknown as KeyPair })).rejects.toThrow(
      'options.identity.secretKey'
    )
    expect(() => parseHostPort('--ca', 'nohost')).toThrow('--ca: expected HOST:PORT')
    expect(() => parseHostPort('--ca', { toString: 1 } as unknown as string)).toThrow('--ca: expected HOST:PORT')
    expect(parseHostPort('--ca', '[::1]:47180')).toEqual({ host: '::1', port: 47180 })
    const admin = ca.pki.peers.admin as NonNullable<typeof ca.pki.peers.admin>
    const good = { ca: ca.pki.ca, root: ca.pki.ca.certificate, tokens: ca.tokens, identity: admin.identity, chain: admin.chain }
    expect(() => new EnrollmentService({ ...good, chain: [] })).toThrow('options.chain: expected 1..8 certificates')
    expect(() => new EnrollmentService({ ...good, tokens: {} as TokenStore })).toThrow('options.tokens: expected a TokenStore')
    expect(() => new EnrollmentService({ ...good, policy: 'x' as unknown as () => string })).toThrow(
      'options.policy: expected a function'
    )
  })

  it('TokenStore.create refuses a bad ttl, name or fingerprint', async () => {
    const fp = rootFingerprintOf(ca.pki.ca.certificate)
    await expect(ca.tokens.create({ name: 'x', ttlMs: 10, rootFingerprint: fp })).rejects.toThrow('options.ttlMs')
    await expect(ca.tokens.create({ name: '', ttlMs: 60_000, rootFingerprint: fp })).rejects.toThrow('options.name')
    await expect(ca.tokens.create({ name: 'x', groups: ['a', 'a'], ttlMs: 60_000, rootFingerprint: fp })).rejects.toThrow(
      'options.groups: a group appears twice'
    )
    await expect(ca.tokens.create({ name: 'x', ttlMs: 60_000, rootFingerprint: new Uint8Array(8) })).rejects.toThrow(
      'options.rootFingerprint: expected Uint8Array of length 32'
    )
    const listed = await ca.tokens.list()
    expect(listed.length).toBeGreaterThan(5)
    expect(listed.some((r) => r.used) && listed.some((r) => !r.used)).toBe(true)
  })
})

describe('handshake limits', () => {
  it('closes a connection over the per-address limit of pending handshakes', async () => {
    const admin = ca.pki.peers.admin as NonNullable<typeof ca.pki.peers.admin>
    const events: EnrollEvent[] = []
    const service = new EnrollmentService({
      ca: ca.pki.ca,
      root: ca.pki.ca.certificate,
      tokens: ca.tokens,
      identity: admin.identity,
      chain: admin.chain,
      limiter: new HandshakeLimiter({ maxPendingPerAddress: 1 }),
      onEvent: (e) => events.push(e)
    })
    const server = createServer((socket) => void service.handle(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    // a silent client holds the one slot; the next connection from the same address is refused at once
    const silent = connect({ host: '127.0.0.1', port })
    try {
      await new Promise<void>((resolve) => silent.once('connect', () => resolve()))
      const second = connect({ host: '127.0.0.1', port })
      await new Promise<void>((resolve) => second.once('close', () => resolve()))
      await until(() => events.length > 0)
      expect(events[0]).toMatchObject({ outcome: 'refused', code: 'enroll-failed' })
      expect(events[0]?.reason).toMatch(/channel-too-many-handshakes/)
    } finally {
      silent.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
