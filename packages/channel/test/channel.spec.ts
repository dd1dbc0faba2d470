import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { KnownPeers, type NoiseChannel, secureInbound, secureOutbound } from '@peerguard/channel'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { duplexPair, makeTestPki, tcpPair } from '@peerguard/test-utils'

const idOf = (kp: { publicKey: Uint8Array }) => peerIdFromPublicKey(kp.publicKey).toString()

function readAll(s: NoiseChannel): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    s.on('data', (c: Buffer) => parts.push(c))
    s.once('end', () => resolve(Buffer.concat(parts)))
    s.once('error', reject)
  })
}

describe('peerguard channel over an in-memory pair, pinned keys', () => {
  it('completes XX, both sides see each other and exchange data', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const [x, y] = duplexPair()
    const [client, server] = await Promise.all([
      secureOutbound(x, { identity: a, pinnedPeers: [idOf(b)], expectedPeerId: idOf(b) }),
      secureInbound(y, { identity: b, pinnedPeers: [idOf(a)] })
    ])
    expect(client.remotePeer.peerId).toBe(idOf(b))
    expect(server.remotePeer.peerId).toBe(idOf(a))
    expect(Buffer.from(client.handshakeHash)).toEqual(Buffer.from(server.handshakeHash))
    const big = Buffer.alloc(300_000, 9)
    const got = readAll(server)
    client.end(big)
    expect((await got).equals(big)).toBe(true)
  })

  it('the initiator times out when READY never comes (the responder stalls in its gate)', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const [x, y] = duplexPair()
    const inn = secureInbound(y, {
      identity: b,
      pinnedPeers: [idOf(a)],
      handshakeTimeoutMs: 20_000,
      authorize: () => new Promise(() => {})
    })
    inn.catch(() => {})
    const t0 = Date.now()
    await expect(secureOutbound(x, { identity: a, pinnedPeers: [idOf(b)], handshakeTimeoutMs: 300 })).rejects.toMatchObject({
      code: 'channel-handshake-timeout'
    })
    // Bounds far from both deadlines (0.3 s and 20 s), so a stalled machine cannot cross them.
    expect(Date.now() - t0).toBeLessThan(10_000)
    // The responder gives up as soon as the connection is gone, not at its own 20 s deadline.
    await expect(inn).rejects.toMatchObject({ code: 'channel-handshake-invalid' })
    expect(Date.now() - t0).toBeLessThan(10_000)
  })

  it('refuses a peer without a certificate by default', async () => {
    const [x, y] = duplexPair()
    const out = secureOutbound(x, { identity: generateKeyPair(), pinnedPeers: [] })
    const inn = secureInbound(y, { identity: generateKeyPair() })
    await expect(out).rejects.toMatchObject({ code: 'channel-certificate-required' })
    await expect(inn).rejects.toBeDefined()
  })

  it('trusts on first use with a known-peers store, then refuses a changed key', async () => {
    const server1 = generateKeyPair()
    const server2 = generateKeyPair()
    const client = generateKeyPair()
    const store = KnownPeers.inMemory()
    const connect = async (server: typeof server1) => {
      const [x, y] = duplexPair()
      const inn = secureInbound(y, { identity: server, pinnedPeers: [idOf(client)] })
      inn.then((ch) => ch.on('error', () => {})).catch(() => {})
      return secureOutbound(x, { identity: client, knownPeers: { store, name: 'nas:7000' } })
    }
    const ch = await connect(server1)
    expect(store.get('nas:7000')).toBe(idOf(server1))
    ch.destroy()
    await expect(connect(server2)).rejects.toMatchObject({ code: 'channel-known-peer-changed' })
  })
})

describe('a known-peers file shared by clients running at the same time', () => {
  it("neither loses the other's entries, and a name first met by the other is held to its key", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-known-'))
    try {
      const path = join(dir, 'known-peers')
      const [nas, printer, rogue] = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
      // two clients load the (missing) file, then each meets a different server
      const [one, two] = await Promise.all([KnownPeers.load(path), KnownPeers.load(path)])
      expect(await one.check('nas:7000', idOf(nas))).toBe('recorded')
      expect(await two.check('printer:7001', idOf(printer))).toBe('recorded')
      const saved = await KnownPeers.load(path)
      expect(saved.entries().sort()).toEqual(
        [
          ['nas:7000', idOf(nas)],
          ['printer:7001', idOf(printer)]
        ].sort()
      )
      // a third client loaded the file before either wrote; it meets "nas:7000" answered by another
      // key: the entry the first client saved wins (refused), and printer's key is known, not recorded
      await writeFile(path, '')
      const stale = await KnownPeers.load(path)
      await writeFile(path, saved.toString())
      await expect(stale.check('nas:7000', idOf(rogue))).rejects.toMatchObject({ code: 'channel-known-peer-changed' })
      expect(await stale.check('printer:7001', idOf(printer))).toBe('known')
      expect(await readFile(path, 'utf8')).not.toContain(idOf(rogue))
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    }
  })
})

describe('backpressure', () => {
  it('a reader that does not read stops the writer, with bounded buffering, and nothing is lost', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const [c, s] = await tcpPair()
    const [client, server] = await Promise.all([
      secureOutbound(c, { identity: a, pinnedPeers: [idOf(b)] }),
      secureInbound(s, { identity: b, pinnedPeers: [idOf(a)] })
    ])
    const chunk = Buffer.alloc(64 * 1024, 5)
    let written = 0
    for (let round = 0; round < 20; round++) {
      while (client.write(chunk)) written += chunk.length
      written += chunk.length
      const drained = await Promise.race([
        new Promise<boolean>((r) => client.once('drain', () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 100))
      ])
      if (!drained) break
    }
    // The writer is stuck: the reader's buffer holds at most its high-water mark and a frame or two.
    expect(server.readableLength).toBeLessThanOrEqual(server.readableHighWaterMark + 2 * 65536)
    expect(written).toBeLessThan(64 * 1024 * 1024)
    const got = readAll(server)
    client.end()
    expect((await got).length).toBe(written)
    server.end()
  })
})

