import { BT_PROTOCOL } from './bittorrent.js'

/**
 * Bytes of one direction searched for a plaintext handshake after an MSE/PE header. The header
 * is at most 96 (DH key) + 512 (PadA/PadB) + 40 (two hashes) + 8 (VC) + 4 (crypto) + 2 + 512
 * (PadC/PadD) + 2 (len IA) bytes = 1176 (BEP 8 / "Message Stream Encryption"); 1536 leaves room
 * for an initial payload before the handshake.
 */
export const MSE_SEARCH_BYTES = 1536

/**
 * One direction of a stream that did not start with a known protocol: watches its first
 * MSE_SEARCH_BYTES for `\x13BitTorrent protocol`. When MSE/PE negotiated the *plaintext* method
 * (crypto_select 0x01), the BitTorrent handshake follows the MSE header in clear; with RC4 it never
 * appears. Only a 19-byte tail is kept between chunks (the signature may straddle two).
 */
export class MseFollower {
  /** Stream bytes seen so far in this direction. */
  seen = 0
  /** Stream offset of the plaintext handshake, -1 while not found. */
  handshakeAt = -1
  #tail: Buffer = Buffer.alloc(0)
  #carry: Buffer = Buffer.alloc(0)

  /** True while this direction may still reveal a handshake. */
  get searching(): boolean {
    return this.handshakeAt < 0 && this.seen < MSE_SEARCH_BYTES + BT_PROTOCOL.length
  }

  /**
   * Look at the next chunk. Returns the offset in `buf` from which the caller hands the stream to
   * the BitTorrent parser (after the bytes of `carry()`, when the signature straddled the previous
   * chunk), or -1 when no handshake starts here.
   */
  push(buf: Buffer, off: number, len: number): number {
    if (!this.searching) return -1
    const end = off + len
    const base = this.seen
    this.seen += len
    if (this.#tail.length > 0) {
      const joined = Buffer.concat([this.#tail, buf.subarray(off, Math.min(end, off + BT_PROTOCOL.length))])
      const at = joined.indexOf(BT_PROTOCOL)
      if (at >= 0 && at < this.#tail.length) {
        this.handshakeAt = base - this.#tail.length + at
        this.#carry = joined.subarray(at, this.#tail.length)
        this.#tail = Buffer.alloc(0)
        return off
      }
    }
    const at = buf.subarray(0, end).indexOf(BT_PROTOCOL, off)
    if (at >= 0) {
      this.handshakeAt = base + (at - off)
      this.#tail = Buffer.alloc(0)
      return at
    }
    // Keep the last 19 bytes of the stream so far (a short chunk keeps part of the previous tail).
    const last = Buffer.concat([this.#tail, buf.subarray(Math.max(off, end - (BT_PROTOCOL.length - 1)), end)])
    this.#tail = Buffer.from(last.subarray(Math.max(0, last.length - (BT_PROTOCOL.length - 1))))
    return -1
  }

  /** Handshake bytes from the previous chunk when the signature straddled two chunks. */
  carry(): Buffer {
    const c = this.#carry
    this.#carry = Buffer.alloc(0)
    return c
  }
}
