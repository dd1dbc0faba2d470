import { randomBytes } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import { secureInbound, secureOutbound } from '@peerguard/channel'
import { CipherState, HandshakeState, nodeChaChaPoly, nodeSha256, nodeX25519 } from '@peerguard/channel/noise'
import {
  decodeAlert,
  decodeHandshakePayload,
  encodeAlert,
  encodeHandshakePayload,
  FrameDecoder,
  TransportCipher
} from '@peerguard/channel/wire'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { duplexPair } from '@peerguard/test-utils'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import { pureJsCryptoProvider } from './reference-crypto.js'

/** Run `fn`; it may return or throw, but only a PeerguardError (never a TypeError, RangeError…). */
function onlyOurErrors(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!isPeerguardError(err)) throw err
  }
}

/** `keyId()` is an internal test seam (not in the published types). */
const keyIdOf = (t: TransportCipher): string => (t as unknown as { keyId(): string }).keyId()

describe('frame decoder (fast-check)', () => {
  it('splits any chunking of valid frames back into the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 17, maxLength: 3000 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.flatMap((f) => [Buffer.from([f.length >> 8, f.length & 0xff]), Buffer.from(f)]))
          const d = new FrameDecoder(17, 65535)
          const out: Buffer[] = []
          let offset = 0
          let i = 0
          while (offset < wire.length) {
            const n = cuts[i++ % cuts.length] as number
            d.push(wire.subarray(offset, offset + n))
            offset += n
            for (let f = d.nextBuffer(); f !== undefined; f = d.nextBuffer()) out.push(Buffer.from(f))
          }
          expect(out.map((b) => b.toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')))
          expect(d.buffered).toBe(0)
        }
      )
    )
  })

  it('throws only channel-frame-invalid on arbitrary bytes, at the header', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        (chunks, a, b) => {
          const d = new FrameDecoder(Math.min(a, b), Math.max(a, b))
          try {
            for (const c of chunks) {
              d.push(Buffer.from(c))
              while (d.next() !== undefined) {}
            }
          } catch (err) {
            expect((err as { code?: string }).code).toBe('channel-frame-invalid')
          }
        }
      )
    )
  })
})

describe('handshake payload (fast-check)', () => {
  const payload = fc.record({
    identityKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    identitySig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    certificates: fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { maxLength: 8 }),
    protocols: fc.array(fc.string({ minLength: 1, maxLength: 60 }), { maxLength: 16 })
  })

  it('round-trips', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const back = decodeHandshakePayload(encodeHandshakePayload(p))
        expect(Buffer.from(back.identityKey)).toEqual(Buffer.from(p.identityKey))
        expect(Buffer.from(back.identitySig)).toEqual(Buffer.from(p.identitySig))
        expect(back.certificates.map((c) => Buffer.from(c).toString('hex'))).toEqual(
          p.certificates.map((c) => Buffer.from(c).toString('hex'))
        )
        expect(back.protocols).toEqual(p.protocols)
      })
    )
  })

  it('throws only channel-handshake-invalid on garbage and on mutations of a valid payload', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decodeHandshakePayload(bytes)
        } catch (err) {
          expect((err as { code?: string }).code).toBe('channel-handshake-invalid')
        }
      })
    )
    fc.assert(
      fc.property(payload, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (p, at, value, cut) => {
        const bytes = Buffer.from(encodeHandshakePayload(p))
        bytes[at % bytes.length] = value
        try {
          decodeHandshakePayload(bytes.subarray(0, bytes.length - (cut % 4)))
        } catch (err) {
          expect((err as { code?: string }).code).toBe('channel-handshake-invalid')
        }
      })
    )
  })

  it('alerts round-trip and garbage alerts throw only our error', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,64}$/), fc.string({ maxLength: 100 }), (code, reason) => {
        expect(decodeAlert(encodeAlert(code, reason))).toEqual({ code, reason })
      })
    )
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => onlyOurErrors(() => decodeAlert(b))))
  })
})

describe('handshake reader (fast-check)', () => {
  it('readMessage on arbitrary bytes throws only PeerguardErrors', () => {
    const s = nodeX25519.generateKeyPair()
    fc.assert(
      fc.property(
        fc.constantFrom(
          'Noise_XX_25519_ChaChaPoly_SHA256',
          'Noise_IK_25519_ChaChaPoly_SHA256',
          'Noise_NN_25519_ChaChaPoly_SHA256'
        ),
        fc.uint8Array({ maxLength: 200 }),
        (name, msg) => {
          const responder = new HandshakeState({ protocolName: name, role: 'responder', staticPrivateKey: s.privateKey })
          onlyOurErrors(() => responder.readMessage(msg))
        }
      ),
      { numRuns: 200 }
    )
  })

  it('secureInbound fed random bytes rejects with a PeerguardError and never hangs', async () => {
    const server = generateKeyPair()
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 120 }), { minLength: 1, maxLength: 5 }),
        async (chunks) => {
          const [x, y] = duplexPair()
          x.on('error', () => {})
          const p = secureInbound(y, { identity: server, handshakeTimeoutMs: 200, pinnedPeers: [] })
          for (const c of chunks) x.write(Buffer.from(c))
          x.end()
          const err = await p.then(
            () => new Error('accepted garbage'),
            (e: unknown) => e
          )
          expect(isPeerguardError(err)).toBe(true)
        }
      ),
      { numRuns: 60 }
    )
  })

  it('rejects unknown protocol names with noise-unsupported-protocol', () => {
    for (const name of [
      'Noise_ZZ_25519_ChaChaPoly_SHA256',
      'Noise_XX_448_ChaChaPoly_SHA256',
      'Noise_XXfallback_25519_ChaChaPoly_SHA256',
      'Noise_XX',
      'XX',
      'Noise_XXpsk9_25519_ChaChaPoly_SHA256'
    ]) {
      expect(() => new HandshakeState({ protocolName: name, role: 'initiator' })).toThrow(
        expect.objectContaining({ code: 'noise-unsupported-protocol' })
      )
    }
  })
})

