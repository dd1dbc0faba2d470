/**
 * SPEC.md §2.5 key confirmation: the IK responder decides nothing about the initiator (certificate,
 * known-peers entry, gate) before the initiator's first transport frame — an empty DATA frame —
 * decrypted. Also the HandshakeLimiter (SPEC.md §3.6) and known peers for certified peers (§5).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { HandshakeLimiter, KnownPeers, secureInbound, secureOutbound } from '@peerguard/channel'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { connectTcp, frameProxy, makeTestPki, type TestPki, tcpPair } from '@peerguard/test-utils'

const idOf = (k: { publicKey: Uint8Array }): string => peerIdFromPublicKey(k.publicKey).toString()

let pki: TestPki

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['alice', 'nas', 'guest'] })
})

/** A responder on a real port that runs `secureInbound` with `options` for every connection. */
async function responder(
  options: Parameters<typeof secureInbound>[1]
): Promise<{ port: number; results: Array<Promise<unknown>>; server: Server }> {
  const results: Array<Promise<unknown>> = []
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    s.on('error', () => {})
    const p = secureInbound(s, options)
    p.then(
      (ch) => ch.on('error', () => {}),
      () => {}
    )
    results.push(p)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as { port: number }).port, results, server }
}

describe('IK key confirmation (SPEC.md §2.5)', () => {
  it('a tampered confirmation frame fails with channel-decrypt-failed before the gate or the known-peers file is touched', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const gate: string[] = []
    const store = KnownPeers.inMemory()
    const opts = {
      identity: b,
      knownPeers: { store, name: 'laptop' },
      authorize: (p: { peerId: string }) => {
        gate.push(p.peerId)
        return true
      }
    }
    const r = await responder(opts)
    // XX first (records the laptop, runs the gate once), to learn the static key.
    const first = await secureOutbound(await connectTcp(r.port), { identity: a, pinnedPeers: [idOf(b)] })
    first.destroy()
    expect(gate).toEqual([idOf(a)])
    // Tamper with the initiator's second frame (the confirmation) on the wire.
    const proxy = await frameProxy({
      targetPort: r.port,
      clientToServer: (frame, index) => {
        if (index !== 1) return [frame]
        const bad = Buffer.from(frame)
        bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1
        return [bad]
      }
    })
    try {
      const err = await secureOutbound(await connectTcp(proxy.port), {
        identity: a,
        pinnedPeers: [idOf(b)],
        remoteStaticKey: first.remoteStaticKey
      }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'channel-refused', alert: 'channel-decrypt-failed' })
      await expect(r.results[1]).rejects.toMatchObject({ code: 'channel-decrypt-failed' })
      expect(gate).toEqual([idOf(a)])
    } finally {
      await proxy.close()
      r.server.close()
    }
  })

  it('message 1 without its confirmation never resolves, never records a new peer, and times out', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const store = KnownPeers.inMemory()
    const gate: string[] = []
    const opts = {
      identity: b,
      knownPeers: { store, name: 'laptop' },
      handshakeTimeoutMs: 400,
      authorize: (p: { peerId: string }) => {
        gate.push(p.peerId)
        return true
      }
    }
    // Learn b's static key over XX with a store that knows a, so the replay target's store stays empty.
    const [x0, y0] = await tcpPair()
    const known = KnownPeers.inMemory()
    await known.remember('laptop', idOf(a))
    const [c0, s0] = await Promise.all([
      secureOutbound(x0, { identity: a, pinnedPeers: [idOf(b)] }),
      secureInbound(y0, { ...opts, knownPeers: { store: known, name: 'laptop' } })
    ])
    s0.on('error', () => {})
    c0.destroy()
    gate.length = 0
    // Capture a real IK message 1 (the responder here answers with nothing).
    const captured = new Promise<Buffer>((resolve) => {
      const sink = createServer((s) => {
        s.on('error', () => {})
        s.once('data', (d: Buffer) => {
          resolve(d)
          s.destroy()
          sink.close()
        })
      })
      sink.listen(0, '127.0.0.1', () => {
        void connectTcp((sink.address() as { port: number }).port).then((sock) =>
          secureOutbound(sock, {
            identity: a,
            pinnedPeers: [idOf(b)],
            remoteStaticKey: c0.remoteStaticKey,
            handshakeTimeoutMs: 400
          }).catch(() => {})
        )
      })
    })
    const m1 = await captured
    const [x, y] = await tcpPair()
    x.on('error', () => {})
    const inbound = secureInbound(y, opts)
    x.write(m1)
    await expect(inbound).rejects.toMatchObject({ code: 'channel-handshake-timeout' })
    expect(gate).toEqual([])
    expect(store.entries()).toEqual([])
    x.destroy()
  })
})

