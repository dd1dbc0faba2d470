/**
 * Issue 11 item 8a: every hardened server goes through the channel listener's pending-handshake
 * limits (SPEC.md §3.6: 16 per remote address, 128 in all, a handshake deadline). 400 silent
 * connections from one address: at most 16 are held, the rest are closed at once — long before
 * the (here 60 s) handshake deadline — and a legitimate peer from another address still gets in.
 * Run against the share server, a swarm seed and the proxy server, in process, over real sockets.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { DEFAULT_MAX_PENDING_PER_ADDRESS, secureOutbound } from '@peerguard/channel'
import { loadPolicy } from '@peerguard/policy'
import { createProxyServer } from '@peerguard/proxy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer } from '@peerguard/share'
import { createSwarmPeer } from '@peerguard/swarm'
import { SWARM_PROTOCOL } from '@peerguard/swarm/wire'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-all
    allow: [read, write, get]
    peers: [staff]
    resources: ["share:office/**", "service:echo"]
`
const FLOOD = 400
/** Silent connections come from here; the legitimate peer from 127.0.0.1. */
const ATTACKER = '127.0.0.2'
/** Far beyond the test's own waits: a socket closed before it was closed by the limiter, not the deadline. */
const DEADLINE_MS = 60_000

let pki: TestPki
let dir: string

beforeAll(async () => {
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
  dir = await mkdtemp(join(tmpdir(), 'peerguard-flood-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

interface Flood {
  readonly sockets: Socket[]
  /** Sockets the server closed so far. */
  closed(): number
  /** Resolves once at least `n` sockets were closed by the server. */
  waitClosed(n: number): Promise<void>
  destroy(): void
}

/** `count` TCP connections to `port` from ATTACKER that never send a byte. */
async function flood(port: number, count: number): Promise<Flood> {
  let closed = 0
  const waiters: Array<{ n: number; resolve: () => void }> = []
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect({ port, host: '127.0.0.1', localAddress: ATTACKER })
          s.on('error', () => {})
          s.once('close', () => {
            closed++
            for (const w of waiters.filter((w) => closed >= w.n)) w.resolve()
          })
          s.once('connect', () => resolve(s))
          s.once('error', reject)
        })
    )
  )
  return {
    sockets,
    closed: () => closed,
    waitClosed: (n) =>
      closed >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push({ n, resolve })
          }),
    destroy: () => {
      for (const s of sockets) s.destroy()
    }
  }
}

/** The flood's verdict: everything beyond the per-address limit closed at once, the rest still held. */
async function expectLimited(f: Flood): Promise<void> {
  const limit = DEFAULT_MAX_PENDING_PER_ADDRESS
  await f.waitClosed(FLOOD - limit) // never resolves within the test timeout without the limiter
  await new Promise((r) => setTimeout(r, 200)) // any excess close would show up by now
  expect(f.closed()).toBe(FLOOD - limit)
  expect(f.sockets.filter((s) => !s.destroyed && !s.closed)).toHaveLength(limit)
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

describe('pending-handshake limits on every hardened server (issue 11 item 8a)', () => {
  it('share server: 400 silent connections from one address hold at most 16; a real peer still reads', async () => {
    const alice = pki.peers.alice!
    const nas = pki.peers.nas!
    const root = join(dir, 'office')
    await mkdir(root, { recursive: true })
    await writeFile(join(root, 'notice.txt'), 'hello\n')
    const server = createShareServer({
      root,
      shareName: 'office',
      transport: channelTransport({
        identity: nas.identity,
        chain: nas.chain,
        trust: pki.trust,
        handshakeTimeoutMs: DEADLINE_MS
      }),
      authorize: policyAuthorizer(loadPolicy(POLICY)),
      handshakeTimeoutMs: DEADLINE_MS
    })
    const { port } = await server.listen()
    const f = await flood(port, FLOOD)
    try {
      await expectLimited(f)
      const client = await connectShare(
        { host: '127.0.0.1', port },
        {
          transport: channelTransport({
            identity: alice.identity,
            chain: alice.chain,
            trust: pki.trust,
            expectedPeerId: nas.peerId
          })
        }
      )
      expect((await client.readFile('notice.txt')).toString()).toBe('hello\n')
      client.close()
    } finally {
      f.destroy()
      await server.close()
    }
  }, 90_000)

  it('swarm seed: the same flood holds at most 16; a real peer still completes its handshake', async () => {
    const alice = pki.peers.alice!
    const nas = pki.peers.nas!
    const seed = createSwarmPeer({ identity: nas.identity, chain: nas.chain, trust: pki.trust, handshakeTimeoutMs: DEADLINE_MS })
    const { port } = await seed.listen(0, '127.0.0.1')
    const f = await flood(port, FLOOD)
    try {
      await expectLimited(f)
      const channel = await secureOutbound(await dial(port), {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        protocols: [SWARM_PROTOCOL],
        expectedPeerId: nas.peerId
      })
      expect(channel.remotePeer.name).toBe('nas')
      channel.destroy()
    } finally {
      f.destroy()
      await seed.close()
    }
  }, 90_000)

  it('proxy server: the same flood holds at most 16; a real peer still reaches the service', async () => {
    const alice = pki.peers.alice!
    const nas = pki.peers.nas!
    const backend = createServer((s) => {
      s.on('error', () => {})
      s.pipe(s)
    })
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
    const proxy = createProxyServer({
      target: `127.0.0.1:${(backend.address() as AddressInfo).port}`,
      service: 'echo',
      config: { identity: nas.identity, chain: nas.chain, trust: pki.trust, policy: loadPolicy(POLICY) },
      handshakeTimeoutMs: DEADLINE_MS
    })
    const { port } = await proxy.listen()
    const f = await flood(port, FLOOD)
    try {
      await expectLimited(f)
      const channel = await secureOutbound(await dial(port), {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        expectedPeerId: nas.peerId
      })
      const echoed = new Promise<string>((resolve) => {
        const chunks: Buffer[] = []
        channel.on('data', (c: Buffer) => chunks.push(c))
        channel.on('end', () => resolve(Buffer.concat(chunks).toString()))
      })
      channel.end('ping')
      expect(await echoed).toBe('ping')
    } finally {
      f.destroy()
      await proxy.close()
      await new Promise<void>((r) => backend.close(() => r()))
    }
  }, 90_000)
})
