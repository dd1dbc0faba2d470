/**
 * When to pull from a peer: at most one pull per peer and a few at once, each after a random
 * delay (so a new bundle announced to many members is not fetched by all at the same instant),
 * and a peer whose last pull failed waits a moment before the next try.
 */

/** Retry a failed pull from the same peer no sooner than this. */
export const PULL_BACKOFF_MS = 1000
export const MAX_CONCURRENT_PULLS = 4

export class PullScheduler {
  readonly #pulling = new Set<string>()
  readonly #failedAt = new Map<string, number>()
  readonly #jitterMs: number
  readonly #now: () => number

  constructor(jitterMs: number, now: () => number) {
    this.#jitterMs = jitterMs
    this.#now = now
  }

  /** Run `pull` for peer `key` soon, unless one runs, too many run, or its last one failed just now. */
  schedule(key: string, pull: () => Promise<boolean>): void {
    if (this.#pulling.has(key) || this.#pulling.size >= MAX_CONCURRENT_PULLS) return
    if (this.#now() - (this.#failedAt.get(key) ?? 0) < PULL_BACKOFF_MS) return
    this.#pulling.add(key)
    setTimeout(
      () => {
        pull().then((ok) => {
          this.#pulling.delete(key)
          // only a failed pull waits: a version announced right after a probe is pulled at once
          if (ok) this.#failedAt.delete(key)
          else this.#failedAt.set(key, this.#now())
        })
      },
      Math.floor(Math.random() * (this.#jitterMs + 1))
    )
  }
}
