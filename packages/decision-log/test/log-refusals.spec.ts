/**
 * Refusals before authentication are summarised per address and window (issue 11 item 7, last
 * sentence): a flood cannot grow the log by more than `maxAddresses + 1` entries per window.
 */
import { describe, expect, it } from '@jest/globals'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  openDecisionLog,
  OVERFLOW_ADDRESS,
  type RefusalSummaryRecord,
  RefusalSummarizer,
  verifyDecisionLogFile
} from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'

function memorySink(fail = () => false) {
  const records: RefusalSummaryRecord[] = []
  return {
    records,
    append: async (r: RefusalSummaryRecord) => {
      if (fail()) throw Object.assign(new Error('disk full'), { code: 'log-unavailable' })
      records.push(r)
    }
  }
}

function fakeClock(start = Date.parse('2026-12-06T10:00:00Z')) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('RefusalSummarizer', () => {
  it('one record per address and window, with counts per code', async () => {
    const clock = fakeClock()
    const sink = memorySink()
    const s = new RefusalSummarizer(sink, { windowMs: 60_000, clock })
    for (let i = 0; i < 300; i++) s.refused('10.0.0.7', i % 3 === 0 ? 'timeout' : 'channel-handshake-failed')
    s.refused('10.0.0.8', 'certificate-untrusted')
    expect(s.pending).toBe(301)
    await s.flush()
    expect(sink.records).toHaveLength(0) // the window has not ended
    clock.advance(60_000)
    await s.flush()
    expect(sink.records).toHaveLength(2)
    const a = sink.records.find((r) => r.address === '10.0.0.7')
    expect(a).toMatchObject({
      kind: 'refusal-summary',
      count: 300,
      codes: { timeout: 100, 'channel-handshake-failed': 200 },
      code: 'log-refusal-summary',
      since: '2026-12-06T10:00:00.000Z',
      until: '2026-12-06T10:01:00.000Z'
    })
    expect(a?.reason).toMatch(/300 connections refused before authentication/)
    // a new window starts afresh
    s.refused('10.0.0.7', 'timeout')
    await s.close()
    expect(sink.records).toHaveLength(3)
    expect(sink.records[2]).toMatchObject({ address: '10.0.0.7', count: 1 })
    s.refused('10.0.0.7', 'timeout') // after close: ignored
    expect(s.pending).toBe(0)
  })

  it('addresses beyond the cap are counted together under "*": entries per window stay bounded', async () => {
    const clock = fakeClock()
    const sink = memorySink()
    const s = new RefusalSummarizer(sink, { windowMs: 1000, maxAddresses: 16, clock })
    for (let i = 0; i < 5000; i++) s.refused(`10.1.${i >> 8}.${i & 255}`, 'timeout')
    await s.close()
    expect(sink.records).toHaveLength(17)
    const overflow = sink.records.find((r) => r.address === OVERFLOW_ADDRESS)
    expect(overflow?.count).toBe(5000 - 16)
    expect(overflow?.reason).toMatch(/from 4984 addresses beyond the first 16/)
    expect(sink.records.reduce((n, r) => n + r.count, 0)).toBe(5000)
  })

  it('a summary that cannot be written is kept and merged into the next one', async () => {
    const clock = fakeClock()
    let full = true
    const errors: unknown[] = []
    const sink = memorySink(() => full)
    const s = new RefusalSummarizer(sink, { windowMs: 1000, clock, onError: (e) => errors.push(e) })
    for (let i = 0; i < 5; i++) s.refused('10.0.0.1', 'timeout')
    clock.advance(1000)
    await s.flush()
    expect(errors).toHaveLength(1)
    expect(s.pending).toBe(5)
    s.refused('10.0.0.1', 'timeout')
    full = false
    await s.close()
    expect(sink.records).toHaveLength(1)
    expect(sink.records[0]).toMatchObject({ count: 6, since: '2026-12-06T10:00:00.000Z' })
  })

  it('writes through a real DecisionLog: the summary records verify', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-refusals-'))
    const path = join(dir, 'd.jsonl')
    const log = await openDecisionLog({ path, identity: generateKeyPair(), checkpointIntervalMs: 0 })
    const errors: unknown[] = []
    const s = new RefusalSummarizer(log, { windowMs: 50, onError: (e) => errors.push(e) })
    for (let i = 0; i < 1000; i++) s.refused('127.0.0.1', 'timeout')
    await s.close()
    await log.close()
    expect(errors).toEqual([])
    const entries = (await readFile(path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
    expect(entries.filter((e) => e.kind === 'refusal-summary')).toHaveLength(1)
    expect((await verifyDecisionLogFile(path)).ok).toBe(true)
    await rm(dir, { recursive: true })
  })

  it('checks its arguments', () => {
    const sink = memorySink()
    expect(() => new RefusalSummarizer({} as never)).toThrow(/sink: expected/)
    expect(() => new RefusalSummarizer(sink, { windowMs: 0 })).toThrow(/windowMs/)
    expect(() => new RefusalSummarizer(sink, { maxAddresses: 0 })).toThrow(/maxAddresses/)
    const s = new RefusalSummarizer(sink)
    expect(() => s.refused(42 as never, 'x')).toThrow(/address/)
    expect(() => s.refused('1.2.3.4', '')).toThrow(/code/)
    void s.close()
  })

  it('property: every refusal is counted exactly once, in at most maxAddresses + 1 records per window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom('a', 'b', 'c')), { maxLength: 300 }),
        fc.integer({ min: 1, max: 10 }),
        async (events, cap) => {
          const sink = memorySink()
          const s = new RefusalSummarizer(sink, { maxAddresses: cap, clock: fakeClock() })
          for (const [host, code] of events) s.refused(`10.0.0.${host}`, code)
          await s.close()
          expect(sink.records.length).toBeLessThanOrEqual(cap + 1)
          expect(sink.records.reduce((n, r) => n + r.count, 0)).toBe(events.length)
        }
      )
    )
  })
})
