import { randomBytes } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import { type NoiseChannel, secureInbound, secureOutbound } from '@peerguard/channel'
import { HandshakeState } from '@peerguard/channel/noise'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { tcpPair } from '@peerguard/test-utils'

// The fast paths: frames written in one tick leave in one batch (the socket is corked until the
// end of the tick), parsed protocol names and peer IDs are cached. None of it may change what
// the peer receives or what is refused.

const idOf = (kp: { publicKey: Uint8Array }) => peerIdFromPublicKey(kp.publicKey).toString()

function readAll(s: NoiseChannel): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    s.on('data', (c: Buffer) => parts.push(c))
    s.once('end', () => resolve(Buffer.concat(parts)))
    s.once('error', reject)
  })
}

async function pair(): Promise<[NoiseChannel, NoiseChannel]> {
  const a = generateKeyPair()
  const b = generateKeyPair()
  const [c, s] = await tcpPair()
  return Promise.all([
    secureOutbound(c, { identity: a, pinnedPeers: [idOf(b)], expectedPeerId: idOf(b) }),
    secureInbound(s, { identity: b, pinnedPeers: [idOf(a)] })
  ])
}

describe('write batching', () => {
  it('many writes of mixed sizes in one tick, then end(), arrive whole and in order over TCP', async () => {
    const [client, server] = await pair()
    const sizes = [1, 0, 17, 65517, 65518, 65519, 3, 200_000, 5, 131_034, 1]
    const chunks = sizes.map((n) => randomBytes(n))
    const got = readAll(server)
    for (const c of chunks) client.write(c)
    client.end(Buffer.from('last'))
    expect((await got).equals(Buffer.concat([...chunks, Buffer.from('last')]))).toBe(true)
    server.end()
  })

  it('64 KiB writes in one tick leave as full frames, the remainder at the end of the tick', async () => {
    const [client, server] = await pair()
    const chunks = Array.from({ length: 16 }, () => randomBytes(65536))
    const total = 16 * 65536
    let n = 0
    const parts: Buffer[] = []
    const all = new Promise<void>((resolve) =>
      server.on('data', (d: Buffer) => {
        parts.push(d)
        n += d.length
        if (n === total) resolve()
      })
    )
    for (const c of chunks) client.write(c)
    await all // nothing else is written: the last partial frame left at the end of the tick
    expect(Buffer.concat(parts).equals(Buffer.concat(chunks))).toBe(true)
    // 1 MiB in frames of 65517 bytes: 16 full and one of 304 (not one full and one of 19 per write: 32).
    expect(client.keyState.sendNonce).toBe(Math.ceil(total / 65517))
    const one = new Promise<Buffer>((resolve) => server.once('data', resolve))
    client.write(Buffer.from('tail'))
    expect((await one).toString()).toBe('tail')
    client.end()
    server.end()
  })

  it('a rekey requested in the middle of a batch keeps both directions decryptable', async () => {
    const [client, server] = await pair()
    const got = readAll(server)
    const back = readAll(client)
    const parts: Buffer[] = []
    for (let i = 0; i < 6; i++) {
      const p = randomBytes(70_000)
      parts.push(p)
      client.write(p)
      if (i === 2) expect(client.rekey()).toBe(true)
    }
    client.end()
    expect((await got).equals(Buffer.concat(parts))).toBe(true)
    server.end('ok')
    expect((await back).toString()).toBe('ok')
    expect(client.keyState.sendEpoch).toBe(1)
    expect(server.keyState.receiveEpoch).toBe(1)
  })

  it('data written in the same tick as a clean end() is flushed before the socket closes', async () => {
    const [client, server] = await pair()
    const got = readAll(server)
    const big = randomBytes(3 * 1024 * 1024)
    client.end(big)
    expect((await got).equals(big)).toBe(true)
    server.end()
  })
})

describe('caches', () => {
  it('a cached protocol name gives each handshake a fresh state: psk handshakes run twice in a row', () => {
    const name = 'Noise_XXpsk3_25519_ChaChaPoly_SHA256'
    for (let round = 0; round < 2; round++) {
      const psk = randomBytes(32)
      const i = new HandshakeState({ protocolName: name, role: 'initiator', staticPrivateKey: randomBytes(32), psks: [psk] })
      const r = new HandshakeState({ protocolName: name, role: 'responder', staticPrivateKey: randomBytes(32), psks: [psk] })
      r.readMessage(i.writeMessage())
      i.readMessage(r.writeMessage())
      r.readMessage(i.writeMessage(Buffer.from('hi')))
      expect(i.isComplete && r.isComplete).toBe(true)
      expect(Buffer.from(i.handshakeHash)).toEqual(Buffer.from(r.handshakeHash))
      // The shared parsed pattern cannot be changed through one handshake state.
      expect(() => (i.pattern.messages as string[][]).push(['e'])).toThrow(TypeError)
    }
  })

  it('an invalid expectedPeerId is refused every time, a valid one is accepted every time', async () => {
    const [x, y] = await tcpPair()
    for (let i = 0; i < 2; i++) {
      await expect(
        secureOutbound(x, { identity: generateKeyPair(), expectedPeerId: 'not-a-peer-id' } as never)
      ).rejects.toMatchObject({ code: 'invalid-argument' })
    }
    x.destroy()
    y.destroy()
    for (let i = 0; i < 2; i++) {
      const [client, server] = await pair()
      client.destroy()
      server.destroy()
    }
  })
})
