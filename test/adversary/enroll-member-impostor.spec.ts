/**
 * Attacker: a MEMBER of the workspace (a valid certificate under the root) posing as the CA node —
 * it answers on the enrollment port (announcing the workspace ID, or anywhere a joiner is pointed).
 * Invariant (SECURITY.md, "Enrollment with one-time tokens": the CA node is authenticated by the
 * token; workspace SPEC §6): a joiner hands its token secret only to a server that proves it holds
 * the token's record — the CA's filed SHA-256 of the secret — bound to this channel, not merely a
 * certificate under the root (every member has one). Before the fix the joiner sent the secret to
 * any certified member, who then redeemed the token at the real CA node for a key of its own:
 * a certificate with the token's name and groups (carol, `admins`) for the attacker.
 * Real EnrollmentService and channels on loopback; the joiner is `enroll()` as `peerguard join` runs it.
 */
import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { KnownPeers, secureInbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import {
  ENROLL_PROTOCOL,
  EnrollError,
  EnrollmentService,
  enroll,
  fromUnprovenServer,
  parseToken,
  rootFingerprintOf,
  TokenStore
} from '@peerguard/workspace'
import { decodeHello, decodeRequest, encodeChallenge, frame, MessageReader } from '../../packages/workspace/src/enroll-wire.js'

let pki: TestPki
let tokens: TokenStore
let caServer: Server
let caPort = 0
let rogue: Server
let roguePort = 0
const sockets = new Set<Socket>()
/** What the rogue member got out of a joiner: the request (with the token secret), if it came. */
let stolen: ReturnType<typeof decodeRequest> | undefined

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
}

beforeAll(async () => {
  pki = await makeTestPki({
    peers: [
      { name: 'admin', groups: ['admins'] },
      { name: 'mallory', groups: ['guests'] }
    ]
  })
  const admin = pki.peers.admin as TestPeer
  tokens = new TokenStore(await mkdtemp(join(tmpdir(), 'pg-adv-member-')))
  const service = new EnrollmentService({
    ca: pki.ca,
    root: pki.ca.certificate,
    tokens,
    identity: admin.identity,
    chain: admin.chain,
    crl: async () => (await pki.ca.crl()).der
  })
  caServer = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    void service.handle(s)
  })
  caPort = await listen(caServer)

  // mallory's rogue enrollment server: her own member certificate, the workspace's real root and CRL
  const mallory = pki.peers.mallory as TestPeer
  rogue = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    void (async () => {
      const channel = await secureInbound(s, {
        identity: mallory.identity,
        chain: mallory.chain,
        knownPeers: { store: KnownPeers.inMemory(), name: 'rogue', trustOnFirstUse: true },
        protocols: [ENROLL_PROTOCOL]
      })
      channel.on('error', () => {})
      const reader = new MessageReader(channel)
      decodeHello(await reader.next('hello', 20_000))
      channel.write(
        frame(
          encodeChallenge({
            root: pki.ca.certificate,
            serverChain: mallory.chain,
            crl: (await pki.ca.crl()).der,
            name: 'carol',
            groups: ['admins']
          })
        )
      )
      stolen = decodeRequest(await reader.next('request', 20_000))
      channel.destroy()
    })().catch(() => s.destroy())
  })
  roguePort = await listen(rogue)
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all([caServer, rogue].map((srv) => new Promise((r) => srv.close(r))))
})

describe('a member posing as the CA node', () => {
  it('gets no token secret from a joiner, so cannot redeem the token; the joiner still enrolls at the CA node', async () => {
    const made = await tokens.create({
      name: 'carol',
      groups: ['admins'],
      ttlMs: 600_000,
      rootFingerprint: rootFingerprintOf(pki.ca.certificate)
    })
    const token = parseToken(made.token)
    const carol = generateKeyPair()

    // the joiner reaches mallory first (discovery answered by her, or a spoofed address)
    const err = await enroll({ token, identity: carol, host: '127.0.0.1', port: roguePort, timeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e
    )
    if (stolen !== undefined) {
      // the damage before the fix: mallory redeems carol's token for a key of her own
      const mine = await enroll({
        token: { ...token, secret: stolen.secret },
        identity: generateKeyPair(),
        host: '127.0.0.1',
        port: caPort
      })
      expect(`mallory enrolled as ${mine.name} (${mine.groups.join(',')})`).toBe('no secret reached mallory')
    }
    expect(stolen).toBeUndefined()
    expect(err).toBeInstanceOf(EnrollError)
    // the same answer as a wrong secret: the joiner cannot tell which (the CA node never saw it)
    expect((err as EnrollError).code).toBe('enroll-token-mac')
    // discovery goes on to the next candidate: what mallory said is not believed
    expect(fromUnprovenServer(err)).toBe(true)

    // the real CA node proves itself and enrolls carol
    const got = await enroll({ token, identity: carol, host: '127.0.0.1', port: caPort, timeoutMs: 20_000 })
    expect(got.name).toBe('carol')
    expect(got.groups).toEqual(['admins'])
  }, 60_000)
})
