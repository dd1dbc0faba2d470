/**
 * Refusals on the console, grouped and backed off: the first refusal of a key (one peer, or one
 * address before authentication) is written in full, then at most one summary line per key and
 * window ("refused 4,312 times in the last 10 s"), the window doubling up to a ceiling while the
 * refusals go on. A quiet window ends the group: the next refusal is written in full again. A
 * client retrying in a loop therefore costs a handful of lines, and the counts add up: the first
 * line plus the summaries' counts is the number of refusals.
 *
 * This is the console's grouping; the decision log has its own (RefusalSummarizer, per address
 * and fixed window, records not lines).
 */
import { assertInteger, type Clock, InvalidArgumentError, systemClock } from '@peerguard/interface'
import { type ConsoleLog, type LogFields, shortPeerId } from './console-log.js'

/** Default first window, ms (10 s). */
export const REFUSAL_WINDOW_MS = 10_000
/** Default ceiling of the doubling window, ms (5 min). */
export const REFUSAL_MAX_WINDOW_MS = 300_000
/** `*`: the group for keys beyond `maxKeys`. */
export const OVERFLOW_KEY = '*'

/** One refusal as the console shows it. */
export interface ConsoleRefusal extends LogFields {
  readonly code: string
  readonly reason?: string
  /** The address summaries name (a host, without port), when the group is an address. Default `addr`. */
  readonly group?: string
}

export interface RefusalGroupsOptions {
  /** First window, ms. Default 10000. */
  windowMs?: number
  /** Ceiling of the doubling window, ms. Default 300000. */
  maxWindowMs?: number
  /** Groups kept apart; refusals of further keys are counted together under `*`. Default 256. */
  maxKeys?: number
  /** For the length of the last, unfinished window at close. Default the system clock. */
  clock?: Clock
  /** Timers (tests pass their own). Default setTimeout/clearTimeout, unref'd. */
  timers?: {
    set(fn: () => void, ms: number): unknown
    clear(handle: unknown): void
  }
}

interface Group {
  readonly first: ConsoleRefusal
  windowMs: number
  /** When the current window started (clock ms). */
  since: number
  count: number
  codes: Map<string, number>
  timer: unknown
}

const realTimers = {
  set(fn: () => void, ms: number): unknown {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clear(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout)
  }
}

const grouped = (n: number): string => n.toLocaleString('en-US')

/** Groups refusals per key for one ConsoleLog. */
export class RefusalGroups {
  readonly windowMs: number
  readonly maxWindowMs: number
  readonly maxKeys: number
  readonly #log: ConsoleLog
  readonly #timers: NonNullable<RefusalGroupsOptions['timers']>
  readonly #clock: Clock
  readonly #groups = new Map<string, Group>()
  #closed = false

  constructor(log: ConsoleLog, options: RefusalGroupsOptions = {}) {
    if (typeof log !== 'object' || log === null || typeof log.event !== 'function')
      throw new InvalidArgumentError('log: expected a ConsoleLog')
    const windowMs = options.windowMs ?? REFUSAL_WINDOW_MS
    assertInteger('windowMs', windowMs, 1, 86_400_000)
    const maxWindowMs = options.maxWindowMs ?? REFUSAL_MAX_WINDOW_MS
    assertInteger('maxWindowMs', maxWindowMs, windowMs, 86_400_000)
    const maxKeys = options.maxKeys ?? 256
    assertInteger('maxKeys', maxKeys, 1, 1_000_000)
    this.windowMs = windowMs
    this.maxWindowMs = maxWindowMs
    this.maxKeys = maxKeys
    this.#log = log
    this.#timers = options.timers ?? realTimers
    this.#clock = options.clock ?? systemClock
  }

  /** Groups open now (for tests and status). */
  get size(): number {
    return this.#groups.size
  }

  /** One refusal under `key` (`share:docs` + peer ID or remote host). */
  refused(key: string, refusal: ConsoleRefusal): void {
    if (this.#closed) return
    let k = key
    if (!this.#groups.has(k) && this.#groups.size >= this.maxKeys) k = OVERFLOW_KEY
    const g = this.#groups.get(k)
    if (g !== undefined) {
      g.count++
      g.codes.set(refusal.code, (g.codes.get(refusal.code) ?? 0) + 1)
      return
    }
    const first: ConsoleRefusal =
      k === OVERFLOW_KEY ? { service: refusal.service, code: refusal.code, addr: OVERFLOW_KEY } : refusal
    const group: Group = {
      first,
      windowMs: this.windowMs,
      since: this.#clock.now(),
      count: 0,
      codes: new Map(),
      timer: undefined
    }
    this.#groups.set(k, group)
    const { group: _group, ...fields } = first
    this.#log.event('warn', 'refused', describe(first, k === OVERFLOW_KEY), { ...fields, count: 1 })
    group.timer = this.#timers.set(() => this.#tick(k), group.windowMs)
  }

  /** Write the summaries still open and stop (the counts are complete after this). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const [key, g] of this.#groups) {
      this.#timers.clear(g.timer)
      this.#summary(key, g, Math.min(g.windowMs, Math.max(0, this.#clock.now() - g.since)))
    }
    this.#groups.clear()
  }

  #tick(key: string): void {
    const g = this.#groups.get(key)
    if (g === undefined || this.#closed) return
    if (g.count === 0) {
      this.#groups.delete(key) // a quiet window ends the group
      return
    }
    this.#summary(key, g, g.windowMs)
    g.count = 0
    g.codes = new Map()
    g.since = this.#clock.now()
    g.windowMs = Math.min(g.windowMs * 2, this.maxWindowMs)
    g.timer = this.#timers.set(() => this.#tick(key), g.windowMs)
  }

  /** The summary of the window that lasted `ms` (a whole window, or the part before close). */
  #summary(key: string, g: Group, ms: number): void {
    if (g.count === 0) return
    const windowS = Math.max(1, Math.round(ms / 1000))
    const codes = [...g.codes].map(([c, n]) => `${c} ×${grouped(n)}`).join(', ')
    const { reason: _reason, group, ...rest } = g.first
    const fields = group === undefined ? rest : { ...rest, addr: group }
    this.#log.event(
      'warn',
      'refused-summary',
      `refused ${who(fields, key === OVERFLOW_KEY)} ${grouped(g.count)} more time${g.count === 1 ? '' : 's'} in the last ${windowS} s (${codes})`,
      { ...fields, code: [...g.codes.keys()].join(','), count: g.count, windowS }
    )
  }
}

function who(r: ConsoleRefusal, overflow: boolean): string {
  if (overflow) return 'other peers'
  const name = r.peer ?? (r.peerId === undefined ? undefined : '?')
  const id = r.peerId === undefined ? '' : ` (${shortPeerId(r.peerId)})`
  const from = r.addr === undefined ? '' : `${name === undefined ? '' : ' from '}${r.addr}`
  return name === undefined && r.addr === undefined ? 'unknown peer' : `${name ?? ''}${id}${from}`
}

function describe(r: ConsoleRefusal, overflow: boolean): string {
  return `refused ${who(r, overflow)}: ${r.code}${r.reason === undefined ? '' : `: ${r.reason}`}`
}
