import './node20-shim.js'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import { generateKeyPair as libp2pGenerateKeyPair } from '@libp2p/crypto/keys'
import type { SecurableStream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair, keyPairFromSeed, peerIdFromPublicKey } from '@peerguard/identity'
import {
  createPeerDirectory,
  identityFromLibp2pPrivateKey,
  Libp2pPeerMismatchError,
  libp2pPeerIdFromPeerguard,
  libp2pPrivateKeyFromIdentity,
  PeerguardEncrypter,
  peerguardEncrypter,
  peerguardGater,
  peerguardPeerIdFromLibp2p
} from '@peerguard/libp2p'
import { loadPolicy } from '@peerguard/policy'
import { makeTestPki } from '@peerguard/test-utils'
import fc from 'fast-check'
import { itDuplexPair } from './helpers.js'

const noMuxers = { getStreamMuxers: () => new Map() }

describe('identity bridge', () => {
  it('gives the libp2p node the same Ed25519 key: PeerId equals PeerId.toLibp2p(), and back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const kp = keyPairFromSeed(seed)
        const key = libp2pPrivateKeyFromIdentity(kp)
        const pgId = peerIdFromPublicKey(kp.publicKey)
        expect(peerIdFromPrivateKey(key).toString()).toBe(pgId.toLibp2p())
        expect(libp2pPeerIdFromPeerguard(pgId).toString()).toBe(pgId.toLibp2p())
        expect(libp2pPeerIdFromPeerguard(pgId.toString()).toString()).toBe(pgId.toLibp2p())
        expect(peerguardPeerIdFromLibp2p(peerIdFromPrivateKey(key)).toString()).toBe(pgId.toString())
        const back = identityFromLibp2pPrivateKey(key)
        expect(Buffer.from(back.secretKey).equals(Buffer.from(kp.secretKey))).toBe(true)
        expect(Buffer.from(back.publicKey).equals(Buffer.from(kp.publicKey))).toBe(true)
      }),
      { numRuns: 50 }
    )
  })

  it('refuses wrong types, sizes and non-Ed25519 keys with typed errors', async () => {
    const kp = generateKeyPair()
    for (const bad of [
      null,
      undefined,
      42,
      'key',
      {},
      { publicKey: kp.publicKey },
      { publicKey: kp.publicKey.subarray(1), secretKey: kp.secretKey }
    ]) {
      expect(() => libp2pPrivateKeyFromIdentity(bad as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    }
    // a secret key whose second half is not its seed's public key
    const other = generateKeyPair()
    const forged = {
      publicKey: other.publicKey,
      secretKey: Uint8Array.from([...kp.secretKey.subarray(0, 32), ...other.publicKey])
    }
    expect(() => libp2pPrivateKeyFromIdentity(forged)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    const secp = await libp2pGenerateKeyPair('secp256k1')
    expect(() => identityFromLibp2pPrivateKey(secp)).toThrow(expect.objectContaining({ code: 'libp2p-unsupported-key' }))
    expect(() => peerguardPeerIdFromLibp2p(peerIdFromPrivateKey(secp))).toThrow(
      expect.objectContaining({ code: 'libp2p-unsupported-key' })
    )
    expect(() => identityFromLibp2pPrivateKey(null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => peerguardPeerIdFromLibp2p('12D3Koo' as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => libp2pPeerIdFromPeerguard('not-a-peer-id')).toThrow(
      expect.objectContaining({ name: expect.stringMatching(/Error$/) })
    )
    expect(() => libp2pPeerIdFromPeerguard(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => libp2pPeerIdFromPeerguard(7 as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })
})

describe('argument checks', () => {
  it('peerguardEncrypter checks its options up front', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bad: unknown[] = [
      null,
      'x',
      {},
      { chain: 'der', trust: pki.trust },
      { chain: [new Uint8Array(3), 'x'], trust: pki.trust },
      { trust: 5 },
      { trust: pki.trust, authorize: 'yes' },
      { trust: pki.trust, peers: {} },
      { trust: pki.trust, log: { write() {} } },
      { trust: pki.trust, earlyMuxerNegotiation: 'no' },
      { trust: pki.trust, identity: { publicKey: new Uint8Array(32) } },
      { pinnedPeers: 'abc' }
    ]
    for (const o of bad)
      expect(() => peerguardEncrypter(o as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    const make = peerguardEncrypter({ identity: alice.identity, chain: alice.chain, trust: pki.trust })
    expect(() => make({ privateKey: libp2pPrivateKeyFromIdentity(generateKeyPair()) })).toThrow(
      expect.objectContaining({ code: 'libp2p-key-mismatch' })
    )
    expect(() => make(null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    const enc = make({ privateKey: libp2pPrivateKeyFromIdentity(alice.identity), upgrader: noMuxers })
    await expect(enc.secureOutbound({} as never)).rejects.toMatchObject({ code: 'libp2p-unsupported-version' }) // neither libp2p 2 nor 3
    await expect(enc.secureInbound(null as never)).rejects.toMatchObject({ code: 'invalid-argument' })
  })

  it('peerguardGater checks its arguments', () => {
    const policy = loadPolicy('version: 1\nrules: []\n')
    for (const p of [null, {}, 'policy', { decide: 1 }]) {
      expect(() => peerguardGater(p as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    }
    const bad: unknown[] = [
      null,
      { certifiedOnly: true },
      { certifiedOnly: 'yes', peers: createPeerDirectory() },
      { peers: new Map() },
      { log: {} },
      { action: '' },
      { resource: 7 }
    ]
    for (const o of bad)
      expect(() => peerguardGater(policy, o as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })

  it('decides by peer ID when the connection was not secured by peerguard, and fails closed when the log cannot be written', async () => {
    const kp = generateKeyPair()
    const pgId = peerIdFromPublicKey(kp.publicKey).toString()
    const policy = loadPolicy(
      `version: 1\nrules:\n  - id: known\n    allow: [get]\n    peers: ["id:${pgId}"]\n    resources: ["service:libp2p"]\n`
    )
    const known = libp2pPeerIdFromPeerguard(kp.publicKey)
    const stranger = libp2pPeerIdFromPeerguard(generateKeyPair().publicKey)
    const records: unknown[] = []
    const gater = peerguardGater(policy, { log: { append: async (r) => void records.push(r) } })
    const maConn = {} as never
    expect(await gater.denyInboundEncryptedConnection?.(known, maConn)).toBe(false)
    expect(await gater.denyOutboundEncryptedConnection?.(stranger, maConn)).toBe(true)
    expect(records).toEqual([
      expect.objectContaining({
        event: 'accepted',
        code: 'allow',
        mode: 'plain',
        peer: expect.objectContaining({ peerId: pgId })
      }),
      expect.objectContaining({ event: 'refused', code: 'deny-default' })
    ])
    const broken = peerguardGater(policy, {
      log: {
        append: async () => {
          throw new Error('disk full')
        }
      }
    })
    expect(await broken.denyInboundEncryptedConnection?.(known, maConn)).toBe(true)
    // certifiedOnly refuses a connection the encrypter did not secure, even a policy member's
    const certified = peerguardGater(policy, { peers: createPeerDirectory() })
    expect(await certified.denyInboundEncryptedConnection?.(known, maConn)).toBe(true)
    // a non-Ed25519 peer cannot be named by a policy
    const secp = peerIdFromPrivateKey(await libp2pGenerateKeyPair('secp256k1'))
    expect(await gater.denyInboundEncryptedConnection?.(secp, maConn)).toBe(true)
    expect(records.at(-1)).toMatchObject({ event: 'refused', code: 'libp2p-unsupported-key' })
  })

  it('the peer directory refuses garbage', () => {
    const d = createPeerDirectory()
    expect(() => d.set(null as never, { peerId: 'x', groups: [] } as never)).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => d.set({}, null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(d.get(null as never)).toBeUndefined()
  })
})

describe('PeerguardEncrypter on an in-memory libp2p duplex', () => {
  async function pair(options: { expectRemote?: boolean; wrongRemote?: boolean } = {}) {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const a = new PeerguardEncrypter(
      { privateKey: libp2pPrivateKeyFromIdentity(alice.identity), upgrader: noMuxers },
      { chain: alice.chain, trust: pki.trust }
    )
    const b = new PeerguardEncrypter(
      { privateKey: libp2pPrivateKeyFromIdentity(bob.identity), upgrader: noMuxers },
      { chain: bob.chain, trust: pki.trust }
    )
    const [x, y] = itDuplexPair()
    const remotePeer = options.wrongRemote
      ? libp2pPeerIdFromPeerguard(generateKeyPair().publicKey)
      : options.expectRemote
        ? libp2pPeerIdFromPeerguard(bob.identity.publicKey)
        : undefined
    const out = a.secureOutbound(x as unknown as SecurableStream, remotePeer === undefined ? {} : { remotePeer })
    const inn = b.secureInbound(y as unknown as SecurableStream)
    return { out, inn, alice, bob }
  }

  it('returns the remote PeerId, the authenticated peer as remoteExtensions, and carries bytes both ways in any chunking', async () => {
    const { out, inn, alice, bob } = await pair({ expectRemote: true })
    const [o, i] = await Promise.all([out, inn])
    expect(o.remotePeer.toString()).toBe(peerIdFromPublicKey(bob.identity.publicKey).toLibp2p())
    expect(i.remotePeer.toString()).toBe(peerIdFromPublicKey(alice.identity.publicKey).toLibp2p())
    expect(o.remoteExtensions).toMatchObject({ peerId: bob.peerId, name: 'bob', groups: ['friends'] })
    expect(i.remoteExtensions).toMatchObject({ peerId: alice.peerId, name: 'alice' })
    const feed: Buffer[] = []
    let ended = false
    let wake: (() => void) | undefined
    const sent = o.conn.sink(
      (async function* () {
        while (true) {
          const next = feed.shift()
          if (next !== undefined) yield next
          else if (ended) return
          else
            await new Promise<void>((r) => {
              wake = r
            })
        }
      })() as never
    )
    const source = (i.conn.source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }), async (sizes) => {
        const chunks = sizes.map((n) => randomBytes(n))
        const want = Buffer.concat(chunks)
        feed.push(...chunks)
        wake?.()
        const got: Buffer[] = []
        let n = 0
        while (n < want.length) {
          const r = await source.next()
          if (r.done === true) break
          got.push(Buffer.from(r.value))
          n += r.value.length
        }
        expect(Buffer.concat(got).equals(want)).toBe(true)
      }),
      { numRuns: 15 }
    )
    // ending the sink sends CLOSE: the other side's source ends cleanly
    ended = true
    wake?.()
    await sent
    expect((await source.next()).done).toBe(true)
  })

  it("libp2p closing the raw connection sends the channel's CLOSE first: the remote sees a clean end, not truncation", async () => {
    const { out, inn } = await pair()
    const [o, i] = await Promise.all([out, inn])
    const remote = (i.conn.source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    await (o.conn as unknown as { close(): Promise<void> }).close()
    await expect(remote.next()).resolves.toMatchObject({ done: true })
  })

  it('a connection cut without CLOSE surfaces as channel-truncated on the reading side (fail closed)', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const a = new PeerguardEncrypter(
      { privateKey: libp2pPrivateKeyFromIdentity(alice.identity), upgrader: noMuxers },
      { chain: alice.chain, trust: pki.trust }
    )
    const b = new PeerguardEncrypter(
      { privateKey: libp2pPrivateKeyFromIdentity(bob.identity), upgrader: noMuxers },
      { chain: bob.chain, trust: pki.trust }
    )
    const [x, y] = itDuplexPair()
    const rawClose = x.close
    const [, i] = await Promise.all([
      a.secureOutbound(x as unknown as SecurableStream),
      b.secureInbound(y as unknown as SecurableStream)
    ])
    const remote = (i.conn.source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    await rawClose() // the transport goes away under the channel, no CLOSE frame
    await expect(remote.next()).rejects.toMatchObject({ code: 'channel-truncated' })
  })

  it('fails with a typed Libp2pPeerMismatchError when the expected remote PeerId is not the key that answered', async () => {
    const { out, inn } = await pair({ wrongRemote: true })
    inn.catch(() => {})
    const err = await out.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Libp2pPeerMismatchError)
    expect(err).toMatchObject({ code: 'libp2p-peer-mismatch' })
    await expect(inn).rejects.toBeDefined()
  })
})
