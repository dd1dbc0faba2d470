/**
 * `--json` output (io.json) on a terminal: member-announced strings (`peerguard peers --json`)
 * may hold any character. JSON.stringify leaves DEL, C1 controls and U+2028/2029 raw; io.json
 * escapes them, so the output is still the same JSON and holds no raw C0/C1 control at all.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { bufferedIO, terminalJson } from '../src/io.js'

/** Any raw C0 control other than the newlines of the pretty layout, DEL, C1, U+2028/2029. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/

/** Strings rich in the characters that matter, mixed with any other UTF-16 code units. */
const hostileString = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('\u2028', '\u2029', '\\', '"', '\\u0085', '\u001b[2J', '\u009b31m'),
      fc.string({ unit: 'binary' })
    ),
    { maxLength: 12 }
  )
  .map((parts) => parts.join(''))

const hostileValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 })
  )
})).value

describe('io.json escapes terminal controls', () => {
  it('round-trips any value through JSON.parse, with no raw C0/C1 control or line separator', () => {
    fc.assert(
      fc.property(hostileValue, (value) => {
        const out = terminalJson(value)
        expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(value)))
        expect(RAW_CONTROL.test(out)).toBe(false)
      }),
      { numRuns: 500 }
    )
  })

  it('escapes a member-announced name the way --json prints it', () => {
    const io = bufferedIO()
    const name = 'eve\u009b2J\u0085\u2028\u007f\u001b]0;x\u0007'
    io.json({ peers: [{ name }] })
    const out = io.stdout.join('\n')
    expect(out).toContain('"eve\\u009b2J\\u0085\\u2028\\u007f\\u001b]0;x\\u0007"')
    expect((JSON.parse(out) as { peers: Array<{ name: string }> }).peers[0]?.name).toBe(name)
    // JSON lines (indent 0): one line, the same escapes
    expect(terminalJson({ name: '\u2028\u0085' }, 0)).toBe('{"name":"\\u2028\\u0085"}')
  })
})
