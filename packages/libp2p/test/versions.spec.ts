import { describe, expect, it } from '@jest/globals'
import {
  guardHandler,
  libp2pPrivateKeyFromIdentity,
  PeerguardEncrypter,
  peerguardEncrypter,
  peerOf,
  refuseStockNoise,
  SUPPORTED_VERSIONS
} from '@peerguard/libp2p'
import { loadPolicy } from '@peerguard/policy'
import { makeTestPki } from '@peerguard/test-utils'
import { itDuplexPair, memoryLog } from './helpers.js'

const policy = loadPolicy('version: 1\nrules:\n  - { allow: [get], peers: ["*"], resources: ["protocol:/ok/**"] }\n')

describe('supported libp2p versions and runtimes', () => {
  it('names the supported versions when libp2p hands the encrypter something else', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const enc = new PeerguardEncrypter(
      { privateKey: libp2pPrivateKeyFromIdentity(alice.identity) },
      { chain: alice.chain, trust: pki.trust }
    )
    for (const bogus of [{}, { source: [], sink: 1 }, { send: () => true }]) {
      const err = await enc.secureInbound(bogus as never).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string }
      )
      expect(err?.code).toBe('libp2p-unsupported-version')
      expect(err?.message).toContain('libp2p 2.x')
      expect(err?.message).toContain('libp2p 3.x')
    }
    expect(SUPPORTED_VERSIONS).toMatch(/Node 22/)
    // a libp2p 2 duplex is taken (the handshake then runs; aborting it is enough here)
    const [x] = itDuplexPair()
    const controller = new AbortController()
    const pending = enc.secureInbound(x as never, { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: expect.not.stringMatching(/unsupported-version/) })
  })

  it('refuses early, with the fix, on a runtime without Promise.withResolvers (Node 20)', () => {
    const P = Promise as unknown as { withResolvers?: unknown }
    const saved = Object.getOwnPropertyDescriptor(Promise, 'withResolvers')
    delete P.withResolvers
    try {
      expect(() => peerguardEncrypter({ pinnedPeers: ['x'] })).toThrow(
        expect.objectContaining({ code: 'libp2p-unsupported-runtime', message: expect.stringMatching(/Node 22 or later/) })
      )
    } finally {
      if (saved !== undefined) Object.defineProperty(Promise, 'withResolvers', saved)
    }
  })
})

describe('peerOf, guardHandler, refuseStockNoise (units)', () => {
  it('peerOf is undefined for anything peerguard did not secure', () => {
    expect(peerOf(undefined)).toBeUndefined()
    expect(peerOf({})).toBeUndefined()
    expect(peerOf({ maConn: {} })).toBeUndefined()
  })

  it('guardHandler validates its arguments', () => {
    expect(() => guardHandler({} as never, () => {})).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => guardHandler(policy, 'x' as never)).toThrow(/handler: expected/)
    expect(() => guardHandler(policy, () => {}, { log: {} as never })).toThrow(/options.log/)
    expect(() => guardHandler(policy, () => {}, { onRefused: 'x' as never })).toThrow('options.onRefused: expected a function')
  })

  it('guardHandler aborts a stream on a connection peerguard did not secure, logs it, and never runs the handler (libp2p 2 and 3 signatures)', async () => {
    const log = memoryLog()
    let ran = 0
    const guarded = guardHandler(
      policy,
      () => {
        ran++
      },
      { log, onRefused: (error, peer) => refused.push({ error, peer }) }
    )
    const refused: { error: Error; peer: unknown }[] = []
    const aborted: Error[] = []
    const stream = { protocol: '/ok/1', abort: (e: Error) => aborted.push(e) }
    await (guarded as (...a: unknown[]) => Promise<void>)(stream, {}) // libp2p 3
    await (guarded as (...a: unknown[]) => Promise<void>)({ stream, connection: {} }) // libp2p 2
    expect(ran).toBe(0)
    expect(aborted).toHaveLength(2)
    expect(aborted[0]).toMatchObject({ code: 'libp2p-protocol-denied' })
    // onRefused hears of each refusal, with the very error the stream was aborted with
    expect(refused.map((r) => r.error)).toEqual(aborted)
    expect(refused[0]?.peer).toBeUndefined()
    expect(log.records[0]).toMatchObject({
      kind: 'operation',
      allowed: false,
      code: 'libp2p-uncertified-peer',
      resource: 'protocol:/ok/1'
    })
  })

  it('refuseStockNoise refuses with advice and logs the refusal', async () => {
    const log = memoryLog()
    const enc = refuseStockNoise({ log })()
    expect(enc.protocol).toBe('/noise')
    let aborted: Error | undefined
    await expect(enc.secureOutbound({ abort: (e: Error) => (aborted = e) })).rejects.toMatchObject({
      code: 'libp2p-no-common-encrypter',
      message: expect.stringMatching(/peerguardEncrypter\(\).*noise\(\)/s)
    })
    expect(aborted).toBeDefined()
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'libp2p-no-common-encrypter' })
    expect(() => refuseStockNoise({ log: 1 as never })).toThrow(/options.log/)
  })
})
