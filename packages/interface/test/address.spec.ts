import { describe, expect, it } from '@jest/globals'
import { hostOfAddress } from '@peerguard/interface'
import fc from 'fast-check'

describe('hostOfAddress', () => {
  it('drops the port and IPv6 brackets; undefined is unknown', () => {
    expect(hostOfAddress('127.0.0.1:5555')).toBe('127.0.0.1')
    expect(hostOfAddress('[::1]:5555')).toBe('::1')
    expect(hostOfAddress('::1:5555')).toBe('::1')
    expect(hostOfAddress('[fe80::1%eth0]:7')).toBe('fe80::1%eth0')
    expect(hostOfAddress('nas.local')).toBe('nas.local')
    expect(hostOfAddress('nas.local:')).toBe('nas.local:')
    expect(hostOfAddress('nas:http')).toBe('nas:http')
    expect(hostOfAddress(':5555')).toBe(':5555')
    expect(hostOfAddress(undefined)).toBe('unknown')
  })

  it('host:port of any host gives the host back (no brackets), at most 256 characters, never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.integer({ min: 0, max: 65535 }), (host, port) => {
        fc.pre(host.length > 0 && !/^\[.*\]$/.test(host))
        expect(hostOfAddress(`${host}:${port}`)).toBe(host.slice(0, 256))
        expect(hostOfAddress(`[${host}]:${port}`)).toBe(host.slice(0, 256))
      })
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 1000 }), (text) => {
        expect(hostOfAddress(text).length).toBeLessThanOrEqual(256)
      })
    )
  })
})
