/**
 * The console log of the long-running commands (`peerguard node`, `share serve`, `proxy server`,
 * `swarm seed`): levels error/warn/info/debug, one line per event, human-readable text on a
 * terminal and JSON Lines otherwise (journald takes either; no colours unless a terminal). The
 * field names of a JSON line are fixed and documented in the cli README; only those fields are
 * ever written, so a value a library passes along (or a secret) cannot slip into the console.
 */
import { type Clock, InvalidArgumentError, type Logger, systemClock } from '@peerguard/interface'
import { type CliIO, terminalJson } from './io.js'

/** Levels, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = 'text' | 'json'

/** The fields a console line may carry besides ts, level, event and msg (the README lists them). */
export interface LogFields {
  /** `share:docs`, `proxy:echo`, `swarm:dataset`, `node`. */
  service?: string
  /** The peer's name from its certificate. */
  peer?: string
  peerId?: string
  /** Remote address, `host:port` (or a host for grouped refusals). */
  addr?: string
  /** Refusal or error code (`deny-default`, `channel-handshake-failed`, …), or `ok`. */
  code?: string
  reason?: string
  bytesIn?: number
  bytesOut?: number
  durationMs?: number
  /** Refusals a summary line stands for. */
  count?: number
  /** The window a summary covers, seconds. */
  windowS?: number
  policySha256?: string
  /** What a reload touched (`policy,trust`), or the operation (`read`, `write`, …). */
  what?: string
  path?: string
}

const FIELDS: ReadonlyArray<keyof LogFields> = [
  'service',
  'peer',
  'peerId',
  'addr',
  'code',
  'reason',
  'bytesIn',
  'bytesOut',
  'durationMs',
  'count',
  'windowS',
  'policySha256',
  'what',
  'path'
]

const COLOURS: Record<LogLevel, string> = { error: '\u001b[31m', warn: '\u001b[33m', info: '\u001b[32m', debug: '\u001b[90m' }

/** Control characters (a peer name from a certificate is not trusted) shown as \xNN on a terminal. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
/** `s` with every control character (C0, DEL, C1, line/paragraph separators) written as `\xNN`/`\uNNNN`. */
export const visible = (s: string): string =>
  s.replace(CONTROL, (c) => {
    const n = c.charCodeAt(0)
    return n > 0xff ? `\\u${n.toString(16)}` : `\\x${n.toString(16).padStart(2, '0')}`
  })

/** `12D3KooWAbc…wxyz`: enough of a peer ID to tell peers apart on a console line. */
export function shortPeerId(peerId: string): string {
  return peerId.length <= 16 ? peerId : `${peerId.slice(0, 8)}…${peerId.slice(-4)}`
}

