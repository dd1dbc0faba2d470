/**
 * Attacker: anyone who can reach the CA node's enrollment port. The enrollment channel admits a
 * peer without a certificate (a joiner has none yet), so what the service buffers after the
 * handshake is buffered for an unauthenticated stranger. Invariant (SECURITY.md, enrollment;
 * workspace SPEC §6): the CA node reads at most MAX_JOINER_MESSAGE bytes of any joiner message — a
 * larger declared length is refused at once (enroll-malformed), not read until a deadline.
 * Real EnrollmentService on loopback; a property over declared lengths and what is actually sent.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { KnownPeers, secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { makeTestPki, type TestPeer } from '@peerguard/test-utils'
import { ENROLL_PROTOCOL, type EnrollEvent, EnrollmentService, TokenStore } from '@peerguard/workspace'
import fc from 'fast-check'
import { MAX_JOINER_MESSAGE } from '../../packages/workspace/src/enroll-wire.js'

let server: Server
let port = 0
const events: EnrollEvent[] = []
const waiting: Array<(e: EnrollEvent) => void> = []
const sockets = new Set<Socket>()

beforeAll(async () => {
  const pki = await makeTestPki({ peers: [{ name: 'admin', groups: ['admins'] }] })
  const admin = pki.peers.admin as TestPeer
  const service = new EnrollmentService({
    ca: pki.ca,
    root: pki.ca.certificate,
    tokens: new TokenStore(await mkdtemp(join(tmpdir(), 'pg-adv-big-'))),
    identity: admin.identity,
    chain: admin.chain,
    timeoutMs: 600_000, // a refusal must not wait for the deadline
    onEvent: (e) => {
      events.push(e)
      waiting.shift()?.(e)
    }
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

/** Open an enrollment channel as a certificate-less joiner; send `bytes` raw; the service's verdict. */
async function send(bytes: Buffer): Promise<EnrollEvent> {
  const verdict = new Promise<EnrollEvent>((resolve) => waiting.push(resolve))
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
  channel.write(bytes)
  const e = await verdict
  channel.destroy()
  return e
}

const header = (length: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(length)
  return b
}

describe('what the CA node buffers for an unauthenticated joiner', () => {
  it('a hello declaring 8 MiB, followed by 256 KiB of it, is refused at once', async () => {
    const e = await send(Buffer.concat([header(8 * 1024 * 1024), Buffer.alloc(256 * 1024, 0x41)]))
    expect([e.outcome, e.code]).toEqual(['refused', 'enroll-malformed'])
  }, 60_000)

  it('any declared length over the bound is refused at once, whatever follows (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_JOINER_MESSAGE + 1, max: 0xffffffff }),
        fc.nat(64 * 1024),
        async (length, follow) => {
          const e = await send(Buffer.concat([header(length), Buffer.alloc(follow, 0x42)]))
          expect([e.outcome, e.code]).toEqual(['refused', 'enroll-malformed'])
        }
      ),
      { numRuns: 15 }
    )
  }, 120_000)
})
