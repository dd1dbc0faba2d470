/**
 * A token bucket per source address: each source may send `burst` datagrams at once and
 * `perSecond` a second after that; the excess is dropped before any cryptography runs. The map
 * of sources is bounded (the least recently refilled go first).
 */
export class SourceLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  readonly #perSecond: number
  readonly #burst: number
  readonly #max: number

  constructor(perSecond: number, burst: number, max = 4096) {
    this.#perSecond = perSecond
    this.#burst = burst
    this.#max = max
  }

  /** True when a datagram from `source` may be handled now. */
  take(source: string, now: number): boolean {
    let b = this.#buckets.get(source)
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) {
        const first = this.#buckets.keys().next()
        if (first.done !== true) this.#buckets.delete(first.value)
      }
      b = { tokens: this.#burst, at: now }
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond)
      b.at = now
      this.#buckets.delete(source)
    }
    this.#buckets.set(source, b) // most recent last
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}
