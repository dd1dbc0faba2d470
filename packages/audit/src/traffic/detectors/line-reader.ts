/**
 * Splits one direction of a text protocol into lines (CRLF or LF), bounded: a line longer than
 * `maxLine` bytes is cut and counted as overlong, so garbage cannot grow memory.
 */
export class LineReader {
  #parts: Buffer[] = []
  #have = 0
  overlong = 0

  constructor(
    readonly onLine: (line: string, frame: number) => void,
    readonly maxLine = 8192
  ) {}

  push(buf: Buffer, off: number, len: number, frame: number): void {
    const end = off + len
    let p = off
    while (p < end) {
      const nl = buf.indexOf(0x0a, p)
      if (nl < 0 || nl >= end) {
        const take = Math.min(end - p, this.maxLine - this.#have)
        if (take > 0) {
          this.#parts.push(Buffer.from(buf.subarray(p, p + take)))
          this.#have += take
        } else this.overlong++
        return
      }
      let line: Buffer
      if (this.#have > 0) {
        const take = Math.min(nl - p, this.maxLine - this.#have)
        this.#parts.push(buf.subarray(p, p + Math.max(0, take)))
        line = Buffer.concat(this.#parts)
        this.#parts = []
        this.#have = 0
      } else line = buf.subarray(p, Math.min(nl, p + this.maxLine))
      let e = line.length
      if (e > 0 && line[e - 1] === 0x0d) e--
      this.onLine(line.toString('latin1', 0, e), frame)
      p = nl + 1
    }
  }

  /** Bytes missing: drop the partial line. */
  reset(): void {
    this.#parts = []
    this.#have = 0
  }
}
