import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { createListener, KnownPeers, NoiseChannel, secureInbound, secureOutbound } from '@peerguard/channel'
import { HandshakeState, parseProtocolName } from '@peerguard/channel/noise'
import {
  decodeAlert,
  decodeHandshakePayload,
  encodeHandshakePayload,
  FrameDecoder,
  TransportCipher
} from '@peerguard/channel/wire'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { duplexPair } from '@peerguard/test-utils'

/** Every export checks its arguments: wrong types, sizes and encodings give invalid-argument. */
const identity = generateKeyPair()
const invalid = expect.objectContaining({ code: 'invalid-argument' })

describe('argument checks', () => {
  it('secureOutbound / secureInbound: socket and options', async () => {
    for (const fn of [secureOutbound, secureInbound]) {
      await expect(fn(null as never, { identity })).rejects.toEqual(invalid)
      await expect(fn({} as never, { identity })).rejects.toEqual(invalid)
      const [x] = duplexPair()
      await expect(fn(x, null as never)).rejects.toEqual(invalid)
      await expect(fn(x, {} as never)).rejects.toEqual(invalid)
      await expect(fn(x, { identity: { publicKey: new Uint8Array(31), secretKey: identity.secretKey } })).rejects.toThrow(
        'options.identity.publicKey: expected Uint8Array of length 32, got Uint8Array of length 31'
      )
      await expect(fn(x, { identity: { publicKey: identity.publicKey, secretKey: 'secret' as never } })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, chain: 'pem' as never })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, chain: [new Uint8Array(0)] })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, expectedPeerId: 'not-a-peer-id' })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, pinnedPeers: [42 as never] })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, protocols: [''] })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, protocols: ['x'.repeat(256)] })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, handshakeTimeoutMs: -1 })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, handshakeTimeoutMs: 1.5 })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, maxHandshakeMessageBytes: 70_000 })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, rekeyAfterBytes: 10 })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, authorize: 'yes' as never })).rejects.toEqual(invalid)
      await expect(fn(x, { identity, knownPeers: { name: 'x' } as never })).rejects.toEqual(invalid)
      const ciphersMessage = "options.ciphers: expected a non-empty list of distinct ciphers, each 'AESGCM' or 'ChaChaPoly'"
      await expect(fn(x, { identity, ciphers: [] })).rejects.toThrow(ciphersMessage)
      await expect(fn(x, { identity, ciphers: ['AESGCM', 'AESGCM'] })).rejects.toThrow(ciphersMessage)
      await expect(fn(x, { identity, ciphers: ['toString' as never] })).rejects.toThrow(ciphersMessage)
      await expect(fn(x, { identity, ciphers: 'AESGCM' as never })).rejects.toThrow(ciphersMessage)
      await expect(fn(x, { identity, ciphers: ['AESGCM'], remoteStaticKey: new Uint8Array(32) })).rejects.toThrow(
        'options.ciphers: IK (options.remoteStaticKey) runs ChaChaPoly, which the list leaves out'
      )
      x.destroy()
    }
  })

  it('a destroyed socket is refused', async () => {
    const [x] = duplexPair()
    x.destroy()
    await expect(secureOutbound(x, { identity })).rejects.toEqual(invalid)
  })

  it('createListener: limits and callback', () => {
    expect(() => createListener({ identity, maxPendingHandshakes: 0 })).toThrow(invalid)
    expect(() => createListener({ identity, maxPendingPerAddress: 1.5 })).toThrow(invalid)
    expect(() => createListener({ identity }, 'cb' as never)).toThrow(invalid)
    expect(() => createListener({ identity: null as never })).toThrow(invalid)
  })

  it('HandshakeState: role, keys, prologue and psks', () => {
    const base = { protocolName: 'Noise_XX_25519_ChaChaPoly_SHA256' }
    expect(() => new HandshakeState({ ...base, role: 'client' as never })).toThrow(invalid)
    expect(() => new HandshakeState({ ...base, role: 'initiator', staticPrivateKey: new Uint8Array(31) })).toThrow(invalid)
    expect(() => new HandshakeState({ ...base, role: 'initiator', prologue: 'x' as never })).toThrow(invalid)
    expect(() => new HandshakeState({ ...base, role: 'initiator', psks: [new Uint8Array(32)] })).toThrow(invalid)
    expect(
      () => new HandshakeState({ protocolName: 'Noise_XXpsk0_25519_ChaChaPoly_SHA256', role: 'initiator', psks: [] })
    ).toThrow(invalid)
    expect(() => new HandshakeState({ protocolName: 'Noise_IK_25519_ChaChaPoly_SHA256', role: 'initiator' })).toThrow(invalid)
    expect(() => parseProtocolName(42 as never)).toThrow(expect.objectContaining({ code: 'noise-unsupported-protocol' }))
    const hs = new HandshakeState({ ...base, role: 'initiator' })
    expect(() => hs.readMessage(new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'noise-invalid-state' }))
    expect(() => hs.writeMessage('x' as never)).toThrow(invalid)
  })

  it('payload decoder and known-peers parser', async () => {
    expect(() => decodeHandshakePayload('x' as never)).toThrow(invalid)
    expect(() => encodeHandshakePayload({ identityKey: new Uint8Array(3) } as never)).toThrow(invalid)
    expect(() => decodeAlert(null as never)).toThrow(invalid)
    expect(() => new FrameDecoder(10, 5)).toThrow(invalid)
    expect(() => new NoiseChannel({} as never)).toThrow(invalid)
    expect(() => new TransportCipher({} as never)).toThrow(invalid)
    expect(() => new FrameDecoder(0, 100).push('x' as never)).toThrow(invalid)
    expect(() => KnownPeers.parse('nas not-a-peer-id')).toThrow(expect.objectContaining({ code: 'channel-known-peers-invalid' }))
    expect(() => KnownPeers.parse('just-one-field')).toThrow(expect.objectContaining({ code: 'channel-known-peers-invalid' }))
    expect(() => KnownPeers.parse(42 as never)).toThrow(invalid)
    await expect(KnownPeers.load('')).rejects.toEqual(invalid)
    expect(KnownPeers.parse('# comment\n\n').entries()).toEqual([])
  })

  it('known-peers file: trust on first use persists with mode 0600 and reloads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-known-'))
    const path = join(dir, 'known_peers')
    const store = await KnownPeers.load(path)
    const id = peerIdFromPublicKey(identity.publicKey).toString()
    await store.remember('nas.local:7000', id)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await readFile(path, 'utf8')).includes(`nas.local:7000 ${id}`)).toBe(true)
    expect((await KnownPeers.load(path)).get('nas.local:7000')).toBe(id)
    await expect(store.remember('has space', id)).rejects.toEqual(
      expect.objectContaining({ code: 'channel-known-peers-invalid' })
    )
    await rm(dir, { recursive: true })
  })
})