/** Parse `--log-level`. */
export function parseLogLevel(value: unknown, what = '--log-level'): LogLevel {
  if (typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel
  throw new InvalidArgumentError(
    `${what}: expected error, warn, info or debug, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`
  )
}

/** Parse `--log-format`. */
export function parseLogFormat(value: unknown): LogFormat {
  if (value === 'text' || value === 'json') return value
  throw new InvalidArgumentError(
    `--log-format: expected text or json, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`
  )
}

export interface ConsoleLogOptions {
  /** One finished line (no newline). */
  write: (line: string) => void
  /** Default info. */
  level?: LogLevel
  /** Default json. */
  format?: LogFormat
  /** Colour the level word (text format only). Default false. */
  colour?: boolean
  clock?: Clock
}

/** One console log; also a `Logger` for the packages (their messages become `library` lines). */
export class ConsoleLog implements Logger {
  readonly format: LogFormat
  #level: LogLevel
  readonly #write: (line: string) => void
  readonly #colour: boolean
  readonly #clock: Clock

  constructor(options: ConsoleLogOptions) {
    if (typeof options !== 'object' || options === null || typeof options.write !== 'function')
      throw new InvalidArgumentError('options.write: expected a function')
    this.#write = options.write
    this.#level = options.level === undefined ? 'info' : parseLogLevel(options.level, 'options.level')
    this.format = options.format === undefined ? 'json' : parseLogFormat(options.format)
    this.#colour = options.colour === true && this.format === 'text'
    this.#clock = options.clock ?? systemClock
  }

  get level(): LogLevel {
    return this.#level
  }

  /** Change the level while running (a reloaded config). */
  set level(level: LogLevel) {
    this.#level = parseLogLevel(level, 'level')
  }

  /** Would a line at `level` be written? */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(this.#level)
  }

  /** Write one line: `event` names what happened, `msg` says it for people. */
  event(level: LogLevel, event: string, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return
    const now = new Date(this.#clock.now()).toISOString()
    if (this.format === 'json') {
      const line: Record<string, unknown> = { ts: now, level, event }
      for (const k of FIELDS) {
        const v = fields[k]
        if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) line[k] = v
      }
      line.msg = msg
      // one line, DEL, C1 (0x9b is CSI on some terminals) and U+2028/9 escaped like every --json output
      this.#write(terminalJson(line, 0))
      return
    }
    const lvl = this.#colour ? `${COLOURS[level]}${level}\u001b[0m` : level
    const where = fields.service === undefined ? '' : `${fields.service.replace(':', ' ')}: `
    this.#write(`${now.replace(/\.\d{3}Z$/, 'Z')} ${lvl} ${visible(`${where}${msg}`)}`)
  }

  /**
   * A `peerguard: …` operator line (what commands print to stderr): `peerguard: warning: x` becomes
   * a warn line `x`, `peerguard: error: x` an error line; `reload: …` lines are `reload` events.
   * LiveConfig's reload reports are debug: ServiceConsole.reloads() says the same with the hash.
   */
  notice(line: string): void {
    const text = line.replace(/^peerguard: /, '')
    const m = /^(warning|error|hint): /.exec(text)
    const level: LogLevel = m?.[1] === 'error' ? 'error' : m?.[1] === 'warning' ? 'warn' : 'info'
    const msg = m?.[1] === 'hint' ? text : text.slice(m?.[0].length ?? 0)
    const reloadReport = /^(reloaded |reload: new )/.test(msg)
    this.event(reloadReport ? 'debug' : level, /^reload: /.test(msg) ? 'reload' : 'notice', msg)
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.#library('debug', message, fields)
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.#library('info', message, fields)
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.#library('warn', message, fields)
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.#library('error', message, fields)
  }

  /** A package's message: its known fields are kept (peer → peerId, address → addr), the rest dropped. */
  #library(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
    const f: LogFields = {}
    const peerId = str(fields.peer) ?? str(fields.peerId)
    const addr = str(fields.address)
    const code = str(fields.code)
    if (peerId !== undefined) f.peerId = peerId
    if (addr !== undefined) f.addr = addr
    if (code !== undefined) f.code = code
    this.event(level, 'library', `${message}${code === undefined ? '' : ` (${code})`}`, f)
  }
}

/** What the global options say about the console log. */
export interface ConsoleLogFlags {
  logLevel?: string
  logFormat?: string
  /** `-v` count. */
  verbose?: number
}

/**
 * The console log of a command: `--log-level` (else `-v` → debug, else `configLevel`, else info),
 * `--log-format` (else text when stdout and stderr are terminals, JSON Lines otherwise); lines go
 * to `io.err`.
 */
export function consoleLogFor(io: CliIO, flags: ConsoleLogFlags, configLevel?: LogLevel): ConsoleLog {
  const level =
    flags.logLevel !== undefined ? parseLogLevel(flags.logLevel) : (flags.verbose ?? 0) > 0 ? 'debug' : (configLevel ?? 'info')
  const tty = io.isTTY && process.stderr.isTTY === true
  const format = flags.logFormat !== undefined ? parseLogFormat(flags.logFormat) : tty ? 'text' : 'json'
  return new ConsoleLog({
    write: (line) => io.err(line),
    level,
    format,
    colour: tty && process.env.NO_COLOR === undefined
  })
}

/** `io` with its stderr lines (`peerguard: …`) going through `log`; stdout is unchanged. */
export function loggedIO(io: CliIO, log: ConsoleLog): CliIO {
  return { ...io, err: (line) => log.notice(line) }
}
