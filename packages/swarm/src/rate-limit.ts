/** A token bucket: `take(n)` resolves when n bytes may be sent at `bytesPerSecond`. */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  #tokens: number
  #last = performance.now()
  #queue: Promise<void> = Promise.resolve()

  constructor(bytesPerSecond: number) {
    this.#rate = bytesPerSecond
    this.#burst = Math.max(bytesPerSecond / 10, 256 * 1024)
    this.#tokens = this.#burst
  }

  take(n: number): Promise<void> {
    const next = this.#queue.then(async () => {
      const now = performance.now()
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate)
      this.#last = now
      this.#tokens -= n
      if (this.#tokens < 0) await new Promise((r) => setTimeout(r, (-this.#tokens / this.#rate) * 1000))
    })
    this.#queue = next
    return next
  }
}
