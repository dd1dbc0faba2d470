import { gcm } from '@noble/ciphers/aes.js'
import { describe, expect, it } from '@jest/globals'
import { type ChannelOptions, createListener, type ListenerOptions, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { CipherState, nodeAesGcm } from '@peerguard/channel/noise'
import { CIPHER_IDS, CipherOffer, FrameType, TransportCipher } from '@peerguard/channel/wire'
import { PeerguardError } from '@peerguard/interface'
import { connectTcp, type FrameTamper, frameProxy, makeTestPki } from '@peerguard/test-utils'
import fc from 'fast-check'

/**
 * SPEC.md §2.6: the transport cipher (AESGCM or ChaChaPoly) is negotiated in the XX handshake and
 * bound into the handshake hash. Over real loopback sockets: what each pair of cipher lists agrees
 * on, that a ChaChaPoly-only initiator still sends the original 32-byte message 1, and that a
 * man in the middle who edits the offer or the choice gets no channel at all (no silent
 * downgrade). Then the offer codec (fast-check) and the AESGCM transport against @noble's AES-GCM.
 */
const pki = await makeTestPki({ peers: ['alice', 'bob'] })
const alice = pki.peers.alice!
const bob = pki.peers.bob!

async function serve(extra: Partial<ListenerOptions> = {}) {
  const listener = createListener({ identity: bob.identity, chain: bob.chain, trust: pki.trust, ...extra })
  const errors: Array<{ code?: string }> = []
  const channels: NoiseChannel[] = []
  listener.on('handshakeError', (err: { code?: string }) => errors.push(err))
  listener.on('channel', (ch: NoiseChannel) => {
    channels.push(ch)
    ch.on('error', () => {})
    ch.pipe(ch) // echo
  })
  const { port } = await listener.listen(0, '127.0.0.1')
  return {
    port,
    errors,
    channels,
    nextError: () => new Promise<{ code?: string }>((resolve) => listener.once('handshakeError', resolve)),
    close: () => listener.close()
  }
}

const asAlice = (extra: Partial<ChannelOptions> = {}): ChannelOptions => ({
  identity: alice.identity,
  chain: alice.chain,
  trust: pki.trust,
  expectedPeerId: bob.peerId,
  ...extra
})

async function dial(port: number, options: ChannelOptions): Promise<NoiseChannel> {
  return secureOutbound(await connectTcp(port), options)
}

async function echo(ch: NoiseChannel, bytes: Buffer): Promise<Buffer> {
  const got: Buffer[] = []
  let n = 0
  const done = new Promise<void>((resolve) =>
    ch.on('data', (d: Buffer) => {
      got.push(d)
      n += d.length
      if (n >= bytes.length) resolve()
    })
  )
  ch.write(bytes)
  await done
  return Buffer.concat(got)
}

describe('cipher negotiation over TCP (SPEC.md §2.6)', () => {
  it.each([
    [undefined, undefined, 'AESGCM'],
    [['ChaChaPoly', 'AESGCM'], undefined, 'AESGCM'], // the responder's preference decides
    [undefined, ['ChaChaPoly', 'AESGCM'], 'ChaChaPoly'],
    [['ChaChaPoly'], undefined, 'ChaChaPoly'],
    [undefined, ['ChaChaPoly'], 'ChaChaPoly'],
    [['AESGCM'], ['AESGCM'], 'AESGCM']
  ] as const)('initiator %j, responder %j: %s, both ends agree and data flows', async (mine, theirs, expected) => {
    const server = await serve(theirs === undefined ? {} : { ciphers: theirs })
    const ch = await dial(server.port, asAlice(mine === undefined ? {} : { ciphers: mine }))
    const payload = Buffer.alloc(200_000, 7)
    expect(await echo(ch, payload)).toEqual(payload)
    expect(ch.cipher).toBe(expected)
    expect(server.channels[0]?.cipher).toBe(expected)
    expect(Buffer.from(ch.handshakeHash)).toEqual(Buffer.from(server.channels[0]!.handshakeHash))
    ch.destroy()
    await server.close()
  })

  /** Dial through a relay that records the first frame each way (header included). */
  async function firstFrames(ciphers: ChannelOptions['ciphers']): Promise<{ m1: Buffer; m2: Buffer; cipher: string }> {
    const server = await serve()
    const seen: { m1?: Buffer; m2?: Buffer } = {}
    const proxy = await frameProxy({
      targetPort: server.port,
      clientToServer: (f, i) => {
        if (i === 0) seen.m1 = Buffer.from(f)
        return [f]
      },
      serverToClient: (f, i) => {
        if (i === 0) seen.m2 = Buffer.from(f)
        return [f]
      }
    })
    const ch = await dial(proxy.port, asAlice(ciphers === undefined ? {} : { ciphers }))
    const cipher = ch.cipher
    ch.destroy()
    await proxy.close()
    await server.close()
    return { m1: seen.m1 as Buffer, m2: seen.m2 as Buffer, cipher }
  }

  it('a ChaChaPoly-only initiator keeps the original wire; the default one offers AESGCM, ChaChaPoly and reads the choice byte', async () => {
    const legacy = await firstFrames(['ChaChaPoly'])
    expect(legacy.cipher).toBe('ChaChaPoly')
    expect(legacy.m1.readUInt16BE(0)).toBe(32)
    expect(legacy.m1.length).toBe(2 + 32)
    const offered = await firstFrames(undefined)
    expect(offered.cipher).toBe('AESGCM')
    expect(offered.m1.readUInt16BE(0)).toBe(32 + 4)
    expect([...offered.m1.subarray(2 + 32)]).toEqual([0x01, 2, CIPHER_IDS.AESGCM, CIPHER_IDS.ChaChaPoly])
    // Same identities and payloads: message 2 is one byte longer, that byte (first of the body) is the choice.
    expect(offered.m2.length).toBe(legacy.m2.length + 1)
    expect(offered.m2[2]).toBe(CIPHER_IDS.AESGCM)
  })

  it('no common cipher: the responder refuses with channel-cipher-mismatch, the initiator gets no channel', async () => {
    const server = await serve({ ciphers: ['AESGCM'] })
    const err = server.nextError()
    await expect(dial(server.port, asAlice({ ciphers: ['ChaChaPoly'] }))).rejects.toBeInstanceOf(PeerguardError)
    expect((await err).code).toBe('channel-cipher-mismatch')
    expect(server.channels).toHaveLength(0)
    await server.close()
  })

  /** Rewrite the body of frame 0 (header recomputed). */
  const rewriteFirst =
    (edit: (body: Buffer) => Buffer): FrameTamper =>
    (f, i) => {
      if (i !== 0) return [f]
      const body = edit(f.subarray(2))
      const head = Buffer.alloc(2)
      head.writeUInt16BE(body.length, 0)
      return [Buffer.concat([head, body])]
    }

  it.each([
    ['strips the offer (a 32-byte message 1)', { clientToServer: rewriteFirst((b) => b.subarray(0, 32)) }],
    [
      'offers ChaChaPoly only',
      { clientToServer: rewriteFirst((b) => Buffer.concat([b.subarray(0, 32), Buffer.from([1, 1, CIPHER_IDS.ChaChaPoly])])) }
    ],
    [
      'reorders the offer',
      {
        clientToServer: rewriteFirst((b) =>
          Buffer.concat([b.subarray(0, 32), Buffer.from([1, 2, CIPHER_IDS.ChaChaPoly, CIPHER_IDS.AESGCM])])
        )
      }
    ],
    [
      'rewrites the choice to ChaChaPoly',
      { serverToClient: rewriteFirst((b) => Buffer.concat([Buffer.from([CIPHER_IDS.ChaChaPoly]), b.subarray(1)])) }
    ]
  ] as const)('a man in the middle who %s gets no channel (both sides prefer AESGCM)', async (_what, tamper) => {
    const server = await serve()
    const proxy = await frameProxy({ targetPort: server.port, ...tamper })
    const outcome = await dial(proxy.port, asAlice()).then(
      (ch) => {
        ch.destroy()
        return 'channel'
      },
      (err: unknown) => (err instanceof PeerguardError ? err.code : 'not a PeerguardError')
    )
    // The initiator's h covers its own offer and the cipher it was told; the responder's what it
    // received: message 2 does not decrypt (or names a cipher that was not offered).
    expect(['noise-decrypt-failed', 'channel-handshake-invalid']).toContain(outcome)
    expect(server.channels).toHaveLength(0)
    await proxy.close()
    await server.close()
  })
})

describe('cipher offer codec (fast-check)', () => {
  const cipherLists = fc.uniqueArray(fc.constantFrom('AESGCM' as const, 'ChaChaPoly' as const), { minLength: 1, maxLength: 2 })

  it('round-trips any list of distinct ciphers, in order', () => {
    fc.assert(
      fc.property(cipherLists, (list) => {
        const bytes = CipherOffer.encode(list)
        expect(bytes.length).toBeLessThan(96 - 32) // keeps an offered message 1 apart from IK
        expect(CipherOffer.decode(bytes).map((id) => CipherOffer.cipherOf(id))).toEqual(list)
      })
    )
  })

  it('decodes any bytes to distinct non-zero ids or throws channel-handshake-invalid, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        let ids: number[]
        try {
          ids = CipherOffer.decode(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(PeerguardError)
          expect((err as PeerguardError).code).toBe('channel-handshake-invalid')
          return
        }
        expect(ids.length).toBeGreaterThanOrEqual(1)
        expect(new Set(ids).size).toBe(ids.length)
        expect(ids).not.toContain(0)
        expect(bytes.length).toBe(2 + ids.length)
      })
    )
  })

  it('the responder picks the first of its own list that the offer holds', () => {
    fc.assert(
      fc.property(cipherLists, cipherLists, (own, offered) => {
        const pick = CipherOffer.choose(own, CipherOffer.decode(CipherOffer.encode(offered)))
        expect(pick).toBe(own.find((c) => offered.includes(c)))
      })
    )
  })

  it('refuses bad lists with an InvalidArgumentError', () => {
    expect(() => CipherOffer.encode([])).toThrow(/1\.\.16 cipher names/)
    expect(() => CipherOffer.encode(['AESGCM', 'AESGCM'])).toThrow(/listed twice/)
    expect(() => CipherOffer.encode(['DES' as 'AESGCM'])).toThrow(/AESGCM or ChaChaPoly/)
  })
})

