import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { isPeerguardError } from '@peerguard/interface'
import {
  channelTransport,
  hardenedTransport,
  parseShareAddress,
  parseSharePath,
  policyAuthorizer,
  shareResource
} from '@peerguard/share'
// The wire codec is internal (SPEC.md describes the format); its tests read the source.
import { encodeFrame, type Frame, FrameDecoder, FrameType, MAX_PAYLOAD_BYTES } from '../src/frame.js'

const frameArb = fc.record({
  type: fc.constantFrom(FrameType.REQUEST, FrameType.REPLY, FrameType.DATA, FrameType.END, FrameType.CANCEL),
  id: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 2000 })
})

function throwsOnlyOurs(fn: () => unknown): boolean {
  try {
    fn()
    return true
  } catch (err) {
    return isPeerguardError(err)
  }
}

describe('frame codec', () => {
  it('round-trips any sequence of frames split at any points', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.flatMap((f) => encodeFrame(f.type, f.id, f.payload)))
        const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b)
        const dec = new FrameDecoder()
        const out: Frame[] = []
        let prev = 0
        for (const p of [...points, bytes.length]) {
          out.push(...dec.push(bytes.subarray(prev, p)))
          prev = p
        }
        expect(out.map((f) => ({ type: f.type, id: f.id, payload: new Uint8Array(f.payload) }))).toEqual(frames)
        expect(dec.buffered).toBe(0)
      })
    )
  })

  it('garbage throws only ShareProtocolError (share-protocol-error), never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (g) =>
        throwsOnlyOurs(() => {
          try {
            new FrameDecoder().push(Buffer.from(g))
          } catch (err) {
            expect((err as { code?: string }).code).toBe('share-protocol-error')
            throw err
          }
        })
      )
    )
  })

  it('refuses an oversized frame length before buffering it', () => {
    const head = Buffer.alloc(9)
    head.writeUInt32BE(5 + MAX_PAYLOAD_BYTES + 1, 0)
    expect(() => new FrameDecoder().push(head)).toThrow(/out of range/)
    expect(() => encodeFrame(FrameType.DATA, 1, new Uint8Array(MAX_PAYLOAD_BYTES + 1))).toThrow(/exceeds/)
  })
})

describe('share paths', () => {
  it('a path that parses never escapes: no "..", no empty, no "/", no NUL, no reserved names', () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '', 'a', '.pgtmp-x', 'C:', '\\', '\0', 'b c', 'é'),
      fc.string({ maxLength: 8 })
    )
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), fc.boolean(), (segs, lead) => {
        const path = (lead ? '/' : '') + segs.join('/')
        let names: string[]
        try {
          names = parseSharePath(path)
        } catch (err) {
          return isPeerguardError(err)
        }
        return names.every(
          (n) =>
            n !== '..' &&
            n !== '.' &&
            n !== '' &&
            !n.includes('/') &&
            !n.includes('\0') &&
            !n.includes('\\') &&
            !n.startsWith('.pgtmp-')
        )
      })
    )
  })

  it('throws only our errors for any input', () => {
    fc.assert(fc.property(fc.anything(), (v) => throwsOnlyOurs(() => parseSharePath(v))))
    fc.assert(fc.property(fc.string({ maxLength: 5000 }), (v) => throwsOnlyOurs(() => parseSharePath(v))))
  })

  it('normalises . and empty segments', () => {
    expect(parseSharePath('a//./b/')).toEqual(['a', 'b'])
    expect(parseSharePath('')).toEqual([])
    expect(shareResource('docs', '')).toBe('share:docs')
    expect(shareResource('docs', 'a/b')).toBe('share:docs/a/b')
  })
})

describe('argument checks', () => {
  it('rejects wrong types and shapes with invalid-argument', () => {
    const bad: Array<() => unknown> = [
      () => parseShareAddress('host'),
      () => parseShareAddress('host:99999'),
      () => parseShareAddress(42 as never),
      () => policyAuthorizer(null as never),
      () => policyAuthorizer({} as never),
      () => hardenedTransport({ inbound: 1, outbound: 2 } as never),
      () => hardenedTransport(null as never),
      () => channelTransport({ identity: {}, chain: [], trust: {} } as never),
      () => channelTransport(undefined as never),
      () => shareResource('', 'x')
    ]
    for (const f of bad) {
      let err: unknown
      try {
        f()
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'invalid-argument' })
    }
    expect(parseShareAddress('[::1]:4455')).toEqual({ host: '::1', port: 4455 })
  })
})
