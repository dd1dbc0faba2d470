/**
 * "Throws only our errors" for argument checks across packages: an option that is an object whose
 * `toString` / `valueOf` are not functions (what JSON or YAML, or a confused caller, can hand over)
 * is refused with `invalid-argument` naming its shape. These checks built their message with
 * `String(value)`, which calls into the object and threw a TypeError instead (the class of the
 * policy parser bug CI found, 96e1d9c); they now go through `describeValue`.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { createTrafficAuditor, findingToSyslog } from '@peerguard/audit'
import { HandshakeState } from '@peerguard/channel/noise'
import { encodeKeystore, generateKeyPair } from '@peerguard/identity'
import { describeValue } from '@peerguard/interface'
import { makeTestPki } from '@peerguard/test-utils'
import { encodeProxyV2 } from '@peerguard/proxy'
import { encodeMessage } from '@peerguard/swarm/wire'

/** Objects that break `String()`: `toString` / `valueOf` that are not functions, or functions that throw. */
const hostile = fc.oneof(
  fc.dictionary(fc.constantFrom('toString', 'valueOf'), fc.jsonValue({ maxDepth: 1 }), { minKeys: 1 }),
  fc.constant({ toString: 1, valueOf: 1 }),
  fc.constant(Object.create(null) as object),
  fc.constant({
    toString() {
      throw new Error('called into')
    }
  }),
  fc.constant([{ toString: 1, valueOf: 1 }])
)

async function code(f: () => unknown): Promise<string> {
  try {
    await f()
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? `not ours: ${(err as Error).name}`
  }
}

const finding = {
  code: 'cleartext-credentials',
  severity: 'high',
  title: 't',
  evidence: 'e',
  frames: [1],
  time: 0
} as unknown as Parameters<typeof findingToSyslog>[0]

const alice = generateKeyPair()

const checks: Array<[string, (v: unknown) => unknown]> = [
  ['audit groupWindowSeconds', (v) => createTrafficAuditor({ groupWindowSeconds: v as number })],
  ['audit maxLiveFlows', (v) => createTrafficAuditor({ maxLiveFlows: v as number })],
  ['syslog facility', (v) => findingToSyslog(finding, { facility: v as number })],
  ['noise role', (v) => new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_SHA256', role: v as 'initiator' })],
  [
    'proxy port',
    (v) => encodeProxyV2({ source: { address: '127.0.0.1', port: v as number }, destination: { address: '127.0.0.1', port: 1 } })
  ],
  ['proxy tlv type', (v) => encodeProxyV2({ tlvs: [{ type: v as number, value: new Uint8Array(0) }] })],
  ['swarm message type', (v) => encodeMessage({ type: v } as never)],
  [
    'keystore scrypt.r',
    (v) =>
      encodeKeystore(
        { type: 'ed25519', secret: alice.secretKey.slice(0, 32), publicKey: alice.publicKey },
        { passphrase: 'pass', scrypt: { N: 1024, r: v as number, p: 1 } }
      )
  ]
]

describe('argument checks name a hostile value by its shape', () => {
  it.each(checks)('%s', async (_, check) => {
    await fc.assert(
      fc.asyncProperty(hostile, async (v) => {
        expect(await code(() => check(v))).toBe('invalid-argument')
      }),
      { numRuns: 40, examples: [[{ toString: 1, valueOf: 1 }], [[{ toString: [], valueOf: {} }]]] }
    )
  })

  it('trust store lifetimeFraction', async () => {
    const { trust } = await makeTestPki({ peers: [] })
    expect(await code(() => trust.crlWarnings({ lifetimeFraction: { toString: 1, valueOf: 1 } as never }))).toBe(
      'invalid-argument'
    )
  })

  it('describeValue: primitives as String() writes them, anything else by its shape, never a throw', () => {
    expect([200, 'x', true, null, undefined, 10n].map(describeValue)).toEqual(['200', 'x', 'true', 'null', 'undefined', '10'])
    expect(describeValue({ toString: 1, valueOf: 1 })).toBe('object')
    expect(describeValue([{ toString: 1 }])).toBe('array')
    expect(describeValue(Uint8Array.of(1, 2))).toBe('Uint8Array of length 2')
    fc.assert(fc.property(fc.oneof(fc.anything(), hostile), (v) => typeof describeValue(v) === 'string'))
  })
})
