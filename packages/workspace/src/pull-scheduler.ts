/**
 * When to pull from a peer: at most one pull per peer and a few at once, each after a random
 * delay (so a new bundle announced to many members is not fetched by all at the same instant),
 * and a peer whose last pull failed waits a moment before the next try. The failures remembered
 * are bounded (forged announcements can name any number of keys): past the bound, expired ones
 * are dropped, and while the bound is full of fresh failures no new peer is pulled.
 */

/** Retry a failed pull from the same peer no sooner than this. */
export const PULL_BACKOFF_MS = 1000
export const MAX_CONCURRENT_PULLS = 4
/** Peers whose failed pull is remembered at most. */
export const MAX_FAILED_PEERS = 4096

export class PullScheduler {
  readonly #pulling = new Set<string>()
  readonly #failedAt = new Map<string, number>()
  readonly #jitterMs: number
  readonly #now: () => number
  readonly #maxFailed: number

  constructor(jitterMs: number, now: () => number, maxFailed = MAX_FAILED_PEERS) {
    this.#jitterMs = jitterMs
    this.#now = now
    this.#maxFailed = maxFailed
  }

  /** Peers whose failed pull is remembered now. */
  get failedPeers(): number {
    return this.#failedAt.size
  }

  /** Room for one more failure (pulls under way count): expired ones go first; false while all are fresh. */
  #room(): boolean {
    const full = (): boolean => this.#failedAt.size + this.#pulling.size >= this.#maxFailed
    if (!full()) return true
    const now = this.#now()
    for (const [k, at] of this.#failedAt) {
      if (now - at < PULL_BACKOFF_MS) break // in order of failure: the rest are fresher
      this.#failedAt.delete(k)
    }
    return !full()
  }

  /** Run `pull` for peer `key` soon, unless one runs, too many run, or its last one failed just now. */
  schedule(key: string, pull: () => Promise<boolean>): void {
    if (this.#pulling.has(key) || this.#pulling.size >= MAX_CONCURRENT_PULLS) return
    const failed = this.#failedAt.get(key)
    if (failed !== undefined && this.#now() - failed < PULL_BACKOFF_MS) return
    if (failed === undefined && !this.#room()) return // bounded: a fresh failure per slot already
    this.#pulling.add(key)
    setTimeout(
      () => {
        pull().then((ok) => {
          this.#pulling.delete(key)
          // only a failed pull waits: a version announced right after a probe is pulled at once
          if (ok) this.#failedAt.delete(key)
          else {
            this.#failedAt.delete(key) // re-inserted last: the map stays in order of failure
            this.#failedAt.set(key, this.#now())
          }
        })
      },
      Math.floor(Math.random() * (this.#jitterMs + 1))
    )
  }
}
