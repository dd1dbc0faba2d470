import { createHash, randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { afterEach as AfterEach, describe as Describe, expect as Expect, it as It } from '@jest/globals'
import type { SecureChannel } from '@peerguard/interface'

/** The peer a side expects to see at the other end. */
export interface ExpectedPeer {
  readonly peerId: string
  readonly name?: string
  readonly groups?: readonly string[]
}

/** Two connected channels over real sockets. */
export interface ConnectedChannels {
  readonly client: SecureChannel
  readonly server: SecureChannel
  /** Who the client should see (the server's identity), and who the server should see. */
  readonly serverPeer: ExpectedPeer
  readonly clientPeer: ExpectedPeer
  /** Release sockets and listeners. */
  close(): Promise<void>
}

/** What a SecureChannel implementation gives the compliance suite. */
export interface SecureChannelFactory {
  /** Connect a client to a server, each with a valid certificate, the client pinning the server. */
  connect(): Promise<ConnectedChannels>
  /**
   * Connect the same client (pinning the real server) to a man in the middle that holds a valid
   * certificate of the same CA for ANOTHER peer. Must resolve to the error the client got (and the
   * number of application bytes the MITM received, which must be 0).
   */
  connectToImpostor(): Promise<{ error: unknown; bytesSeenByImpostor: number }>
}

/**
 * Jest's functions, taken from the globals Jest injects when the suite is registered, so that
 * importing @peerguard/test-utils outside Jest (benchmarks, scripts) does not load Jest.
 */
interface JestGlobals {
  afterEach: typeof AfterEach
  describe: typeof Describe
  expect: typeof Expect
  it: typeof It
}
function jest(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>
  if (
    typeof g.describe !== 'function' ||
    typeof g.it !== 'function' ||
    typeof g.expect !== 'function' ||
    typeof g.afterEach !== 'function'
  ) {
    throw new Error('runSecureChannelCompliance must be called inside a Jest test file')
  }
  return g as JestGlobals
}

/** A small seeded PRNG (mulberry32) so a failing run can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Write `count` chunks of random sizes (1 byte .. 96 KiB, mostly small) with backpressure; returns their hash and length. */
async function pump(stream: Duplex, count: number, seed: number): Promise<{ sha256: string; bytes: number }> {
  const rnd = prng(seed)
  const h = createHash('sha256')
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const r = rnd()
    const size =
      r < 0.9 ? 1 + Math.floor(rnd() * 2048) : r < 0.99 ? 2048 + Math.floor(rnd() * 30000) : 60000 + Math.floor(rnd() * 38000)
    const chunk = randomBytes(size)
    h.update(chunk)
    bytes += size
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve))
  }
  stream.end()
  return { sha256: h.digest('hex'), bytes }
}

/** Read to the end; the hash and length of everything read. */
function drain(stream: Duplex): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    let bytes = 0
    stream.on('data', (c: Buffer) => {
      h.update(c)
      bytes += c.length
    })
    stream.once('end', () => resolve({ sha256: h.digest('hex'), bytes }))
    stream.once('error', reject)
  })
}

function checkPeer(seen: SecureChannel['remotePeer'], expected: ExpectedPeer): void {
  const { expect } = jest()
  expect(seen.peerId).toBe(expected.peerId)
  expect(seen.publicKey).toBeInstanceOf(Uint8Array)
  expect(seen.publicKey.length).toBe(32)
  if (expected.name !== undefined) expect(seen.name).toBe(expected.name)
  if (expected.groups !== undefined) expect([...seen.groups].sort()).toEqual([...expected.groups].sort())
  expect(seen.certificate).toBeInstanceOf(Uint8Array)
}

/**
 * The SecureChannel compliance suite: registers Jest `describe`/`it` blocks that every channel
 * implementation (the Noise channel now, a TLS channel later) must pass over real sockets:
 * remote-peer info on both sides, 10,000 random-sized chunks both ways at once, half-close in
 * each direction, errors surfacing on destroy, and refusal of a man in the middle.
 */
export function runSecureChannelCompliance(name: string, factory: SecureChannelFactory, options: { chunks?: number } = {}): void {
  const chunks = options.chunks ?? 10_000
  const { afterEach, describe, expect, it } = jest()
  describe(`SecureChannel compliance: ${name}`, () => {
    let open: ConnectedChannels | undefined
    afterEach(async () => {
      await open?.close()
      open = undefined
    })

    it('tells each side who the other is (peer ID, key, name, groups, certificate)', async () => {
      open = await factory.connect()
      checkPeer(open.client.remotePeer, open.serverPeer)
      checkPeer(open.server.remotePeer, open.clientPeer)
    })

    it(`carries ${chunks} random-sized chunks both ways at once, byte for byte`, async () => {
      open = await factory.connect()
      const { client, server } = open
      const [sent1, sent2, got1, got2] = await Promise.all([
        pump(client, chunks, 1),
        pump(server, chunks, 2),
        drain(server),
        drain(client)
      ])
      expect(got1).toEqual(sent1)
      expect(got2).toEqual(sent2)
      expect(sent1.bytes).toBeGreaterThan(chunks)
    }, 120_000)

    it('half-closes: the client ends, the server still answers, then ends', async () => {
      open = await factory.connect()
      const { client, server } = open
      const request = Buffer.from('GET /file\n')
      const clientRead = drain(client)
      client.end(request)
      const received: Buffer[] = []
      server.on('data', (c: Buffer) => received.push(c))
      await new Promise<void>((resolve) => server.once('end', resolve))
      expect(Buffer.concat(received).toString()).toBe(request.toString())
      const answer = Buffer.alloc(200_000, 7)
      server.end(answer)
      const got = await clientRead
      expect(got.bytes).toBe(answer.length)
      expect(got.sha256).toBe(createHash('sha256').update(answer).digest('hex'))
    })

    it('half-closes the other way: the server ends first, the client keeps writing', async () => {
      open = await factory.connect()
      const { client, server } = open
      const serverRead = drain(server)
      server.end(Buffer.from('bye'))
      const got = await drain(client)
      expect(got.bytes).toBe(3)
      client.end(Buffer.alloc(70_000, 1))
      expect((await serverRead).bytes).toBe(70_000)
    })

    it('surfaces the loss of the other side as an error or close, never as a clean end of data', async () => {
      open = await factory.connect()
      const { client, server } = open
      const outcome = new Promise<string>((resolve) => {
        client.once('error', () => resolve('error'))
        client.once('end', () => resolve('end'))
        client.once('close', () => resolve('close'))
      })
      client.resume()
      server.destroy()
      expect(await outcome).not.toBe('end')
    })

    it('refuses a man in the middle that has a valid certificate for another peer', async () => {
      const { error, bytesSeenByImpostor } = await factory.connectToImpostor()
      expect(error).toBeInstanceOf(Error)
      expect(typeof (error as { code?: unknown }).code).toBe('string')
      expect(bytesSeenByImpostor).toBe(0)
    })
  })
}
