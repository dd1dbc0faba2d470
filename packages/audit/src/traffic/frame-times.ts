/**
 * Capture timestamps by frame number in fixed memory, so findings (which name frames) can say
 * when they were seen. Exact for the first 65,536 frames; beyond that every `stride`-th frame's
 * time is kept (the stride doubles each time the table fills), so a time is at most `stride - 1`
 * frames early. 512 KiB whatever the capture size.
 */
export class FrameTimes {
  /** Entries kept. */
  static readonly CAPACITY = 65_536
  #times = new Float64Array(FrameTimes.CAPACITY)
  #count = 0
  #stride = 1
  /** Frames added. */
  #seen = 0

  /** Record the time of the next frame (frames are numbered 1, 2, … in call order). */
  add(ts: number): void {
    // Entry i holds 0-based frame i × stride.
    const k = this.#seen++
    if (k % this.#stride !== 0) return
    if (this.#count === FrameTimes.CAPACITY) {
      // Full: keep every other entry and double the stride (k is then entry CAPACITY / 2).
      const t = this.#times
      for (let i = 0; i < FrameTimes.CAPACITY / 2; i++) t[i] = t[2 * i] as number
      this.#count = FrameTimes.CAPACITY / 2
      this.#stride *= 2
    }
    this.#times[this.#count++] = ts
  }

  /** The time of `frame` (1-based), or of the nearest kept frame before it; undefined when unknown. */
  time(frame: number): number | undefined {
    if (!Number.isInteger(frame) || frame < 1) return undefined
    const i = Math.floor((frame - 1) / this.#stride)
    if (i >= this.#count) return this.#count === 0 ? undefined : this.#times[this.#count - 1]
    return this.#times[i]
  }

  /** Frames between kept times (1 = exact). */
  get stride(): number {
    return this.#stride
  }
}
