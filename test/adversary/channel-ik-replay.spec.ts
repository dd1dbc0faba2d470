/**
 * Issue 11 item 6: a recorded IK message 1, replayed by anyone, must not authenticate its author.
 * A real initiator reaches a real responder over loopback through a recording relay; the attacker
 * then replays the captured bytes raw (message 1 alone, and the whole recorded client side) from
 * another loopback address. The responder must never resolve the channel for a replay: no gate,
 * no `channel` event — and, for the proxy server, no `accepted` decision, no backend connection,
 * no per-peer slot used — while the real peer still gets in. (SPEC.md §2.5, key confirmation.)
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { createListener, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import type { PeerInfo, PeerguardError } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import { type ConnectionDecision, createProxyServer } from '@peerguard/proxy'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const POLICY = `version: 1
groups:
  fam: ["ou:family"]
rules:
  - id: family-echo
    allow: [get]
    peers: [fam]
    resources: ["service:echo"]
`
/** The replays come from here; the real peer from 127.0.0.1 (loopback routes all of 127/8). */
const ATTACKER = '127.0.0.2'
const REPLAYS = 12

let pki: TestPki

beforeAll(async () => {
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['family'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
})

function dial(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

/** A TCP relay to `port` that records what clients send (the client → server direction). */
async function recordingRelay(port: number): Promise<{ port: number; recorded: Buffer[]; close(): Promise<void> }> {
  const recorded: Buffer[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const chunks: Buffer[] = []
    recorded.push(Buffer.alloc(0))
    const index = recorded.length - 1
    const upstream = connect({ port, host: '127.0.0.1' })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.on('data', (d: Buffer) => {
      chunks.push(d)
      recorded[index] = Buffer.concat(chunks)
      upstream.write(d)
    })
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    recorded,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })
  }
}

/** The first handshake frame (u16 BE length + body) of a recorded stream: IK message 1. */
function firstFrame(stream: Buffer): Buffer {
  const length = stream.readUInt16BE(0)
  return stream.subarray(0, 2 + length)
}

