/**
 * Attacker: anyone who can reach the CA node's enrollment port. The channel admits strangers, and
 * after the handshake the CA node waits up to its deadline for each joiner message — the pending-
 * handshake limits no longer apply. Before the fix one address could hold any number of finished
 * handshakes open (each with its buffers) for a deadline each, as fast as it could handshake.
 * Invariant (SECURITY.md, enrollment): at most MAX_ENROLL_SESSIONS_PER_ADDRESS exchanges per
 * remote address (and MAX_ENROLL_SESSIONS in all) are in progress after the handshake; one more is
 * closed at once (`enroll-failed`), and a slot is free again when an exchange ends — the joiner
 * from that address then enrolls. Real EnrollmentService and channels on loopback.
 */
import { mkdtemp } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { KnownPeers, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { createCsr } from '@peerguard/pki'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import {
  ENROLL_PROTOCOL,
  type EnrollEvent,
  EnrollmentService,
  parseToken,
  rootFingerprintOf,
  TokenStore
} from '@peerguard/workspace'
import { MAX_ENROLL_SESSIONS_PER_ADDRESS } from '../../packages/workspace/src/enroll-server.js'
import { rawJoin } from '../../packages/workspace/test/enroll-helpers.js'

let pki: TestPki
let tokens: TokenStore
let server: Server
let port = 0
const events: EnrollEvent[] = []
const sockets = new Set<Socket>()

beforeAll(async () => {
  pki = await makeTestPki({ peers: [{ name: 'admin', groups: ['admins'] }] })
  const admin = pki.peers.admin as TestPeer
  tokens = new TokenStore(await mkdtemp(join(tmpdir(), 'pg-adv-sessions-')))
  const service = new EnrollmentService({
    ca: pki.ca,
    root: pki.ca.certificate,
    tokens,
    identity: admin.identity,
    chain: admin.chain,
    timeoutMs: 600_000, // an idle stranger is not cut by the deadline during the test
    onEvent: (e) => events.push(e)
  })
  server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    void service.handle(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as { port: number }).port
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise((r) => server.close(r))
})

/** A stranger's finished handshake that then says nothing. */
async function idleChannel(): Promise<NoiseChannel> {
  const socket = connect({ port, host: '127.0.0.1' })
  sockets.add(socket)
  socket.on('error', () => {})
  await new Promise<void>((r) => socket.once('connect', () => r()))
  const channel = await secureOutbound(socket, {
    identity: generateKeyPair(),
    knownPeers: { store: KnownPeers.inMemory(), name: 'ca', trustOnFirstUse: true },
    protocols: [ENROLL_PROTOCOL]
  })
  channel.on('error', () => {})
  channel.resume()
  return channel
}

const closed = (c: NoiseChannel): Promise<void> =>
  new Promise((resolve) => {
    if (c.destroyed) resolve()
    else c.once('close', () => resolve())
  })

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('enrollment exchanges in progress per address', () => {
  it('one more than the limit is closed at once; a freed slot lets the joiner enroll', async () => {
    const held = await Promise.all(Array.from({ length: MAX_ENROLL_SESSIONS_PER_ADDRESS }, () => idleChannel()))
    expect(events).toEqual([]) // all held, none refused
    const extra = await idleChannel()
    // before the fix: held open until the deadline (10 min here)
    const cut = await Promise.race([closed(extra).then(() => true), new Promise((r) => setTimeout(r, 20_000, false))])
    expect(cut).toBe(true)
    await until(() => events.length === 1, 'the refusal')
    expect(events[0]).toMatchObject({ outcome: 'refused', code: 'enroll-failed' })
    expect(events[0]?.reason).toMatch(/too many enrollments in progress/)
    for (const c of held) expect(c.destroyed).toBe(false)

    // the strangers leave: their exchanges end, the slots are free
    for (const c of held) c.destroy()
    await until(() => events.length === 1 + MAX_ENROLL_SESSIONS_PER_ADDRESS, 'the held exchanges to end')
    const made = await tokens.create({ name: 'carol', ttlMs: 600_000, rootFingerprint: rootFingerprintOf(pki.ca.certificate) })
    const me = generateKeyPair()
    const got = await rawJoin(port, me, parseToken(made.token), async () => (await createCsr({ keyPair: me, name: 'carol' })).der)
    expect(got).toBe('ok')
  }, 60_000)
  it('refuses session limits that are not positive integers, with exact messages', () => {
    const admin = pki.peers.admin as TestPeer
    const base = { ca: pki.ca, root: pki.ca.certificate, tokens, identity: admin.identity, chain: admin.chain }
    expect(() => new EnrollmentService({ ...base, sessions: { perAddress: 0, total: 1 } })).toThrow('options.sessions.perAddress')
    expect(() => new EnrollmentService({ ...base, sessions: { perAddress: 1, total: 1.5 } })).toThrow('options.sessions.total')
    expect(() => new EnrollmentService({ ...base, sessions: null as unknown as { perAddress: number; total: number } })).toThrow(
      'options.sessions: expected { perAddress, total }'
    )
  })
})
