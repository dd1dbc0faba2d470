/** ChunkQueue against a reference (one concatenated buffer): any chunking, any peek/take sequence. */
import { describe, expect, it } from '@jest/globals'
import { ChunkQueue } from '@peerguard/interface'
import fc from 'fast-check'

describe('ChunkQueue', () => {
  it('peek and take give the bytes a single buffer would, however the stream was cut', () => {
    const op = fc.oneof(
      fc.record({ push: fc.uint8Array({ maxLength: 64 }) }),
      fc.record({ peek: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ take: fc.integer({ min: 1, max: 200 }) })
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const q = new ChunkQueue()
        let model = Buffer.alloc(0)
        for (const o of ops) {
          if ('push' in o) {
            q.push(Buffer.from(o.push))
            model = Buffer.concat([model, o.push])
          } else if ('peek' in o) {
            if (o.peek > model.length) continue
            const got = q.peek(o.peek)
            expect(got.length).toBeGreaterThanOrEqual(o.peek)
            expect(got.subarray(0, o.peek).equals(model.subarray(0, o.peek))).toBe(true)
          } else {
            if (o.take > model.length) continue
            const got = q.take(o.take)
            expect(got.equals(model.subarray(0, o.take))).toBe(true)
            model = model.subarray(o.take)
          }
          expect(q.buffered).toBe(model.length)
        }
      }),
      { numRuns: 500 }
    )
  })

  it('a message inside one chunk is a view of it; one across chunks is a copy that later pushes do not change', () => {
    const q = new ChunkQueue()
    const a = Buffer.from('abcdef')
    q.push(a)
    const view = q.take(3)
    expect(view.buffer).toBe(a.buffer)
    q.push(Buffer.from('gh'))
    const joined = q.take(4)
    expect(joined.toString()).toBe('defg')
    q.push(Buffer.from('ij'))
    expect(joined.toString()).toBe('defg')
    expect(q.take(3).toString()).toBe('hij')
    expect(q.buffered).toBe(0)
  })

  it('refuses what is not a Buffer, and counts beyond what it holds, with invalid-argument', () => {
    const q = new ChunkQueue()
    q.push(Buffer.from('abc'))
    for (const bad of ['abc', new Uint16Array(2), null, 7])
      expect(() => q.push(bad as unknown as Buffer)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    for (const n of [0, -1, 4, 1.5, Number.NaN, '2'])
      for (const f of [() => q.peek(n as number), () => q.take(n as number)])
        expect(f).toThrow(expect.objectContaining({ code: 'invalid-argument', message: expect.stringContaining('1..3') }))
    expect(q.take(3).toString()).toBe('abc')
  })
})