/** Send `bytes` raw from the attacker's address; resolve when the responder closes the socket. */
async function replay(port: number, bytes: Buffer): Promise<{ closed: boolean; received: number }> {
  const s = await dial(port, ATTACKER)
  let received = 0
  s.on('data', (d: Buffer) => {
    received += d.length
  })
  s.on('error', () => {})
  s.write(bytes)
  await new Promise<void>((r) => s.once('close', () => r()))
  return { closed: true, received }
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

describe('IK message 1 replay (issue 11 item 6)', () => {
  it('a channel listener never authenticates, gates or accepts a replayed IK message 1; the real peer gets in', async () => {
    const alice = pki.peers.alice!
    const nas = pki.peers.nas!
    const gateSaw: string[] = []
    const accepted: NoiseChannel[] = []
    const failures: string[] = []
    const listener = createListener(
      {
        identity: nas.identity,
        chain: nas.chain,
        trust: pki.trust,
        handshakeTimeoutMs: 1500, // replays that never confirm are dropped at this deadline
        authorize: (peer: PeerInfo) => {
          gateSaw.push(peer.name ?? peer.peerId)
          return true
        }
      },
      (channel) => {
        accepted.push(channel)
        channel.on('error', () => {})
        channel.on('data', (d: Buffer) => channel.end(Buffer.concat([Buffer.from('echo:'), d])))
      }
    )
    listener.on('handshakeError', (err: PeerguardError) => failures.push(err.code))
    const { port } = await listener.listen(0, '127.0.0.1')
    const relay = await recordingRelay(port)
    const clientOptions = { identity: alice.identity, chain: alice.chain, trust: pki.trust, expectedPeerId: nas.peerId }
    try {
      // XX first: alice learns the responder's static key.
      const first = await secureOutbound(await dial(port), clientOptions)
      const staticKey = first.remoteStaticKey
      first.end('hi')
      await readAll(first)
      // The recorded IK session, through the relay.
      const ik = await secureOutbound(await dial(relay.port), { ...clientOptions, remoteStaticKey: staticKey })
      expect(ik.pattern).toBe('IK')
      ik.end('secret')
      expect((await readAll(ik)).toString()).toBe('echo:secret')
      const session = relay.recorded[0] as Buffer
      const m1 = firstFrame(session)
      expect(m1.length).toBeGreaterThan(2 + 32) // IK: longer than XX's 32-byte message 1
      expect(session.length).toBeGreaterThan(m1.length) // confirmation and data followed it
      expect(gateSaw).toEqual(['alice', 'alice'])
      expect(accepted).toHaveLength(2)

      // The attacker replays message 1 alone, and the whole recorded client side, while alice reconnects.
      const replays = [
        ...Array.from({ length: REPLAYS }, () => replay(port, m1)),
        ...Array.from({ length: 3 }, () => replay(port, session))
      ]
      const again = await secureOutbound(await dial(port), { ...clientOptions, remoteStaticKey: staticKey })
      expect(again.pattern).toBe('IK')
      again.end('again')
      expect((await readAll(again)).toString()).toBe('echo:again')
      const results = await Promise.all(replays)

      expect(results.every((r) => r.closed)).toBe(true)
      expect(gateSaw).toEqual(['alice', 'alice', 'alice']) // the replays never reached the gate
      expect(accepted).toHaveLength(3)
      expect(failures).toHaveLength(REPLAYS + 3)
      for (const code of failures)
        expect(['channel-handshake-timeout', 'channel-decrypt-failed', 'channel-handshake-invalid']).toContain(code)
      // The full-session replays carry a confirmation frame made for another ephemeral key.
      expect(failures.filter((c) => c === 'channel-decrypt-failed')).toHaveLength(3)
    } finally {
      await relay.close()
      await listener.close()
    }
  }, 60_000)

  it('a proxy server logs no accept, opens no backend connection and uses no per-peer slot for replays', async () => {
    const alice = pki.peers.alice!
    const nas = pki.peers.nas!
    let backendConnections = 0
    const backend = createServer((s) => {
      backendConnections++
      s.on('error', () => {})
      s.pipe(s)
    })
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
    const decisions: ConnectionDecision[] = []
    const proxy = createProxyServer({
      target: `127.0.0.1:${(backend.address() as AddressInfo).port}`,
      service: 'echo',
      config: { identity: nas.identity, chain: nas.chain, trust: pki.trust, policy: loadPolicy(POLICY) },
      decisionLog: {
        append: async (r: ConnectionDecision) => {
          decisions.push(r)
        }
      },
      handshakeTimeoutMs: 1500,
      maxConnectionsPerPeer: 2 // replays that took slots would lock the real alice out
    })
    const { port } = await proxy.listen()
    const relay = await recordingRelay(port)
    const clientOptions = { identity: alice.identity, chain: alice.chain, trust: pki.trust, expectedPeerId: nas.peerId }
    const roundTrip = async (channel: NoiseChannel, text: string): Promise<string> => {
      channel.end(text)
      return (await readAll(channel)).toString()
    }
    try {
      const first = await secureOutbound(await dial(port), clientOptions)
      const staticKey = first.remoteStaticKey
      expect(await roundTrip(first, 'one')).toBe('one')
      const ik = await secureOutbound(await dial(relay.port), { ...clientOptions, remoteStaticKey: staticKey })
      expect(ik.pattern).toBe('IK')
      expect(await roundTrip(ik, 'two')).toBe('two')
      const m1 = firstFrame(relay.recorded[0] as Buffer)
      const acceptedBefore = decisions.filter((d) => d.event === 'accepted').length
      expect(acceptedBefore).toBe(2)
      expect(backendConnections).toBe(2)

      const replays = Array.from({ length: REPLAYS }, () => replay(port, m1))
      // While the replays are pending, alice holds two connections at once (her whole per-peer budget).
      const [a, b] = await Promise.all([
        secureOutbound(await dial(port), { ...clientOptions, remoteStaticKey: staticKey }),
        secureOutbound(await dial(port), clientOptions)
      ])
      expect(await Promise.all([roundTrip(a, 'three'), roundTrip(b, 'four')])).toEqual(['three', 'four'])
      await Promise.all(replays)

      const accepted = decisions.filter((d) => d.event === 'accepted')
      expect(accepted).toHaveLength(4)
      expect(accepted.every((d) => d.peer?.name === 'alice' && d.peer.address?.startsWith('127.0.0.1:') === true)).toBe(true)
      expect(backendConnections).toBe(4)
      // Nothing logged for the replays names alice: they were never authenticated.
      const replayEntries = decisions.filter((d) => d.peer?.address?.startsWith(`${ATTACKER}:`) === true)
      expect(replayEntries.every((d) => d.peer?.peerId === undefined && d.event !== 'accepted')).toBe(true)
    } finally {
      await relay.close()
      await proxy.close()
      await new Promise<void>((r) => backend.close(() => r()))
    }
  }, 60_000)
})
