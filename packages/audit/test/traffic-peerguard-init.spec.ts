/**
 * The hardened channel's first message as the auditor recognises it (packages/channel/SPEC.md
 * sections 2.1 and 2.6): the 32-byte ephemeral key alone, or followed by a cipher offer of 1..16
 * ids. Anything else of that size is not taken for a peerguard channel.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { isPeerguardChannelInit } from '../src/traffic/detectors/peerguard.js'

function message1(payload: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.alloc(32, 0xab), payload])
  const head = Buffer.alloc(2)
  head.writeUInt16BE(body.length)
  return Buffer.concat([head, body])
}
const offer = (ids: number[]): Uint8Array => Uint8Array.from([0x01, ids.length, ...ids])
const init = (b: Buffer): boolean => isPeerguardChannelInit(b, 0, b.length)

describe('peerguard channel message 1', () => {
  it('the ChaChaPoly-only form (34 bytes) and the offered form (AES-GCM then ChaChaPoly) are recognised', () => {
    expect(init(message1(new Uint8Array(0)))).toBe(true)
    expect(init(message1(offer([0x02, 0x01])))).toBe(true)
    expect(init(message1(offer([0x01])))).toBe(true)
  })

  it('every well-formed offer of 1..16 ids is recognised, also inside a larger buffer', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 16 }), fc.nat(8), (ids, pad) => {
        const m = message1(offer(ids))
        const buf = Buffer.concat([Buffer.alloc(pad), m, Buffer.alloc(3)])
        expect(isPeerguardChannelInit(buf, pad, m.length)).toBe(true)
      })
    )
  })

  it('a wrong offer version, a count that does not match, a length that is not the body, or an IK-sized message is not', () => {
    expect(init(Buffer.concat([message1(offer([0x02, 0x01])).subarray(0, 34), Buffer.from([0x02, 2, 2, 1])]))).toBe(false)
    const m = message1(offer([0x02, 0x01]))
    m[35] = 3
    expect(init(m)).toBe(false)
    expect(init(message1(new Uint8Array(64)))).toBe(false)
    expect(init(message1(offer([0x02])).subarray(0, 36))).toBe(false)
    expect(init(Buffer.from([0x00, 0x20]))).toBe(false)
  })

  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        expect(typeof init(Buffer.from(b))).toBe('boolean')
      })
    )
  })
})
