/**
 * Byte-level reading and writing for the workspace formats: a bounds-checked reader that fails
 * with the caller's typed error (never a RangeError from a hostile length), and a writer.
 */
import type { PeerguardError } from '@peerguard/interface'

/** Reads big-endian fields from a buffer; every overrun throws `fail(what)`. */
export class WireReader {
  readonly #buf: Buffer
  #pos = 0
  readonly #fail: (message: string) => PeerguardError

  constructor(bytes: Uint8Array, fail: (message: string) => PeerguardError) {
    this.#buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#fail = fail
  }

  get offset(): number {
    return this.#pos
  }

  get remaining(): number {
    return this.#buf.length - this.#pos
  }

  bytes(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw this.#fail(`truncated: ${what} needs ${n} bytes, ${this.remaining} left`)
    const out = Uint8Array.from(this.#buf.subarray(this.#pos, this.#pos + n))
    this.#pos += n
    return out
  }

  u8(what: string): number {
    return (this.bytes(1, what)[0] as number) & 0xff
  }

  u16(what: string): number {
    return Buffer.from(this.bytes(2, what)).readUInt16BE(0)
  }

  u32(what: string): number {
    return Buffer.from(this.bytes(4, what)).readUInt32BE(0)
  }

  /** A u64 that must fit a JavaScript safe integer (timestamps, versions). */
  u64(what: string): number {
    const v = Buffer.from(this.bytes(8, what)).readBigUInt64BE(0)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.#fail(`${what}: out of range`)
    return Number(v)
  }

  /** UTF-8 text that must round-trip (no replacement characters from invalid bytes). */
  utf8(n: number, what: string): string {
    const raw = this.bytes(n, what)
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw)
    } catch {
      throw this.#fail(`${what}: not valid UTF-8`)
    }
  }

  /** Nothing may follow the last field. */
  end(what: string): void {
    if (this.remaining !== 0) throw this.#fail(`${what}: ${this.remaining} trailing bytes`)
  }
}

/** Builds a buffer field by field. */
export class WireWriter {
  readonly #parts: Buffer[] = []

  bytes(b: Uint8Array): this {
    this.#parts.push(Buffer.from(b))
    return this
  }

  u8(v: number): this {
    this.#parts.push(Buffer.from([v & 0xff]))
    return this
  }

  u16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeUInt16BE(v)
    this.#parts.push(b)
    return this
  }

  u32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(v)
    this.#parts.push(b)
    return this
  }

  u64(v: number): this {
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(BigInt(v))
    this.#parts.push(b)
    return this
  }

  finish(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#parts))
  }
}
