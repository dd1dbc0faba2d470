import type { ParseErrors } from './parse-errors.js'

interface Piece {
  off: number
  data: Buffer
}

interface Pending {
  pieces: Piece[]
  /** Total payload length, known once the last fragment (MF=0) arrived; -1 before. */
  total: number
  bytes: number
  firstTs: number
  /** Transport protocol carried (IPv4 protocol / IPv6 next header after the fragment header). */
  proto: number
}

/** Limits of the fragment reassembler (bounded memory whatever the input). */
export interface IpReassemblyOptions {
  /** Datagrams being reassembled at once. @default 4096 */
  maxPending?: number
  /** Seconds of capture time before an incomplete datagram is dropped. @default 30 */
  timeoutSeconds?: number
}

/** Largest reassembled datagram payload accepted (bytes): the IPv4 limit. */
const MAX_DATAGRAM_BYTES = 65535

/**
 * Reassembles IPv4 and IPv6 fragments. Overlaps keep the first bytes seen (as most stacks do),
 * impossible offsets are counted as parse errors and the datagram is dropped. Memory is bounded
 * by `maxPending` × 64 KiB; stale datagrams time out.
 */
export class IpReassembler {
  readonly #pending = new Map<string, Pending>()
  readonly #errors: ParseErrors
  readonly #max: number
  readonly #timeout: number
  #sweepAt = 0

  constructor(errors: ParseErrors, options: IpReassemblyOptions = {}) {
    this.#errors = errors
    this.#max = options.maxPending ?? 4096
    this.#timeout = options.timeoutSeconds ?? 30
  }

  get pendingCount(): number {
    return this.#pending.size
  }

  /**
   * Add one fragment: payload bytes `buf[off, off+len)` at byte offset `fragOff` of the datagram.
   * Returns the whole datagram payload when this fragment completes it, else undefined.
   */
  add(
    key: string,
    proto: number,
    fragOff: number,
    more: boolean,
    buf: Buffer,
    off: number,
    len: number,
    ts: number,
    frame: number
  ): Buffer | undefined {
    if (ts > this.#sweepAt) this.#sweep(ts)
    if (fragOff + len > MAX_DATAGRAM_BYTES || (more && len % 8 !== 0) || len < 0) {
      this.#errors.add('ip-fragment-invalid', frame)
      this.#pending.delete(key)
      return undefined
    }
    let p = this.#pending.get(key)
    if (p === undefined) {
      if (this.#pending.size >= this.#max) {
        this.#errors.add('ip-fragment-table-full', frame)
        return undefined
      }
      p = { pieces: [], total: -1, bytes: 0, firstTs: ts, proto }
      this.#pending.set(key, p)
    }
    if (!more) {
      if (p.total !== -1 && p.total !== fragOff + len) {
        this.#errors.add('ip-fragment-inconsistent-length', frame)
        this.#pending.delete(key)
        return undefined
      }
      p.total = fragOff + len
    }
    if (p.total !== -1 && fragOff + len > p.total) {
      this.#errors.add('ip-fragment-beyond-end', frame)
      this.#pending.delete(key)
      return undefined
    }
    p.pieces.push({ off: fragOff, data: Buffer.from(buf.subarray(off, off + len)) })
    p.bytes += len
    if (p.pieces.length > 512 || p.bytes > 4 * MAX_DATAGRAM_BYTES) {
      this.#errors.add('ip-fragment-flood', frame)
      this.#pending.delete(key)
      return undefined
    }
    if (p.total === -1) return undefined
    // Complete when the pieces (sorted, first bytes win) cover [0, total) without a hole.
    const sorted = [...p.pieces].sort((a, b) => a.off - b.off)
    let covered = 0
    for (const piece of sorted) {
      if (piece.off > covered) return undefined
      covered = Math.max(covered, piece.off + piece.data.length)
    }
    if (covered < p.total) return undefined
    const out = Buffer.alloc(p.total)
    const filled = new Uint8Array(p.total)
    for (const piece of p.pieces) {
      // Arrival order: earlier fragments keep their bytes on overlap.
      for (let i = 0; i < piece.data.length && piece.off + i < p.total; i++) {
        const at = piece.off + i
        if (filled[at] === 0) {
          out[at] = piece.data[i] ?? 0
          filled[at] = 1
        }
      }
    }
    this.#pending.delete(key)
    return out
  }

  #sweep(ts: number): void {
    this.#sweepAt = ts + 1
    for (const [key, p] of this.#pending) {
      if (ts - p.firstTs > this.#timeout) {
        this.#errors.add('ip-fragment-timeout')
        this.#pending.delete(key)
      }
    }
  }
}