describe('HandshakeLimiter (SPEC.md §3.6)', () => {
  it('refuses over the per-address limit at once, evicts the oldest over the total, frees slots when done', async () => {
    const limiter = new HandshakeLimiter({ maxPendingHandshakes: 3, maxPendingPerAddress: 2 })
    const fake = (address: string): { remoteAddress: string; destroyed: boolean; destroy(): void } => ({
      remoteAddress: address,
      destroyed: false,
      destroy() {
        this.destroyed = true
      }
    })
    const never = (): Promise<never> => new Promise(() => {})
    const failing = (s: { destroyed: boolean }) => () =>
      new Promise<never>((_, reject) => {
        const t = setInterval(() => {
          if (s.destroyed) {
            clearInterval(t)
            reject(new Error('socket closed'))
          }
        }, 5)
      })
    const s1 = fake('10.0.0.1')
    const first = limiter.run(s1 as never, failing(s1))
    limiter.run(fake('10.0.0.1') as never, never).catch(() => {})
    const third = fake('10.0.0.1')
    await expect(limiter.run(third as never, never)).rejects.toMatchObject({
      code: 'channel-too-many-handshakes',
      details: { address: '10.0.0.1', limit: 2 }
    })
    expect(third.destroyed).toBe(true)
    expect(limiter.pendingFrom('10.0.0.1')).toBe(2)
    limiter.run(fake('10.0.0.2') as never, never).catch(() => {})
    expect(limiter.pending).toBe(3)
    // A fourth handshake evicts the oldest (s1), whose error is reported as the limit's.
    limiter.run(fake('10.0.0.3') as never, never).catch(() => {})
    expect(s1.destroyed).toBe(true)
    await expect(first).rejects.toMatchObject({ code: 'channel-too-many-handshakes' })
    expect(limiter.pending).toBe(3)
    expect(limiter.pendingFrom('10.0.0.1')).toBe(1)
    await expect(limiter.run(fake('10.0.0.4') as never, async () => 'done')).resolves.toBe('done')
    expect(limiter.pendingFrom('10.0.0.4')).toBe(0)
  })

  it('checks its arguments with exact messages', () => {
    expect(() => new HandshakeLimiter({ maxPendingPerAddress: 0 })).toThrow('options.maxPendingPerAddress')
    expect(() => new HandshakeLimiter(null as never)).toThrow('limits: expected { maxPendingHandshakes?, maxPendingPerAddress? }')
    const limiter = new HandshakeLimiter()
    expect(() => limiter.run(null as never, async () => 1)).toThrow('socket: expected a net.Socket or Duplex stream')
    expect(() => limiter.run({ destroy() {} } as never, 'x' as never)).toThrow('handshake: expected a function')
  })
})

describe('known peers for certified peers (SPEC.md §5)', () => {
  it('a client records the first certified server under a name and refuses another certified peer there', async () => {
    const alice = pki.peers.alice!
    const store = KnownPeers.inMemory()
    const client = (socket: Socket) =>
      secureOutbound(socket, {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        knownPeers: { store, name: 'share@nas.lan:4455', certified: true }
      })
    const serve = (who: 'nas' | 'guest', socket: Socket) =>
      secureInbound(socket, { identity: pki.peers[who]!.identity, chain: pki.peers[who]!.chain, trust: pki.trust })
    const [c1, s1] = await tcpPair()
    const [ok, okServer] = await Promise.all([client(c1), serve('nas', s1)])
    okServer.on('error', () => {})
    expect(ok.remotePeer.name).toBe('nas')
    expect(store.get('share@nas.lan:4455')).toBe(pki.peers.nas!.peerId)
    ok.destroy()
    const [c2, s2] = await tcpPair()
    const guestSide = serve('guest', s2)
    guestSide.catch(() => {})
    const err = await client(c2).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'channel-known-peer-changed',
      details: {
        name: 'share@nas.lan:4455',
        expected: pki.peers.nas!.peerId,
        actual: pki.peers.guest!.peerId,
        actualName: 'guest'
      }
    })
    // The client closed at message 2: the guest never learned who alice is.
    await expect(guestSide).rejects.toMatchObject({ code: 'channel-handshake-invalid' })
    // Trust on first use off: an unlisted certified server is a mismatch.
    const strict = KnownPeers.inMemory()
    const [c3, s3] = await tcpPair()
    const nasSide = serve('nas', s3)
    nasSide.catch(() => {})
    await expect(
      secureOutbound(c3, {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        knownPeers: { store: strict, name: 'nas', certified: true, trustOnFirstUse: false }
      })
    ).rejects.toMatchObject({ code: 'channel-peer-mismatch' })
    expect(strict.entries()).toEqual([])
    s3.destroy()
  })

  it('expectedPeerId may list several peers', async () => {
    const alice = pki.peers.alice!
    const [c, s] = await tcpPair()
    const [ch, chServer] = await Promise.all([
      secureOutbound(c, {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        expectedPeerId: [pki.peers.guest!.peerId, pki.peers.nas!.peerId]
      }),
      secureInbound(s, { identity: pki.peers.nas!.identity, chain: pki.peers.nas!.chain, trust: pki.trust })
    ])
    expect(ch.remotePeer.name).toBe('nas')
    chServer.on('error', () => {})
    ch.destroy()
    const [c2, s2] = await tcpPair()
    secureInbound(s2, { identity: pki.peers.nas!.identity, chain: pki.peers.nas!.chain, trust: pki.trust }).catch(() => {})
    await expect(
      secureOutbound(c2, {
        identity: alice.identity,
        chain: alice.chain,
        trust: pki.trust,
        expectedPeerId: [pki.peers.guest!.peerId]
      })
    ).rejects.toMatchObject({ code: 'channel-peer-mismatch' })
    const [c3, s3] = await tcpPair()
    await expect(secureOutbound(c3, { identity: alice.identity, expectedPeerId: [] })).rejects.toThrow(
      'options.expectedPeerId: expected at least one peer ID'
    )
    c3.destroy()
    s3.destroy()
  })
})
