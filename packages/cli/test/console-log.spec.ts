/**
 * The console log: levels, the JSON Lines fields, the text line, `peerguard: …` operator lines,
 * what a package's logger may put on the console (only known fields), and the option parsers.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { InvalidArgumentError } from '@peerguard/interface'
import { bufferedIO } from '../src/io.js'
import {
  ConsoleLog,
  consoleLogFor,
  type LogLevel,
  loggedIO,
  parseLogFormat,
  parseLogLevel,
  shortPeerId
} from '../src/console-log.js'

const T = Date.UTC(2026, 11, 6, 18, 0, 0, 123)
const clock = { now: () => T }

function capture(options: { level?: LogLevel; format?: 'text' | 'json'; colour?: boolean } = {}): {
  log: ConsoleLog
  lines: string[]
} {
  const lines: string[] = []
  return { log: new ConsoleLog({ write: (l) => lines.push(l), clock, ...options }), lines }
}

describe('ConsoleLog', () => {
  it('writes JSON Lines with the fixed fields, msg last', () => {
    const { log, lines } = capture()
    log.event('info', 'connected', 'accepted alice', {
      service: 'share:docs',
      peer: 'alice',
      peerId: '12D3KooWabcdefghijklmnop',
      addr: '127.0.0.1:5555'
    })
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0] as string)
    expect(line).toEqual({
      ts: '2026-12-06T18:00:00.123Z',
      level: 'info',
      event: 'connected',
      service: 'share:docs',
      peer: 'alice',
      peerId: '12D3KooWabcdefghijklmnop',
      addr: '127.0.0.1:5555',
      msg: 'accepted alice'
    })
    expect(Object.keys(line).at(-1)).toBe('msg')
  })

  it('filters by level: error < warn < info < debug, and the level can change while running', () => {
    const { log, lines } = capture({ level: 'warn' })
    log.event('debug', 'x', 'd')
    log.event('info', 'x', 'i')
    log.event('warn', 'x', 'w')
    log.event('error', 'x', 'e')
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['w', 'e'])
    log.level = 'debug'
    log.event('debug', 'x', 'd2')
    expect(JSON.parse(lines.at(-1) as string).msg).toBe('d2')
    expect(() => {
      log.level = 'loud' as LogLevel
    }).toThrow(InvalidArgumentError)
  })

  it('text: second-precision time, level, service, message; control characters escaped; colour only when asked', () => {
    const { log, lines } = capture({ format: 'text' })
    log.event('info', 'connected', 'accepted al\nice\u001b[2J', { service: 'share:docs' })
    expect(lines).toEqual(['2026-12-06T18:00:00Z info share docs: accepted al\\x0aice\\x1b[2J'])
    const coloured = capture({ format: 'text', colour: true })
    coloured.log.event('warn', 'refused', 'refused bob')
    expect(coloured.lines[0]).toBe('2026-12-06T18:00:00Z \u001b[33mwarn\u001b[0m refused bob')
    const json = capture({ format: 'json', colour: true })
    json.log.event('warn', 'refused', 'x')
    expect(json.lines[0]).not.toContain('\u001b')
  })

  it('operator lines: warning → warn, error → error, reload reports → debug (the reload records say it)', () => {
    const { log, lines } = capture({ level: 'debug' })
    log.notice('peerguard: watching a.pem, b.pem for changes; SIGHUP reloads them')
    log.notice('peerguard: warning: plain mode: anyone can write')
    log.notice('peerguard: error: the node did not stop in time; exiting')
    log.notice('peerguard: reloaded policy (policy sha256 0123456789abcdef…)')
    log.notice('peerguard: warning: reload: new policy rejected (policy-parse-error): bad; keeping the policy in force')
    log.notice('peerguard: warning: reload: config rejected (node-reload-refused): x')
    expect(lines.map((l) => JSON.parse(l)).map((l) => [l.level, l.event, l.msg])).toEqual([
      ['info', 'notice', 'watching a.pem, b.pem for changes; SIGHUP reloads them'],
      ['warn', 'notice', 'plain mode: anyone can write'],
      ['error', 'notice', 'the node did not stop in time; exiting'],
      ['debug', 'notice', 'reloaded policy (policy sha256 0123456789abcdef…)'],
      ['debug', 'reload', 'reload: new policy rejected (policy-parse-error): bad; keeping the policy in force'],
      ['warn', 'reload', 'reload: config rejected (node-reload-refused): x']
    ])
  })

  it('a package logger keeps only known fields: a secret passed along never reaches the console', () => {
    const { log, lines } = capture({ level: 'debug' })
    log.info('swarm connection closed after a re-check', {
      peer: '12D3KooWpeer',
      code: 'cert-revoked',
      passphrase: 'hunter2',
      key: 'c2VjcmV0'
    })
    log.debug('x', { address: '10.0.0.1:1', token: { nested: 'hunter2' } })
    expect(lines.join('\n')).not.toMatch(/hunter2|c2VjcmV0|passphrase|token/)
    expect(JSON.parse(lines[0] as string)).toMatchObject({ event: 'library', peerId: '12D3KooWpeer', code: 'cert-revoked' })
    expect(JSON.parse(lines[1] as string)).toMatchObject({ addr: '10.0.0.1:1', msg: 'x' })
  })

  it('property: every line is one line, JSON parses back to the message, text has no control characters', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.constantFrom<LogLevel>('error', 'warn', 'info', 'debug'), (msg, peer, level) => {
        const j = capture({ level: 'debug' })
        j.log.event(level, 'e', msg, { peer, count: 3 })
        expect(j.lines).toHaveLength(1)
        expect(j.lines[0]).not.toContain('\n')
        expect(JSON.parse(j.lines[0] as string)).toMatchObject({ msg, peer, level, count: 3 })
        const t = capture({ level: 'debug', format: 'text' })
        t.log.event(level, 'e', msg, { service: peer })
        expect(t.lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
      })
    )
  })

  it('rejects bad options with exact messages', () => {
    expect(() => new ConsoleLog({ write: 3 } as never)).toThrow('options.write: expected a function')
    expect(() => parseLogLevel('loud')).toThrow('--log-level: expected error, warn, info or debug, got "loud"')
    expect(() => parseLogLevel(7)).toThrow('--log-level: expected error, warn, info or debug, got number')
    expect(() => parseLogFormat('xml')).toThrow('--log-format: expected text or json, got "xml"')
    expect(parseLogLevel('debug')).toBe('debug')
    expect(parseLogFormat('text')).toBe('text')
  })
})

describe('consoleLogFor and loggedIO', () => {
  it('--log-level wins over -v; -v means debug; the default is info; JSON when not a terminal', () => {
    const io = bufferedIO()
    expect(consoleLogFor(io, {}).level).toBe('info')
    expect(consoleLogFor(io, { verbose: 2 }).level).toBe('debug')
    expect(consoleLogFor(io, { verbose: 1, logLevel: 'error' }).level).toBe('error')
    expect(consoleLogFor(io, {}, 'warn').level).toBe('warn')
    expect(consoleLogFor(io, {}).format).toBe('json')
    expect(consoleLogFor(io, { logFormat: 'text' }).format).toBe('text')
    expect(() => consoleLogFor(io, { logFormat: 'yaml' })).toThrow(InvalidArgumentError)
  })

  it('loggedIO sends stderr lines through the log and leaves stdout alone', () => {
    const io = bufferedIO()
    const log = consoleLogFor(io, { logLevel: 'warn' })
    const lio = loggedIO(io, log)
    lio.out('serving docs')
    lio.err('peerguard: watching x')
    lio.err('peerguard: warning: plain mode')
    expect(io.stdout).toEqual(['serving docs'])
    expect(io.stderr.map((l) => JSON.parse(l).msg)).toEqual(['plain mode'])
  })

  it('shortPeerId keeps short IDs and shortens long ones', () => {
    expect(shortPeerId('abc')).toBe('abc')
    expect(shortPeerId('12D3KooWLongPeerIdentifierXYZ1')).toBe('12D3KooW…XYZ1')
  })
})
