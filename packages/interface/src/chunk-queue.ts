/**
 * Bytes as they arrive from a stream, held as the chunks they came in, for length-prefixed
 * decoders (the share frames, the swarm messages): look at the first bytes, take a whole message.
 * A message inside one chunk is a view, not a copy; one that spans chunks is copied once — only
 * its own bytes, so the start of the next message stays where it arrived.
 */
import { describeValue } from './bytes.js'
import { InvalidArgumentError } from './errors.js'

function assertCount(name: string, n: unknown, buffered: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > buffered)
    throw new InvalidArgumentError(`${name}: expected an integer 1..${buffered} (the bytes held), got ${describeValue(n)}`)
}

export class ChunkQueue {
  #chunks: Buffer[] = []
  #buffered = 0

  /** Bytes held. */
  get buffered(): number {
    return this.#buffered
  }

  /** Add a chunk (kept, not copied: the caller must not reuse its memory). */
  push(chunk: Buffer): void {
    if (!Buffer.isBuffer(chunk)) throw new InvalidArgumentError(`chunk: expected a Buffer, got ${describeValue(chunk)}`)
    if (chunk.length === 0) return
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
  }

  /** At least the first `n` bytes (1 <= n <= buffered), not removed; may be longer than `n`. */
  peek(n: number): Buffer {
    assertCount('peek', n, this.#buffered)
    const first = this.#chunks[0] as Buffer
    if (first.length >= n) return first
    return this.#copyOut(n, false)
  }

  /** Remove and return exactly the first `n` bytes (1 <= n <= buffered). */
  take(n: number): Buffer {
    assertCount('take', n, this.#buffered)
    const first = this.#chunks[0] as Buffer
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
    } else out = this.#copyOut(n, true)
    this.#buffered -= n
    return out
  }

  #copyOut(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    let i = 0
    while (filled < n) {
      const c = this.#chunks[i] as Buffer
      const want = n - filled
      if (c.length <= want) {
        c.copy(out, filled)
        filled += c.length
        i++
      } else {
        c.copy(out, filled, 0, want)
        if (consume) this.#chunks[i] = c.subarray(want)
        filled = n
      }
    }
    if (consume) this.#chunks.splice(0, i)
    return out
  }
}