describe('peerguard channel over TCP with certificates', () => {
  it('flushes everything written before end() even when the other side closed first', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const [c, s] = await tcpPair()
    const [client, server] = await Promise.all([
      secureOutbound(c, { identity: alice.identity, chain: alice.chain, trust: pki.trust }),
      secureInbound(s, { identity: bob.identity, chain: bob.chain, trust: pki.trust })
    ])
    server.end('bye')
    const got = readAll(server)
    expect((await readAll(client)).toString()).toBe('bye')
    const big = Buffer.alloc(16 * 1024 * 1024, 3)
    client.end(big)
    const received = await got
    expect(received.length).toBe(big.length)
    expect(received.equals(big)).toBe(true)
  })

  it('authenticates both sides with pki and reports name and groups', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const [c, s] = await tcpPair()
    const [client, server] = await Promise.all([
      secureOutbound(c, {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        expectedPeerId: bob.peerId,
        protocols: ['share/1']
      }),
      secureInbound(s, { identity: bob.identity, chain: bob.chain, trust: pki.trust, protocols: ['share/2', 'share/1'] })
    ])
    expect(client.remotePeer).toMatchObject({ peerId: bob.peerId, name: 'bob', groups: ['friends'] })
    expect(server.remotePeer).toMatchObject({ peerId: alice.peerId, name: 'alice', groups: ['family'] })
    expect(server.remotePeer.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(client.protocol).toBe('share/1')
    expect(server.protocol).toBe('share/1')
    const got = readAll(client)
    server.end('hello')
    expect((await got).toString()).toBe('hello')
    client.end()
  })
})

describe('IK: reconnection to a responder whose static key is known', () => {
  it('reconnects with IK after an XX channel, with certificates, protocols and the gate', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const gateSaw: string[] = []
    const serverOptions = {
      identity: bob.identity,
      chain: bob.chain,
      trust: pki.trust,
      protocols: ['share/1', 'share/2'],
      authorize: (peer: { name?: string }) => {
        gateSaw.push(peer.name ?? '')
        return true
      }
    }
    const clientOptions = {
      identity: alice.identity,
      chain: alice.chain,
      trust: pki.trust,
      expectedPeerId: bob.peerId,
      protocols: ['share/2', 'share/1']
    }
    const [c1, s1] = await tcpPair()
    const [first, firstServer] = await Promise.all([secureOutbound(c1, clientOptions), secureInbound(s1, serverOptions)])
    expect(first.pattern).toBe('XX')
    const staticKey = first.remoteStaticKey
    first.destroy()
    firstServer.on('error', () => {})

    const [c2, s2] = await tcpPair()
    const [client, server] = await Promise.all([
      secureOutbound(c2, { ...clientOptions, remoteStaticKey: staticKey }),
      secureInbound(s2, serverOptions)
    ])
    expect(client.pattern).toBe('IK')
    expect(server.pattern).toBe('IK')
    expect(client.remotePeer).toMatchObject({ peerId: bob.peerId, name: 'bob' })
    expect(server.remotePeer).toMatchObject({ peerId: alice.peerId, name: 'alice', groups: ['family'] })
    expect(client.protocol).toBe('share/2')
    expect(server.protocol).toBe('share/2')
    expect(gateSaw).toEqual(['alice', 'alice'])
    const got = readAll(server)
    client.end('over IK')
    expect((await got).toString()).toBe('over IK')
    server.end()
  })

  it('a stale static key (the responder restarted) fails on both sides with typed errors', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const stale = generateKeyPair().publicKey // not b's Noise static key
    const [x, y] = duplexPair()
    const inn = secureInbound(y, { identity: b, pinnedPeers: [idOf(a)] })
    await expect(secureOutbound(x, { identity: a, pinnedPeers: [idOf(b)], remoteStaticKey: stale })).rejects.toMatchObject({
      code: 'channel-handshake-invalid'
    })
    await expect(inn).rejects.toMatchObject({ code: 'noise-decrypt-failed' })
  })

  it('an IK peer refused by the gate gets an alert with the reason', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const [x0, y0] = duplexPair()
    const [c0, s0] = await Promise.all([
      secureOutbound(x0, { identity: a, pinnedPeers: [idOf(b)] }),
      secureInbound(y0, { identity: b, pinnedPeers: [idOf(a)] })
    ])
    s0.on('error', () => {})
    c0.destroy()
    const [x, y] = duplexPair()
    const inn = secureInbound(y, {
      identity: b,
      pinnedPeers: [idOf(a)],
      authorize: () => ({ allowed: false, code: 'deny-rule', reason: 'read-only' })
    })
    const err = await secureOutbound(x, { identity: a, pinnedPeers: [idOf(b)], remoteStaticKey: c0.remoteStaticKey }).catch(
      (e: unknown) => e
    )
    expect(err).toMatchObject({ code: 'channel-refused', alert: 'channel-unauthorized' })
    expect((err as Error).message).toContain('deny-rule: read-only')
    await expect(inn).rejects.toMatchObject({ code: 'channel-unauthorized' })
  })
})