describe('nonces never repeat within a key (fast-check, across rekeys)', () => {
  it('TransportCipher: every (key, nonce) pair is used once, and the receiver follows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('rekey' as const), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 200 }),
        (ops) => {
          const key = randomBytes(32)
          const send = new TransportCipher(new CipherState(nodeChaChaPoly, key))
          const receive = new TransportCipher(new CipherState(nodeChaChaPoly, key))
          const used = new Set<string>()
          for (const op of ops) {
            if (op === 'rekey') {
              send.rekey()
              receive.rekey()
              continue
            }
            const pair = `${keyIdOf(send)}:${send.nonce}`
            expect(used.has(pair)).toBe(false)
            used.add(pair)
            const body = randomBytes(op)
            const frame = Buffer.concat(send.seal(0, [body], body.length))
            const opened = receive.open([frame.subarray(2)], frame.length - 2)
            expect(Buffer.concat(opened.body).equals(body)).toBe(true)
          }
        }
      )
    )
  })

  it('a channel with a tiny rekey budget carries random writes intact and rekeys in step', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        async (sizes, frames) => {
          const a = generateKeyPair()
          const b = generateKeyPair()
          const [x, y] = duplexPair()
          const [client, server] = await Promise.all([
            secureOutbound(x, {
              identity: a,
              pinnedPeers: [peerIdFromPublicKey(b.publicKey).toString()],
              rekeyAfterFrames: frames
            }),
            secureInbound(y, { identity: b, pinnedPeers: [peerIdFromPublicKey(a.publicKey).toString()] })
          ])
          const parts: Buffer[] = []
          server.on('data', (c: Buffer) => parts.push(c))
          const ended = new Promise((r) => server.once('end', r))
          const sent = sizes.map((n) => randomBytes(n))
          for (const s of sent) client.write(s)
          client.end()
          await ended
          expect(Buffer.concat(parts).equals(Buffer.concat(sent))).toBe(true)
          expect(server.keyState.receiveEpoch).toBe(client.keyState.sendEpoch)
          expect(server.keyState.receiveNonce).toBe(client.keyState.sendNonce)
          // Each key carries at most `frames` DATA frames (plus the REKEY and CLOSE around them).
          expect(client.keyState.sendNonce).toBeLessThanOrEqual((client.keyState.sendEpoch + 1) * (frames + 2))
          server.end()
          client.destroy()
        }
      ),
      { numRuns: 15 }
    )
  })

  it('rekey on request switches both directions', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const [x, y] = duplexPair()
    const [client, server] = await Promise.all([
      secureOutbound(x, { identity: a, pinnedPeers: [peerIdFromPublicKey(b.publicKey).toString()] }),
      secureInbound(y, { identity: b, pinnedPeers: [peerIdFromPublicKey(a.publicKey).toString()] })
    ])
    expect(client.rekey()).toBe(true)
    client.write('after rekey')
    const got = await new Promise<string>((r) => server.once('data', (c: Buffer) => r(c.toString())))
    expect(got).toBe('after rekey')
    server.write('reply')
    await new Promise((r) => client.once('data', r))
    expect(client.keyState.sendEpoch).toBe(1)
    expect(server.keyState.receiveEpoch).toBe(1)
    expect(server.keyState.sendEpoch).toBe(1)
    expect(client.keyState.receiveEpoch).toBe(1)
    client.destroy()
    server.destroy()
  })
})

describe('node:crypto against pure-JS references (differential)', () => {
  it('X25519: node:crypto agrees with tweetnacl scalarMult', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
        const kb = nodeX25519.keyPairFromPrivate(b)
        expect(Buffer.from(nodeX25519.keyPairFromPrivate(a).publicKey)).toEqual(Buffer.from(nacl.scalarMult.base(a)))
        expect(Buffer.from(nodeX25519.dh(a, kb.publicKey))).toEqual(Buffer.from(nacl.scalarMult(a, kb.publicKey)))
      }),
      { numRuns: 10 }
    )
  })

  it('ChaCha20-Poly1305 and SHA-256/HMAC: node:crypto agrees with @noble', () => {
    const ref = pureJsCryptoProvider
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 2000 }),
        (k, n, ad, pt) => {
          const a = nodeChaChaPoly.encrypt(k, n, ad, pt)
          expect(Buffer.from(a)).toEqual(Buffer.from(ref.cipher.ChaChaPoly!.encrypt(k, n, ad, pt)))
          expect(Buffer.from(ref.cipher.ChaChaPoly!.decrypt(k, n, ad, a))).toEqual(Buffer.from(pt))
          expect(Buffer.from(nodeSha256.hmac(k, pt, ad))).toEqual(Buffer.from(ref.hash.SHA256!.hmac(k, pt, ad)))
        }
      )
    )
  })

  it('the transport fast path (TransportCipher) produces Noise ChaChaPoly frames', () => {
    const key = randomBytes(32)
    const t = new TransportCipher(new CipherState(nodeChaChaPoly, key))
    const body = randomBytes(1000)
    const frame = Buffer.concat(t.seal(0, [body.subarray(0, 10), body.subarray(10)], body.length))
    const expected = nodeChaChaPoly.encrypt(key, 0, new Uint8Array(0), Buffer.concat([Buffer.of(0), body]))
    expect(frame.readUInt16BE(0)).toBe(expected.length)
    expect(frame.subarray(2)).toEqual(Buffer.from(expected))
    expect(t.nonce).toBe(1)
  })
})
