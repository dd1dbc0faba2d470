/**
 * channelTransport: argument checks, the client's server authentication (known peers under
 * `share@HOST:PORT` by default), and the server side's pending-handshake limits.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { HandshakeLimiter, KnownPeers } from '@peerguard/channel'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer, type ShareServer } from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-read
    allow: [read]
    peers: [staff]
    resources: ["share:docs/**"]
`

let pki: TestPki
let dir: string

beforeAll(async () => {
  pki = await makeTestPki({ peers: [{ name: 'alice', groups: ['staff'] }, 'nas', 'guest'] })
  dir = await mkdtemp(join(tmpdir(), 'pg-transport-'))
  await writeFile(join(dir, 'a.txt'), 'a\n')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

async function serve(who: 'nas' | 'guest', limits?: HandshakeLimiter): Promise<{ server: ShareServer; port: number }> {
  const p = pki.peers[who]!
  const server = createShareServer({
    root: dir,
    shareName: 'docs',
    transport: channelTransport({
      identity: p.identity,
      chain: p.chain,
      trust: pki.trust,
      ...(limits === undefined ? {} : { handshakeLimits: limits })
    }),
    authorize: policyAuthorizer(loadPolicy(POLICY))
  })
  const { port } = await server.listen()
  return { server, port }
}

describe('channelTransport', () => {
  it('checks its arguments with exact messages', () => {
    const a = pki.peers.alice!
    const base = { identity: a.identity, chain: a.chain, trust: pki.trust }
    expect(() => channelTransport(null as never)).toThrow('options: expected an object')
    expect(() => channelTransport({ ...base, chain: [] })).toThrow('chain: expected at least one DER certificate')
    expect(() => channelTransport({ ...base, trust: null as never })).toThrow('trust: expected a TrustStore')
    expect(() => channelTransport({ ...base, knownPeers: {} as never })).toThrow(
      'knownPeers: expected { store: KnownPeers, name?, trustOnFirstUse? }'
    )
    expect(() => channelTransport({ ...base, handshakeLimits: { maxPendingPerAddress: 0 } })).toThrow(
      'options.maxPendingPerAddress'
    )
  })

  it('a client records the server under share@HOST:PORT and refuses another certified server there', async () => {
    const a = pki.peers.alice!
    const store = KnownPeers.inMemory()
    const transport = channelTransport({ identity: a.identity, chain: a.chain, trust: pki.trust, knownPeers: { store } })
    const nas = await serve('nas')
    const name = `share@127.0.0.1:${nas.port}`
    try {
      const c = await connectShare({ host: '127.0.0.1', port: nas.port }, { transport })
      expect(c.remotePeer?.name).toBe('nas')
      expect((await c.readFile('a.txt')).toString()).toBe('a\n')
      c.close()
    } finally {
      await nas.server.close()
    }
    expect(store.get(name)).toBe(pki.peers.nas!.peerId)
    // Another share server, another certified peer: the name is per port, so pretend it took the address.
    const guest = await serve('guest')
    try {
      await store.remember(`share@127.0.0.1:${guest.port}`, pki.peers.nas!.peerId)
      await expect(connectShare({ host: '127.0.0.1', port: guest.port }, { transport })).rejects.toMatchObject({
        code: 'channel-known-peer-changed'
      })
    } finally {
      await guest.server.close()
    }
  })

  it('a shared HandshakeLimiter bounds the silent connections of one address on the server side', async () => {
    const limiter = new HandshakeLimiter({ maxPendingPerAddress: 2 })
    const nas = await serve('nas', limiter)
    const sockets: Socket[] = []
    try {
      let closed = 0
      const threeClosed = new Promise<void>((resolve) => {
        for (let i = 0; i < 5; i++) {
          const s = connect({ port: nas.port, host: '127.0.0.1', localAddress: '127.0.0.2' })
          s.on('error', () => {})
          s.once('close', () => {
            if (++closed === 3) resolve()
          })
          sockets.push(s)
        }
      })
      await threeClosed // the two admitted ones wait for their 10 s deadline, far beyond this test
      expect(limiter.pendingFrom('127.0.0.2')).toBe(2)
      expect(sockets.filter((s) => !s.closed)).toHaveLength(2)
    } finally {
      for (const s of sockets) s.destroy()
      await nas.server.close()
    }
  })
})
