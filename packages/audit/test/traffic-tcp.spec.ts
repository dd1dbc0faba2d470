/** TCP reassembly: retransmission, overlap, out-of-order segments and gaps (property-tested). */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { TcpStream } from '../src/traffic/tcp-stream.js'

function collector(): {
  rx: { bytes(b: Buffer, o: number, l: number): void; gap(n: number): void }
  out: Buffer[]
  gaps: number[]
} {
  const out: Buffer[] = []
  const gaps: number[] = []
  return { out, gaps, rx: { bytes: (b, o, l) => out.push(Buffer.from(b.subarray(o, o + l))), gap: (n) => gaps.push(n) } }
}

describe('TcpStream', () => {
  it('delivers in-order data without copying and drops retransmissions', () => {
    const s = new TcpStream()
    const { rx, out } = collector()
    s.syn(999)
    s.segment(1000, Buffer.from('hello '), 0, 6, 6, 1, rx)
    s.segment(1000, Buffer.from('hello '), 0, 6, 6, 2, rx)
    s.segment(1006, Buffer.from('world'), 0, 5, 5, 3, rx)
    expect(Buffer.concat(out).toString()).toBe('hello world')
    expect(s.retransmitted).toBe(1)
  })

  it('keeps the first bytes on overlap and delivers only the new tail', () => {
    const s = new TcpStream()
    const { rx, out } = collector()
    s.segment(0, Buffer.from('abcdef'), 0, 6, 6, 1, rx)
    s.segment(3, Buffer.from('XYZghi'), 0, 6, 6, 2, rx)
    expect(Buffer.concat(out).toString()).toBe('abcdefghi')
  })

  it('holds out-of-order segments until the hole fills', () => {
    const s = new TcpStream()
    const { rx, out } = collector()
    s.segment(100, Buffer.from('one'), 0, 3, 3, 1, rx)
    s.segment(106, Buffer.from('three'), 0, 5, 5, 2, rx)
    expect(Buffer.concat(out).toString()).toBe('one')
    s.segment(103, Buffer.from('two'), 0, 3, 3, 3, rx)
    expect(Buffer.concat(out).toString()).toBe('onetwothree')
  })

  it('declares a gap when a hole never fills, then goes on', () => {
    const s = new TcpStream()
    const { rx, out, gaps } = collector()
    s.segment(0, Buffer.from('aa'), 0, 2, 2, 1, rx)
    s.segment(10, Buffer.from('bb'), 0, 2, 2, 2, rx)
    s.flush(rx)
    expect(Buffer.concat(out).toString()).toBe('aabb')
    expect(gaps).toEqual([8])
  })

  it('handles sequence numbers wrapping at 2^32', () => {
    const s = new TcpStream()
    const { rx, out } = collector()
    s.segment(0xfffffffe, Buffer.from('wr'), 0, 2, 2, 1, rx)
    s.segment(2, Buffer.from('ap!'), 0, 3, 3, 3, rx)
    s.segment(0, Buffer.from('ap'), 0, 2, 2, 2, rx)
    expect(Buffer.concat(out).toString()).toBe('wrapap!')
  })

  it('reassembles any segmentation, order and duplication of a stream to the original bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.nat(), { maxLength: 60 }),
        (bytes, cuts, isn, shuffle) => {
          const data = Buffer.from(bytes)
          const segs: { seq: number; off: number; len: number }[] = []
          let off = 0
          let i = 0
          while (off < data.length) {
            const len = Math.min(cuts[i++ % cuts.length]!, data.length - off)
            segs.push({ seq: (isn + 1 + off) >>> 0, off, len })
            off += len
          }
          // Reorder (never the first segment, which fixes where the stream starts) and duplicate some.
          const rest = segs.slice(1)
          for (let k = 0; k < shuffle.length && rest.length > 1; k++) {
            const a = shuffle[k]! % rest.length
            const b = (shuffle[k]! >> 3) % rest.length
            ;[rest[a], rest[b]] = [rest[b]!, rest[a]!]
            if (shuffle[k]! % 5 === 0) rest.push(rest[a]!)
          }
          const s = new TcpStream()
          const { rx, out, gaps } = collector()
          s.syn(isn)
          for (const g of [segs[0]!, ...rest]) s.segment(g.seq, data, g.off, g.len, g.len, 1, rx)
          s.flush(rx)
          expect(gaps).toEqual([])
          expect(Buffer.concat(out).equals(data)).toBe(true)
        }
      ),
      { numRuns: 300 }
    )
  })
})
