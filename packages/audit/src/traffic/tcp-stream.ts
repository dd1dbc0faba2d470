/** Receives one direction's reassembled bytes, in order. */
export interface StreamReceiver {
  /** In-order bytes `buf[off, off+len)`, valid only during the call. */
  bytes(buf: Buffer, off: number, len: number, frame: number): void
  /** `n` bytes of the stream are missing (not captured, or given up on). */
  gap(n: number): void
}

interface Segment {
  seq: number
  data: Buffer
  frame: number
}

/** Bytes of out-of-order data held per direction before a gap is declared. */
export const MAX_PENDING_BYTES = 256 * 1024

/**
 * One direction of a TCP connection, reassembled: in-order segments are passed through without
 * copying; retransmissions are dropped; overlaps keep the bytes already delivered (first wins);
 * out-of-order segments wait (copied, bounded by MAX_PENDING_BYTES) until the hole fills, or are
 * flushed with a gap. Sequence numbers compare modulo 2^32.
 */
export class TcpStream {
  #next = 0
  #hasNext = false
  #pending: Segment[] = []
  /** `#pending.length`: an in-order segment reads this field, not the array. */
  #held = 0
  #pendingBytes = 0
  /** Bytes handed to the receiver so far. */
  delivered = 0
  retransmitted = 0
  gaps = 0

  /** A SYN fixes the initial sequence number. */
  syn(seq: number): void {
    this.#next = (seq + 1) >>> 0
    this.#hasNext = true
  }

  /** A segment: `len` captured bytes of `wireLen` sent, starting at `seq`. */
  segment(seq: number, buf: Buffer, off: number, len: number, wireLen: number, frame: number, rx: StreamReceiver): void {
    if (wireLen === 0) return
    if (!this.#hasNext) {
      this.#next = seq
      this.#hasNext = true
    }
    const d = (seq - this.#next) | 0
    if (d === 0) {
      this.#deliver(buf, off, len, wireLen, frame, rx)
      if (this.#held > 0) this.#drain(rx)
    } else if (d < 0) {
      const skip = -d
      if (skip >= wireLen) {
        this.retransmitted++
        return
      }
      // Overlap: the first `skip` bytes were delivered already; the rest is new.
      this.#deliver(buf, off + Math.min(skip, len), Math.max(0, len - skip), wireLen - skip, frame, rx)
      if (this.#held > 0) this.#drain(rx)
    } else {
      if (this.#held === 0 && len > MAX_PENDING_BYTES) {
        this.gaps++
        rx.gap(d)
        this.#next = seq
        this.#deliver(buf, off, len, wireLen, frame, rx)
        return
      }
      if (this.#pendingBytes + len > MAX_PENDING_BYTES) {
        // Too much held back: accept the loss and move on from the earliest held segment.
        this.flush(rx)
        this.segment(seq, buf, off, len, wireLen, frame, rx)
        return
      }
      // Captured bytes short of wireLen: keep the shortfall as zero-length tail (delivered as a gap).
      const data = Buffer.from(buf.subarray(off, off + len))
      this.#pending.push({ seq, data, frame })
      this.#pendingBytes += len
      if (wireLen > len) this.#pending.push({ seq: (seq + len) >>> 0, data: Buffer.alloc(0), frame: -(wireLen - len) })
      this.#held = this.#pending.length
    }
  }

  #deliver(buf: Buffer, off: number, len: number, wireLen: number, frame: number, rx: StreamReceiver): void {
    if (len > 0) {
      this.delivered += len
      rx.bytes(buf, off, len, frame)
    }
    if (wireLen > len) {
      this.gaps++
      rx.gap(wireLen - len)
    }
    this.#next = (this.#next + wireLen) >>> 0
  }

  #drain(rx: StreamReceiver): void {
    let progress = true
    while (progress && this.#pending.length > 0) {
      progress = false
      for (let i = 0; i < this.#pending.length; i++) {
        const s = this.#pending[i]!
        const d = (s.seq - this.#next) | 0
        const wire = s.frame < 0 ? -s.frame : s.data.length
        if (d > 0) continue
        this.#pending.splice(i, 1)
        this.#held = this.#pending.length
        this.#pendingBytes -= s.data.length
        const skip = -d
        if (skip < wire) {
          if (s.frame < 0) this.#deliver(s.data, 0, 0, wire - skip, 0, rx)
          else this.#deliver(s.data, skip, s.data.length - skip, s.data.length - skip, s.frame, rx)
        }
        progress = true
        break
      }
    }
  }

  /** Deliver everything held, declaring the holes as gaps (end of flow or too much pending). */
  flush(rx: StreamReceiver): void {
    while (this.#pending.length > 0) {
      let min = 0
      for (let i = 1; i < this.#pending.length; i++) {
        if (((this.#pending[i]!.seq - this.#pending[min]!.seq) | 0) < 0) min = i
      }
      const first = this.#pending[min]!
      const hole = (first.seq - this.#next) | 0
      if (hole > 0) {
        this.gaps++
        rx.gap(hole)
        this.#next = first.seq
      }
      this.#drain(rx)
    }
    this.#pendingBytes = 0
  }

  /** Forget everything held (the flow stopped being inspected). */
  release(): void {
    this.#pending = []
    this.#held = 0
    this.#pendingBytes = 0
  }
}
