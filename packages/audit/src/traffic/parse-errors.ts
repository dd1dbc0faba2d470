/**
 * Counts what the auditor could not parse, by kind (`ipv4-header-too-short`, `smb-garbage`, …).
 * The report lists these counts: bad input is counted and skipped, never fatal.
 */
export class ParseErrors {
  readonly #counts = new Map<string, number>()
  /** First frame number at which each kind was seen. */
  readonly #firstFrame = new Map<string, number>()

  /** Count one occurrence of `kind` (at `frame` when known). */
  add(kind: string, frame = 0): void {
    const n = this.#counts.get(kind)
    if (n === undefined) {
      this.#counts.set(kind, 1)
      this.#firstFrame.set(kind, frame)
    } else this.#counts.set(kind, n + 1)
  }

  /** Total number of errors counted. */
  get total(): number {
    let t = 0
    for (const n of this.#counts.values()) t += n
    return t
  }

  count(kind: string): number {
    return this.#counts.get(kind) ?? 0
  }

  /** `{ kind: { count, firstFrame } }`, sorted by kind. */
  toJSON(): Record<string, { count: number; firstFrame: number }> {
    const out: Record<string, { count: number; firstFrame: number }> = {}
    for (const kind of [...this.#counts.keys()].sort()) {
      out[kind] = { count: this.#counts.get(kind) ?? 0, firstFrame: this.#firstFrame.get(kind) ?? 0 }
    }
    return out
  }
}
