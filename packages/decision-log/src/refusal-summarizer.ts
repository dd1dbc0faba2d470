import { assertInteger, assertString, type Clock, InvalidArgumentError, systemClock } from '@peerguard/interface'
import type { RefusalSummaryRecord } from './records.js'

/** Where summaries go: a DecisionLog fits. */
export interface RefusalSummarySink {
  append(record: RefusalSummaryRecord): unknown
}

export interface RefusalSummarizerOptions {
  /** Length of a counting window, ms. Default 60000. */
  windowMs?: number
  /**
   * Most addresses counted separately per window; refusals from further addresses are counted
   * together under the address `*`. Bounds the entries per window to `maxAddresses + 1`. Default 256.
   */
  maxAddresses?: number
  /** Told when a summary cannot be written (it is kept and retried at the next flush). Default: ignore. */
  onError?: (err: unknown) => void
  clock?: Clock
}

/** `*`: the bucket for addresses beyond `maxAddresses`. */
export const OVERFLOW_ADDRESS = '*'

interface Bucket {
  since: number
  count: number
  codes: Record<string, number>
  /** Distinct addresses folded into the overflow bucket (approximate beyond 65536). */
  addresses?: Set<string>
}

/**
 * Counts refusals that happen before a peer is authenticated (bad handshakes, unknown
 * certificates, half-open connections) per remote address and time window, and writes one
 * `refusal-summary` record per address and window instead of one entry per refusal — so an
 * unauthenticated flood cannot grow the decision log faster than `maxAddresses + 1` entries per
 * window. Refusals of an authenticated peer are decisions about that peer: log them one by one.
 *
 * Counting never blocks and never fails; a summary that cannot be written (disk full) is kept and
 * merged into the next one.
 */
export class RefusalSummarizer {
  readonly windowMs: number
  readonly maxAddresses: number
  #sink: RefusalSummarySink
  #clock: Clock
  #onError: (err: unknown) => void
  #buckets = new Map<string, Bucket>()
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()
  #closed = false

  constructor(sink: RefusalSummarySink, options: RefusalSummarizerOptions = {}) {
    if (typeof sink !== 'object' || sink === null || typeof sink.append !== 'function')
      throw new InvalidArgumentError('sink: expected { append(record) }')
    const windowMs = options.windowMs ?? 60_000
    assertInteger('windowMs', windowMs, 10, 86_400_000)
    const maxAddresses = options.maxAddresses ?? 256
    assertInteger('maxAddresses', maxAddresses, 1, 1_000_000)
    this.windowMs = windowMs
    this.maxAddresses = maxAddresses
    this.#sink = sink
    this.#clock = options.clock ?? systemClock
    this.#onError = options.onError ?? (() => {})
  }

  /** Count one refusal from `address` (a host, without port) with its code. */
  refused(address: string, code: string): void {
    assertString('address', address, { maxLength: 256 })
    assertString('code', code, { nonEmpty: true, maxLength: 128 })
    if (this.#closed) return
    const host = address === '' ? 'unknown' : address
    let key = host
    if (!this.#buckets.has(key) && this.#tracked() >= this.maxAddresses) key = OVERFLOW_ADDRESS
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { since: this.#clock.now(), count: 0, codes: Object.create(null) as Record<string, number> }
      this.#buckets.set(key, b)
    }
    b.count++
    b.codes[code] = (b.codes[code] ?? 0) + 1
    if (key === OVERFLOW_ADDRESS) {
      b.addresses ??= new Set()
      if (b.addresses.size < 65536) b.addresses.add(host)
    }
    this.#arm()
  }

  /** Refusals counted and not yet written. */
  get pending(): number {
    let n = 0
    for (const b of this.#buckets.values()) n += b.count
    return n
  }

  /** Write the windows that have ended (all of them with `all`). */
  flush(all = false): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write(all))
    return this.#flushing
  }

  /** Write every open window and stop the timer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#flushing
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.flush(true)
  }

  #tracked(): number {
    return this.#buckets.size - (this.#buckets.has(OVERFLOW_ADDRESS) ? 1 : 0)
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.flush().then(() => {
        if (this.#buckets.size > 0) this.#arm()
      })
    }, this.windowMs)
    this.#timer.unref()
  }

  async #write(all: boolean): Promise<void> {
    const now = this.#clock.now()
    for (const [address, b] of [...this.#buckets]) {
      if (!all && now - b.since < this.windowMs) continue
      this.#buckets.delete(address)
      const others = b.addresses === undefined ? '' : ` from ${b.addresses.size} addresses beyond the first ${this.maxAddresses}`
      const record: RefusalSummaryRecord = {
        kind: 'refusal-summary',
        address,
        count: b.count,
        codes: { ...b.codes },
        since: new Date(b.since).toISOString(),
        until: new Date(now).toISOString(),
        code: 'log-refusal-summary',
        reason: `${b.count} connection${b.count === 1 ? '' : 's'} refused before authentication${others}`
      }
      try {
        await this.#sink.append(record)
      } catch (err) {
        this.#onError(err)
        this.#merge(address, b)
      }
    }
  }

  /** Put an unwritten window back (merged with refusals counted meanwhile). */
  #merge(address: string, b: Bucket): void {
    const cur = this.#buckets.get(address)
    if (cur === undefined) {
      this.#buckets.set(address, b)
    } else {
      cur.since = Math.min(cur.since, b.since)
      cur.count += b.count
      for (const [c, n] of Object.entries(b.codes)) cur.codes[c] = (cur.codes[c] ?? 0) + n
      if (b.addresses !== undefined) for (const a of b.addresses) (cur.addresses ??= new Set()).add(a)
    }
    if (!this.#closed) this.#arm()
  }
}
