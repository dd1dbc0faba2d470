/** The `audit log show` filter parsers: --since and --resource globs (property tests), CSV quoting. */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { globToRegExp, parseSince, rowsToCsv } from '../src/commands/audit-log-show.js'

const name = fc.stringMatching(/^[a-zA-Z0-9._ -]{1,12}$/)

describe('audit log show filters', () => {
  it('a literal glob matches exactly itself', () => {
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), fc.array(name, { minLength: 1, maxLength: 4 }), (a, b) => {
        const path = a.join('/')
        expect(globToRegExp(path).test(path)).toBe(true)
        if (b.join('/') !== path) expect(globToRegExp(path).test(b.join('/'))).toBe(false)
      })
    )
  })

  it('* stays within one name, ** crosses names', () => {
    fc.assert(
      fc.property(name, fc.array(name, { minLength: 1, maxLength: 4 }), (top, rest) => {
        const path = `${top}/${rest.join('/')}`
        expect(globToRegExp(`${top}/**`).test(path)).toBe(true)
        expect(globToRegExp(`${top}/*`).test(path)).toBe(rest.length === 1)
      })
    )
    expect(globToRegExp('a.b').test('axb')).toBe(false)
    expect(() => globToRegExp('')).toThrow('--resource: expected a glob of 1 to 1024 characters')
  })

  it('--since: durations back from now, ISO dates, nothing else', () => {
    const now = Date.parse('2025-06-01T12:00:00Z')
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 999_999 }),
        fc.constantFrom(['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000], ['w', 604_800_000]),
        (n, [u, ms]) => {
          expect(parseSince(`${n}${u}`, now)).toBe(now - n * (ms as number))
        }
      )
    )
    expect(parseSince('2025-05-31', now)).toBe(Date.parse('2025-05-31'))
    expect(parseSince('2025-05-31T10:00:00Z', now)).toBe(Date.parse('2025-05-31T10:00:00Z'))
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        fc.pre(!/^\d{1,6}[smhdw]$/.test(s) && !/^\d{4}-/.test(s))
        expect(() => parseSince(s, now)).toThrow('--since: expected a duration')
      })
    )
  })

  it('CSV quotes commas, quotes, newlines and formula starts', () => {
    const csv = rowsToCsv([
      {
        line: 1,
        seq: 0,
        ts: 't',
        kind: 'outcome',
        op: 'write',
        outcome: 'ok',
        code: 'ok',
        reason: '',
        resource: 'share:a,"b"\n',
        to: '=cmd',
        integrity: 'signed'
      }
    ])
    expect(csv.split('\r\n')[1]).toBe('1,t,,write,"share:a,""b""\n","=cmd",ok,ok,,,,signed')
  })
})
