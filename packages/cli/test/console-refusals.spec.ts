/**
 * Refusal grouping on the console, with hand-driven timers: the first refusal in full, then one
 * summary per key and window, the window doubling up to its ceiling; a quiet window ends the
 * group; the counts add up to the refusals; too many keys share one group.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { ConsoleLog } from '../src/console-log.js'
import { OVERFLOW_KEY, RefusalGroups } from '../src/console-refusals.js'

interface Timer {
  fn: () => void
  ms: number
  cleared: boolean
}

function setup(options: { windowMs?: number; maxWindowMs?: number; maxKeys?: number } = {}) {
  const lines: Array<Record<string, unknown>> = []
  const log = new ConsoleLog({ write: (l) => lines.push(JSON.parse(l)) })
  const timers: Timer[] = []
  const groups = new RefusalGroups(log, {
    ...options,
    timers: {
      set: (fn, ms) => {
        const t = { fn, ms, cleared: false }
        timers.push(t)
        return t
      },
      clear: (h) => {
        ;(h as Timer).cleared = true
      }
    }
  })
  /** Fire the pending timers (one window ends for every group). */
  const tick = (): number[] => {
    const due = timers.splice(0).filter((t) => !t.cleared)
    for (const t of due) t.fn()
    return due.map((t) => t.ms)
  }
  const total = (): number =>
    lines.filter((l) => l.event === 'refused' || l.event === 'refused-summary').reduce((n, l) => n + (l.count as number), 0)
  return { lines, groups, tick, total }
}

const bob = { service: 'share:docs', addr: '127.0.0.1:40000', group: '127.0.0.1', code: 'channel-handshake-failed' }

describe('RefusalGroups', () => {
  it('logs the first refusal, then one summary per window; windows double up to the ceiling', () => {
    const { lines, groups, tick, total } = setup({ windowMs: 10_000, maxWindowMs: 40_000 })
    for (let i = 0; i < 4312; i++) groups.refused('k', bob)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ event: 'refused', level: 'warn', addr: '127.0.0.1:40000', count: 1 })
    const windows: number[] = []
    windows.push(...tick())
    expect(lines[1]).toMatchObject({ event: 'refused-summary', count: 4311, windowS: 10, addr: '127.0.0.1' })
    expect(lines[1]?.msg).toBe('refused 127.0.0.1 4,311 more times in the last 10 s (channel-handshake-failed ×4,311)')
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 100; i++) groups.refused('k', { ...bob, code: i % 2 === 0 ? 'a' : 'b' })
      windows.push(...tick())
    }
    expect(windows).toEqual([10_000, 20_000, 40_000, 40_000, 40_000])
    expect(lines.map((l) => l.windowS)).toEqual([undefined, 10, 20, 40, 40, 40])
    expect(lines.at(-1)).toMatchObject({ code: 'a,b', count: 100 })
    expect(total()).toBe(4312 + 400)
  })

  it('a quiet window ends the group: the next refusal is written in full again', () => {
    const { lines, groups, tick } = setup()
    groups.refused('k', bob)
    tick() // nothing more in the window: no summary, the group ends
    expect(groups.size).toBe(0)
    groups.refused('k', bob)
    expect(lines.map((l) => l.event)).toEqual(['refused', 'refused'])
  })

  it('close() writes the open counts and stops', () => {
    const { groups, total } = setup()
    for (let i = 0; i < 5; i++) groups.refused('k', bob)
    groups.refused('other', { ...bob, addr: '10.0.0.2:1', group: '10.0.0.2' })
    groups.close()
    expect(total()).toBe(6)
    groups.refused('k', bob)
    expect(total()).toBe(6)
  })

  it('keys beyond maxKeys are counted together under *', () => {
    const { lines, groups, total } = setup({ maxKeys: 2 })
    for (let i = 0; i < 50; i++) groups.refused(`host-${i}`, { ...bob, addr: `10.0.0.${i}:1`, group: `10.0.0.${i}` })
    expect(groups.size).toBe(3)
    expect(lines).toHaveLength(3)
    expect(lines[2]).toMatchObject({ addr: OVERFLOW_KEY })
    groups.close()
    expect(total()).toBe(50)
  })

  it('property: however refusals and window ends interleave, the lines add up and stay few', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('tick' as const), fc.integer({ min: 0, max: 3 })), { maxLength: 300 }),
        (steps) => {
          const { lines, groups, tick, total } = setup({ windowMs: 10, maxWindowMs: 80 })
          let refused = 0
          let ticks = 0
          for (const s of steps) {
            if (s === 'tick') {
              tick()
              ticks++
            } else {
              groups.refused(`k${s}`, bob)
              refused++
            }
          }
          groups.close()
          expect(total()).toBe(refused)
          // per key: at most one first line per window and one summary per window, plus the close
          expect(lines.length).toBeLessThanOrEqual(4 * (2 * ticks + 2))
        }
      )
    )
  })

  it('rejects bad options', () => {
    const log = new ConsoleLog({ write: () => {} })
    expect(() => new RefusalGroups(log, { windowMs: 0 })).toThrow(/windowMs/)
    expect(() => new RefusalGroups(log, { windowMs: 100, maxWindowMs: 50 })).toThrow(/maxWindowMs/)
    expect(() => new RefusalGroups(null as never)).toThrow('log: expected a ConsoleLog')
  })
})
