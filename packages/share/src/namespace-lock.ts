/**
 * The share's namespace lock (SPEC.md §5.2): a readers–writer lock over the whole share tree.
 *
 * Every operation holds it _shared_ only while it resolves its path and performs its system calls
 * (never while data streams over the network); directory renames, every rename and directory
 * removals hold it _exclusive_. So no path resolution, no file creation and no commit of an upload
 * can interleave with a rename that changes what a path means. Waiting writers are preferred: a
 * steady stream of readers cannot starve a rename.
 */
export class NamespaceLock {
  #readers = 0
  #writer = false
  #queue: Array<{ exclusive: boolean; grant: () => void }> = []

  /** Run `fn` holding the lock shared. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire(false)
    try {
      return await fn()
    } finally {
      this.#release(false)
    }
  }

  /** Run `fn` holding the lock exclusively: no other holder, shared or exclusive, runs meanwhile. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire(true)
    try {
      return await fn()
    } finally {
      this.#release(true)
    }
  }

  /** Holders and waiters right now (for tests and diagnostics). */
  get state(): { readers: number; writer: boolean; waiting: number } {
    return { readers: this.#readers, writer: this.#writer, waiting: this.#queue.length }
  }

  #acquire(exclusive: boolean): Promise<void> {
    if (this.#queue.length === 0 && this.#canGrant(exclusive)) {
      this.#take(exclusive)
      return Promise.resolve()
    }
    return new Promise<void>((grant) => {
      this.#queue.push({ exclusive, grant })
    })
  }

  #canGrant(exclusive: boolean): boolean {
    return exclusive ? !this.#writer && this.#readers === 0 : !this.#writer
  }

  #take(exclusive: boolean): void {
    if (exclusive) this.#writer = true
    else this.#readers++
  }

  #release(exclusive: boolean): void {
    if (exclusive) this.#writer = false
    else this.#readers--
    // Grant waiters in arrival order: a run of shared waiters together, an exclusive one alone.
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as { exclusive: boolean; grant: () => void }
      if (!this.#canGrant(next.exclusive)) break
      this.#queue.shift()
      this.#take(next.exclusive)
      next.grant()
      if (next.exclusive) break
    }
  }
}
