/**
 * Attacker's review round 3, the channel from the wire: every XX handshake message (1 and 3 from
 * the initiator, 2 from the responder) truncated, extended, bit-flipped or replaced by random
 * bytes on a real loopback relay (fast-check); a message replayed from an earlier session; and
 * an initiator whose bytes are reflected back to it. Neither side may ever produce a channel, and
 * each fails with a typed error, never a crash or a hang until the timeout.
 */
import { type AddressInfo, createServer, type Server } from 'node:net'
import { afterAll, describe, expect, it } from '@jest/globals'
import { createListener, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { isPeerguardError } from '@peerguard/interface'
import { connectTcp, frameProxy, makeTestPki } from '@peerguard/test-utils'
import fc from 'fast-check'

const pki = await makeTestPki({ peers: [{ name: 'alice' }, { name: 'bob' }] })
const alice = pki.peers.alice!
const bob = pki.peers.bob!
/** Generous: a failure must come from the bytes, and a busy machine must not turn it into a timeout. */
const TIMEOUT_MS = 20_000

const listener = createListener({ identity: bob.identity, chain: bob.chain, trust: pki.trust, handshakeTimeoutMs: TIMEOUT_MS })
const accepted: NoiseChannel[] = []
listener.on('channel', (ch: NoiseChannel) => {
  ch.on('error', () => {})
  accepted.push(ch)
})
const serverErrors: unknown[] = []
listener.on('handshakeError', (err: unknown) => serverErrors.push(err))
const { port } = await listener.listen(0)

afterAll(async () => {
  for (const c of accepted) c.destroy()
  await listener.close()
})

const asAlice = { identity: alice.identity, chain: alice.chain, trust: pki.trust, handshakeTimeoutMs: TIMEOUT_MS }

/** The error a dial ends with (or a marker when it produced a channel). */
async function dialError(toPort: number): Promise<unknown> {
  try {
    const ch = await secureOutbound(await connectTcp(toPort), asAlice)
    ch.destroy()
    return new Error('a channel was established')
  } catch (err) {
    return err
  }
}

/** Wait until the listener reported `count` handshake errors in all. */
async function serverErrorCount(count: number): Promise<void> {
  while (serverErrors.length < count) await new Promise((r) => setTimeout(r, 20))
}

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; junk: Uint8Array }
  | { kind: 'random'; bytes: Uint8Array }

/** The frame with its body changed, the 2-byte length header kept consistent. */
function mutate(frame: Buffer, m: Mutation): Buffer {
  let body = Buffer.from(frame.subarray(2))
  if (m.kind === 'flip') body[m.at % body.length] = (body[m.at % body.length] as number) ^ m.mask
  else if (m.kind === 'truncate') body = body.subarray(0, m.keep % body.length)
  else if (m.kind === 'extend') body = Buffer.concat([body, m.junk])
  else body = Buffer.from(m.bytes)
  const head = Buffer.alloc(2)
  head.writeUInt16BE(body.length)
  return Buffer.concat([head, body])
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(2000), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat(2000) }),
  fc.record({ kind: fc.constant('extend' as const), junk: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 200 }) })
)

describe('s3: handshake messages from the wire', () => {
  it('any change to message 1, 2 or 3 fails both sides with typed errors, and no channel opens (fast-check)', async () => {
    const before = accepted.length
    const seed = Number(process.env.PEERGUARD_FC_SEED ?? Date.now() % 2 ** 31)
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 2, 3), mutation, async (message, m) => {
        const errorsBefore = serverErrors.length
        const proxy = await frameProxy({
          targetPort: port,
          // client → server frames: 0 is message 1, 1 is message 3; server → client frame 0 is message 2
          clientToServer: (f, i) => [(message === 1 && i === 0) || (message === 3 && i === 1) ? mutate(f, m) : f],
          serverToClient: (f, i) => [message === 2 && i === 0 ? mutate(f, m) : f]
        })
        try {
          const err = await dialError(proxy.port)
          expect(isPeerguardError(err)).toBe(true)
          expect((err as { code: string }).code).not.toBe('channel-handshake-timeout')
          await serverErrorCount(errorsBefore + 1)
          const serverErr = serverErrors[errorsBefore]
          expect(isPeerguardError(serverErr)).toBe(true)
          expect((serverErr as { code: string }).code).not.toBe('channel-handshake-timeout')
        } finally {
          await proxy.close()
        }
      }),
      { numRuns: 40, seed }
    )
    expect(accepted.length).toBe(before)
  }, 600_000)

  it('message 2 or 3 replayed from an earlier session is refused', async () => {
    // session 1, untouched: record its messages 2 and 3
    let recorded2: Buffer | undefined
    let recorded3: Buffer | undefined
    const recorder = await frameProxy({
      targetPort: port,
      clientToServer: (f, i) => {
        if (i === 1) recorded3 = f
        return [f]
      },
      serverToClient: (f, i) => {
        if (i === 0) recorded2 = f
        return [f]
      }
    })
    const first = await secureOutbound(await connectTcp(recorder.port), asAlice)
    first.destroy()
    await recorder.close()
    expect(recorded2).toBeDefined()
    expect(recorded3).toBeDefined()
    const before = accepted.length

    for (const replay of [2, 3] as const) {
      const errorsBefore = serverErrors.length
      const proxy = await frameProxy({
        targetPort: port,
        clientToServer: (f, i) => [replay === 3 && i === 1 ? (recorded3 as Buffer) : f],
        serverToClient: (f, i) => [replay === 2 && i === 0 ? (recorded2 as Buffer) : f]
      })
      const err = await dialError(proxy.port)
      expect(err).toMatchObject({ code: expect.stringMatching(/^(channel|noise)-/) })
      await serverErrorCount(errorsBefore + 1)
      expect(serverErrors[errorsBefore]).toMatchObject({ code: expect.stringMatching(/^(channel|noise)-/) })
      await proxy.close()
    }
    expect(accepted.length).toBe(before)
  }, 120_000)

  it('an initiator whose own bytes come back (reflection) fails at once with channel-handshake-invalid', async () => {
    const mirror: Server = createServer((s) => {
      s.on('error', () => {})
      s.pipe(s)
    })
    await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve))
    try {
      const err = await dialError((mirror.address() as AddressInfo).port)
      expect(err).toMatchObject({ code: 'channel-handshake-invalid' })
    } finally {
      await new Promise<void>((resolve) => mirror.close(() => resolve()))
    }
  }, 60_000)
})
