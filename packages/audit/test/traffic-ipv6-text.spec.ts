// The decoder's IPv6 address-text cache (issue 15): whatever the order and mix of addresses, the
// cached text is exactly ipv6String of the bytes (a stale or colliding slot must never leak).
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { Ipv6TextCache, ipv6String } from '../src/traffic/ipv6-text.js'

const address = fc.uint8Array({ minLength: 16, maxLength: 16 })

describe('Ipv6TextCache', () => {
  it('gives the RFC 5952 text of known addresses', () => {
    const cache = new Ipv6TextCache()
    const loopback = Buffer.alloc(16)
    loopback[15] = 1
    const linkLocal = Buffer.from('fe800000000000000211aafffebbccdd', 'hex')
    for (let i = 0; i < 3; i++) {
      expect(cache.text(loopback, 0)).toBe('::1')
      expect(cache.text(linkLocal, 0)).toBe('fe80::211:aaff:febb:ccdd')
    }
    // At an offset inside a larger buffer, as in a frame.
    expect(cache.text(Buffer.concat([Buffer.alloc(7, 0xff), linkLocal]), 7)).toBe('fe80::211:aaff:febb:ccdd')
  })

  it('always agrees with ipv6String, over repeats, near-duplicates and many distinct addresses', () => {
    // A small pool (repeats hit the cache) plus one-byte variants (same slot or not, never equal).
    const sequence = fc.array(address, { minLength: 1, maxLength: 8 }).chain((pool) =>
      fc
        .array(
          fc.tuple(fc.nat({ max: pool.length - 1 }), fc.option(fc.tuple(fc.nat({ max: 15 }), fc.integer({ min: 1, max: 255 })))),
          { minLength: 1, maxLength: 600 }
        )
        .map((picks) =>
          picks.map(([i, tweak]) => {
            const a = Buffer.from(pool[i] as Uint8Array)
            if (tweak !== null) a[tweak[0]] = ((a[tweak[0]] as number) + tweak[1]) & 255
            return a
          })
        )
    )
    fc.assert(
      fc.property(sequence, (addrs) => {
        const cache = new Ipv6TextCache()
        for (const a of addrs) expect(cache.text(a, 0)).toBe(ipv6String(a, 0))
      }),
      { numRuns: 200 }
    )
  })

  it('does not confuse addresses that differ only in the last byte after a cache fill', () => {
    const cache = new Ipv6TextCache()
    const base = Buffer.from('20010db8000000000000000000000000', 'hex')
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 1024; i++) {
        base.writeUInt16BE(i, 14)
        expect(cache.text(base, 0)).toBe(i === 0 ? '2001:db8::' : `2001:db8::${i.toString(16)}`)
      }
  })
})
