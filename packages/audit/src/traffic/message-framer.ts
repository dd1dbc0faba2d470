/** Reads the body length from a message header; -1 when the header is not valid. */
export type LengthOf = (header: Buffer) => number

/** Called for each complete message: its header, the first `cap` bytes of its body, the full body length. */
export type OnMessage = (header: Buffer, prefix: Buffer, bodyLen: number, frame: number, damaged: boolean) => void

/** Finds where a valid header starts in `buf[off, off+len)` after lost sync; -1 when none. */
export type Resync = (buf: Buffer, off: number, len: number) => number

/**
 * Cuts a reassembled byte stream into length-prefixed messages (NetBIOS session service, ONC-RPC
 * record marking, BitTorrent peer messages). Only the header and the first `cap` body bytes are
 * copied; the rest of a large message (file data) is skipped without copying. A gap inside a body
 * is absorbed; a gap in a header or an invalid length loses sync until `resync` finds a header.
 */
export class MessageFramer {
  #hdr: Buffer
  #hdrHave = 0
  #inHeader = true
  #body: Buffer = Buffer.alloc(0)
  #bodyHave = 0
  #bodyLen = 0
  #remaining = 0
  #frame = 0
  #damaged = false
  lost = false
  messages = 0

  constructor(
    readonly headerLen: number,
    readonly cap: number,
    readonly lengthOf: LengthOf,
    readonly onMessage: OnMessage,
    readonly resync?: Resync
  ) {
    this.#hdr = Buffer.alloc(headerLen)
  }

  push(buf: Buffer, off: number, len: number, frame: number): void {
    let p = off
    const end = off + len
    if (this.lost) {
      if (this.resync === undefined) return
      const at = this.resync(buf, p, len)
      if (at < 0) return
      p = at
      this.lost = false
      this.#inHeader = true
      this.#hdrHave = 0
    }
    while (p < end) {
      if (this.#inHeader) {
        if (this.#hdrHave === 0) this.#frame = frame
        const take = Math.min(this.headerLen - this.#hdrHave, end - p)
        buf.copy(this.#hdr, this.#hdrHave, p, p + take)
        this.#hdrHave += take
        p += take
        if (this.#hdrHave < this.headerLen) return
        const bodyLen = this.lengthOf(this.#hdr)
        if (bodyLen < 0) {
          this.lost = true
          // Try to find the next header in what is left of this chunk.
          if (this.resync !== undefined && p < end) {
            const at = this.resync(buf, p, end - p)
            if (at >= 0) {
              this.lost = false
              this.#hdrHave = 0
              p = at
              continue
            }
          }
          return
        }
        this.#bodyLen = bodyLen
        this.#remaining = bodyLen
        this.#body = Buffer.allocUnsafe(Math.min(bodyLen, this.cap))
        this.#bodyHave = 0
        this.#damaged = false
        this.#inHeader = false
        if (bodyLen === 0) this.#emit()
      } else {
        const take = Math.min(this.#remaining, end - p)
        const copy = Math.min(take, this.#body.length - this.#bodyHave)
        if (copy > 0) {
          buf.copy(this.#body, this.#bodyHave, p, p + copy)
          this.#bodyHave += copy
        }
        this.#remaining -= take
        p += take
        if (this.#remaining === 0) this.#emit()
      }
    }
  }

  #emit(): void {
    this.messages++
    const hdr = this.#hdr
    const body = this.#body.subarray(0, this.#bodyHave)
    this.#inHeader = true
    this.#hdrHave = 0
    this.onMessage(hdr, body, this.#bodyLen, this.#frame, this.#damaged)
  }

  /** `n` bytes are missing from the stream. */
  gap(n: number): void {
    if (this.lost) return
    if (!this.#inHeader && n <= this.#remaining) {
      // Fill the hole in the copied prefix with zeros and remember the message is damaged.
      const fill = Math.min(n, this.#body.length - this.#bodyHave)
      if (fill > 0) {
        this.#body.fill(0, this.#bodyHave, this.#bodyHave + fill)
        this.#bodyHave += fill
        this.#damaged = true
      }
      this.#remaining -= n
      if (this.#remaining === 0) this.#emit()
      return
    }
    this.lost = true
  }
}
