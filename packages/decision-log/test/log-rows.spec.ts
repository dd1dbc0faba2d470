/**
 * `decisionLogRows` reads a log file that may have been written by anyone (that is what the
 * verifier is for): whatever JSON its lines hold, it returns rows (tampered ones marked as such)
 * and never throws. JSON can carry objects whose `toString` / `valueOf` are not functions, which
 * throw a TypeError from anything that calls into them (`String()`, a template, `join`).
 */
import { describe, expect, it } from '@jest/globals'
import { decisionLogRows } from '@peerguard/decision-log'
import fc from 'fast-check'

const KINDS = ['operation', 'outcome', 'connection', 'refusal-summary', 'node', 'reload', 'checkpoint', 'other'] as const
/** Objects that break `String()`: `toString` / `valueOf` that are not functions. */
const hostile = fc.dictionary(fc.constantFrom('toString', 'valueOf', 'id', 'length'), fc.jsonValue({ maxDepth: 2 }), {
  minKeys: 1
})
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostile, fc.array(fc.oneof(hostile, fc.string()), { maxLength: 3 }))
const entry = fc.record(
  {
    v: fc.oneof(fc.constant(1), value),
    seq: fc.oneof(fc.nat({ max: 8 }), value),
    ts: value,
    kind: fc.oneof(fc.constantFrom(...KINDS), value),
    event: fc.oneof(fc.constantFrom('start', 'accepted', 'applied'), value),
    op: value,
    verb: value,
    allowed: value,
    code: value,
    reason: value,
    resource: value,
    to: value,
    peer: fc.oneof(fc.record({ peerId: value, name: value, address: value }), value),
    rule: fc.oneof(fc.record({ id: value }), value),
    decisions: fc.oneof(fc.array(fc.oneof(fc.nat({ max: 8 }), value), { maxLength: 3 }), value),
    services: value,
    count: value,
    mode: value,
    what: value,
    bytes: value,
    sha256: value,
    policySha256: value
  },
  { requiredKeys: ['kind'] }
)

describe('decisionLogRows on hostile lines', () => {
  it('returns rows for any JSON lines, never throws', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), (entries) => {
        const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('')
        const { rows, report } = decisionLogRows(text)
        // no line carries a valid hash: nothing is shown as fact
        if (entries.length > 0) expect(report.ok).toBe(false)
        for (const row of rows) {
          expect(row.integrity).toBe('tampered')
          for (const k of ['op', 'outcome', 'resource', 'code', 'reason', 'ts', 'kind'] as const)
            expect(typeof row[k]).toBe('string')
        }
      }),
      {
        numRuns: 300,
        examples: [
          // a node entry whose services list holds an object without a callable toString: join() threw
          [[{ kind: 'node', event: 'start', services: [{ toString: 1, valueOf: 1 }] }]],
          [[{ kind: 'node', event: 'start', services: [[{ valueOf: [] }]] }]]
        ]
      }
    )
  })

  it('names the services of a node entry, and stands in for one that is not a string', () => {
    const { rows } = decisionLogRows(
      `${JSON.stringify({ kind: 'node', event: 'start', services: ['share', { toString: 1 }] })}\n`
    )
    expect(rows[0]).toMatchObject({ op: 'node-start', resource: 'share,?', integrity: 'tampered' })
  })
})
