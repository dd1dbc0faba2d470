/**
 * Attacker: on path between two peers, rewriting the handshake (channel SPEC §2.6). XX message 1
 * carries the initiator's cipher offer in clear, message 2 opens with the responder's choice byte.
 * Invariant: any change to the offer (stripped, reordered, narrowed to ChaChaPoly, unknown ids,
 * truncated into an "offer-sized" message, padded towards IK's length) or to the choice byte
 * fails the handshake on both sides — no channel is ever established on terms the peers did not
 * both see; unchanged, the channel runs the first cipher of the responder's list (AESGCM).
 * Real sockets on loopback through a rewriting relay; the rewrites are generated (fast-check).
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type NoiseChannel, secureInbound, secureOutbound } from '@peerguard/channel'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import fc from 'fast-check'

type Rewrite = (body: Buffer) => Buffer

/** Rewrites the first length-prefixed frame (u16 BE + body) of a stream, passes the rest. */
function firstFrameRewriter(rewrite: Rewrite): (d: Buffer) => Buffer {
  let held = Buffer.alloc(0)
  let done = false
  return (d) => {
    if (done) return d
    held = Buffer.concat([held, d])
    if (held.length < 2 || held.length < 2 + held.readUInt16BE(0)) return Buffer.alloc(0)
    done = true
    const length = held.readUInt16BE(0)
    const body = rewrite(Buffer.from(held.subarray(2, 2 + length)))
    const head = Buffer.alloc(2)
    head.writeUInt16BE(body.length)
    return Buffer.concat([head, body, held.subarray(2 + length)])
  }
}

let pki: TestPki
let server: Server
let relay: Server
let serverPort: number
let relayPort: number
let rewrites: { m1: Rewrite; m2: Rewrite } = { m1: (b) => b, m2: (b) => b }
const inbound: Array<Promise<NoiseChannel>> = []
const sockets = new Set<Socket>()

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['alice', 'nas'] })
  const nas = pki.peers.nas as TestPeer
  server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    const p = secureInbound(s, { identity: nas.identity, chain: nas.chain, trust: pki.trust, handshakeTimeoutMs: 20_000 })
    p.catch(() => s.destroy())
    inbound.push(p)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  serverPort = (server.address() as AddressInfo).port
  relay = createServer((client) => {
    const upstream = connect({ port: serverPort, host: '127.0.0.1' })
    const up = firstFrameRewriter(rewrites.m1)
    const down = firstFrameRewriter(rewrites.m2)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    client.on('data', (d: Buffer) => upstream.write(up(d)))
    upstream.on('data', (d: Buffer) => client.write(down(d)))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
  relayPort = (relay.address() as AddressInfo).port
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all([server, relay].map((s) => new Promise<void>((r) => s.close(() => r()))))
})

/** One handshake through the relay: what each side got. */
async function attempt(): Promise<{ client: NoiseChannel | Error; server: NoiseChannel | Error }> {
  const alice = pki.peers.alice as TestPeer
  const before = inbound.length
  const socket = connect({ port: relayPort, host: '127.0.0.1' })
  sockets.add(socket)
  socket.on('error', () => {})
  const client = await secureOutbound(socket, {
    identity: alice.identity,
    chain: alice.chain,
    trust: pki.trust,
    handshakeTimeoutMs: 20_000
  }).catch((err: Error) => err)
  if (client instanceof Error) socket.destroy()
  while (inbound.length === before) await new Promise((r) => setTimeout(r, 5))
  const srv = await (inbound[before] as Promise<NoiseChannel>).catch((err: Error) => err)
  for (const c of [client, srv]) if (!(c instanceof Error)) c.destroy()
  return { client, server: srv }
}

const offer = fc
  .uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 17 })
  .map((ids) => Buffer.from([0x01, ids.length, ...ids]))
const m1Rewrite: fc.Arbitrary<{ what: string; f: Rewrite }> = fc.oneof(
  fc.constant({ what: 'strip the offer (plain XX)', f: (b: Buffer) => b.subarray(0, 32) }),
  fc.constant({ what: 'ChaChaPoly only', f: (b: Buffer) => Buffer.concat([b.subarray(0, 32), Buffer.from([1, 1, 1])]) }),
  fc.constant({ what: 'reorder', f: (b: Buffer) => Buffer.concat([b.subarray(0, 32), Buffer.from([1, 2, 1, 2])]) }),
  offer.map((o) => ({ what: `offer ${o.toString('hex')}`, f: (b: Buffer) => Buffer.concat([b.subarray(0, 32), o]) })),
  fc.integer({ min: 1, max: 64 }).map((n) => ({ what: `pad ${n}`, f: (b: Buffer) => Buffer.concat([b, Buffer.alloc(n, 0x01)]) })),
  fc.nat(40).map((n) => ({ what: `truncate to ${n}`, f: (b: Buffer) => b.subarray(0, n) }))
)
const m2Rewrite: fc.Arbitrary<{ what: string; f: Rewrite }> = fc.oneof(
  fc.constant({ what: 'm2 unchanged', f: (b: Buffer) => b }),
  fc.integer({ min: 0, max: 255 }).map((id) => ({
    what: `choice ${id}`,
    f: (b: Buffer) => Buffer.concat([Buffer.from([id]), b.subarray(1)])
  }))
)

describe('cipher negotiation under an active attacker (channel SPEC §2.6)', () => {
  it('unchanged, the peers agree on AESGCM', async () => {
    rewrites = { m1: (b) => b, m2: (b) => b }
    const r = await attempt()
    expect(r.client).not.toBeInstanceOf(Error)
    expect(r.server).not.toBeInstanceOf(Error)
    expect([(r.client as NoiseChannel).cipher, (r.server as NoiseChannel).cipher]).toEqual(['AESGCM', 'AESGCM'])
  }, 60_000)

  it('any rewrite of the offer or the choice fails the handshake on both sides', async () => {
    await fc.assert(
      fc.asyncProperty(m1Rewrite, m2Rewrite, async (a, b) => {
        let changed = false
        rewrites = {
          m1: (x) => {
            const y = a.f(x)
            changed ||= !y.equals(x)
            return y
          },
          m2: (x) => {
            const y = b.f(x)
            changed ||= !y.equals(x)
            return y
          }
        }
        const r = await attempt()
        if (!changed) return // the rewrite happened to be the identity: nothing to refuse
        expect({ rewrite: `${a.what}, ${b.what}`, client: r.client instanceof Error }).toEqual({
          rewrite: `${a.what}, ${b.what}`,
          client: true
        })
        expect({ rewrite: `${a.what}, ${b.what}`, server: r.server instanceof Error }).toEqual({
          rewrite: `${a.what}, ${b.what}`,
          server: true
        })
      }),
      { numRuns: 60 }
    )
  }, 300_000)
})
