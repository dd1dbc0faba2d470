import { assertBytes, assertInteger } from '@peerguard/interface'
import { FrameInvalidError } from './errors.js'

/** Bytes of the length prefix of every frame (SPEC.md §2.1, §3.2): u16 big-endian. */
export const FRAME_HEADER_LENGTH = 2
/** Largest frame body: a whole Noise message (Noise rev 34 §3). */
export const MAX_FRAME_LENGTH = 65535

/**
 * Splits a byte stream into length-prefixed frames (u16 BE length, then the body). It checks the
 * declared length as soon as the 2-byte header is in, so an oversized or undersized frame is
 * refused before its body is read; a frame is returned as the list of buffer pieces it spans, so
 * nothing is copied. Memory: at most one frame plus the chunk being pushed.
 */
export class FrameDecoder {
  readonly #chunks: Buffer[] = []
  #buffered = 0
  #min: number
  #max: number

  constructor(minLength: number, maxLength: number) {
    assertInteger('minLength', minLength, 0, MAX_FRAME_LENGTH)
    assertInteger('maxLength', maxLength, minLength, MAX_FRAME_LENGTH)
    this.#min = minLength
    this.#max = maxLength
  }

  /** Change the accepted body lengths (the handshake and the transport differ). */
  setLimits(minLength: number, maxLength: number): void {
    this.#min = minLength
    this.#max = maxLength
  }

  /** Bytes held, not yet returned as frames. */
  get buffered(): number {
    return this.#buffered
  }

  push(bytes: Uint8Array): void {
    assertBytes('chunk', bytes)
    if (bytes.length === 0) return
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
  }

  /** The declared length of the next frame, once its header is in. Throws FrameInvalidError when out of range. */
  peekLength(): number | undefined {
    if (this.#buffered < FRAME_HEADER_LENGTH) return undefined
    const first = this.#chunks[0] as Buffer
    const length =
      first.length >= 2 ? first.readUInt16BE(0) : (first[0] as number) * 256 + ((this.#chunks[1] as Buffer)[0] as number)
    if (length < this.#min || length > this.#max) {
      throw new FrameInvalidError(`frame length ${length} is outside ${this.#min}..${this.#max}`, { details: { length } })
    }
    return length
  }

  /** The next complete frame body as pieces, or undefined when it is not all in yet. */
  next(): Buffer[] | undefined {
    const length = this.peekLength()
    if (length === undefined || this.#buffered < FRAME_HEADER_LENGTH + length) return undefined
    this.#take(FRAME_HEADER_LENGTH)
    return this.#take(length)
  }

  /** The next frame body as one buffer (copies only when it spans chunks). */
  nextBuffer(): Buffer | undefined {
    const pieces = this.next()
    if (pieces === undefined) return undefined
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)
  }

  /** Everything still buffered (used when handing the stream on). */
  drain(): Buffer[] {
    const out = this.#chunks.splice(0)
    this.#buffered = 0
    return out
  }

  #take(n: number): Buffer[] {
    const out: Buffer[] = []
    this.#buffered -= n
    while (n > 0) {
      const head = this.#chunks[0] as Buffer
      if (head.length <= n) {
        out.push(head)
        this.#chunks.shift()
        n -= head.length
      } else {
        out.push(head.subarray(0, n))
        this.#chunks[0] = head.subarray(n)
        n = 0
      }
    }
    return out
  }
}