describe('AESGCM transport frames (SPEC.md §3.1) against @noble AES-GCM', () => {
  const nonceBE = (n: bigint): Uint8Array => {
    const out = new Uint8Array(12)
    new DataView(out.buffer).setBigUint64(4, n, false)
    return out
  }

  it('seals frames with nonce 0x00000000 || u64 BE n and rekeys with REKEY(k) of AES-GCM', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
        (key, bodies) => {
          const t = new TransportCipher(new CipherState(nodeAesGcm, key))
          expect(t.cipherName).toBe('AESGCM')
          let k: Uint8Array = Uint8Array.from(key)
          let n = 0n
          for (const [i, body] of bodies.entries()) {
            const frame = Buffer.concat(t.seal(FrameType.DATA, [body], body.length))
            expect(frame.readUInt16BE(0)).toBe(frame.length - 2)
            const plain = gcm(k, nonceBE(n++), new Uint8Array(0)).decrypt(frame.subarray(2))
            expect(Buffer.from(plain)).toEqual(Buffer.concat([Buffer.of(FrameType.DATA), body]))
            if (i % 2 === 1) {
              t.rekey()
              k = gcm(k, nonceBE(0xffff_ffff_ffff_ffffn), new Uint8Array(0)).encrypt(new Uint8Array(32)).subarray(0, 32)
            }
          }
          expect(t.nonce).toBe(bodies.length)
        }
      ),
      { numRuns: 40 }
    )
  })

  it('opens a frame only when its tag verifies', () => {
    const key = new Uint8Array(32).fill(9)
    const send = new TransportCipher(new CipherState(nodeAesGcm, key))
    const receive = new TransportCipher(new CipherState(nodeAesGcm, key))
    const frame = Buffer.concat(send.seal(FrameType.DATA, [Buffer.from('hello')], 5)).subarray(2)
    const { type, body } = receive.open([frame.subarray(0, 3), frame.subarray(3)], frame.length)
    expect(type).toBe(FrameType.DATA)
    expect(Buffer.concat(body).toString()).toBe('hello')
    const bad = Buffer.from(Buffer.concat(send.seal(FrameType.DATA, [Buffer.from('x')], 1)).subarray(2))
    bad[1] = (bad[1] as number) ^ 1
    expect(() => receive.open([bad], bad.length)).toThrow(expect.objectContaining({ code: 'channel-decrypt-failed' }))
  })
})
