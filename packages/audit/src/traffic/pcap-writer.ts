import { closeSync, openSync, writeSync } from 'node:fs'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'

export interface RotatingPcapWriterOptions {
  /** Start a new file when the current one reaches this size (bytes). @default no rotation */
  rotateBytes?: number
  /** Keep at most this many files; the oldest is not deleted, numbering just stops growing. @default 1000 */
  maxFiles?: number
  linktype: number
  snaplen?: number
}

/**
 * Writes packets to classic pcap files (µs timestamps, little-endian), rotating to
 * `name.1.pcap`, `name.2.pcap`, … when a size is given. Files are created 0600 and never
 * overwrite an existing file. Writes are buffered (1 MiB).
 */
export class RotatingPcapWriter {
  readonly files: string[] = []
  #fd = -1
  #size = 0
  #buf = Buffer.allocUnsafe(1024 * 1024)
  #used = 0
  readonly #base: string
  readonly #o: RotatingPcapWriterOptions

  constructor(path: string, options: RotatingPcapWriterOptions) {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('path: expected a non-empty string')
    if (options.rotateBytes !== undefined && (!Number.isInteger(options.rotateBytes) || options.rotateBytes < 1024)) {
      throw new InvalidArgumentError(`rotateBytes: expected an integer >= 1024, got ${options.rotateBytes}`)
    }
    this.#base = path
    this.#o = options
    this.#open()
  }

  #name(n: number): string {
    if (n === 0) return this.#base
    const dot = this.#base.lastIndexOf('.')
    return dot > 0 ? `${this.#base.slice(0, dot)}.${n}${this.#base.slice(dot)}` : `${this.#base}.${n}`
  }

  #open(): void {
    const name = this.#name(this.files.length)
    try {
      this.#fd = openSync(name, 'wx', 0o600)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new PeerguardError(
        code === 'EEXIST' ? 'already-exists' : 'io-error',
        `${name}: cannot create the capture file (${code})`,
        { cause: err }
      )
    }
    this.files.push(name)
    const h = Buffer.alloc(24)
    h.writeUInt32LE(0xa1b2c3d4, 0)
    h.writeUInt16LE(2, 4)
    h.writeUInt16LE(4, 6)
    h.writeUInt32LE(this.#o.snaplen ?? 262144, 16)
    h.writeUInt32LE(this.#o.linktype, 20)
    writeSync(this.#fd, h)
    this.#size = 24
  }

  write(buf: Buffer, off: number, caplen: number, origLen: number, ts: number): void {
    const need = 16 + caplen
    if (
      this.#o.rotateBytes !== undefined &&
      this.#size + need > this.#o.rotateBytes &&
      this.#size > 24 &&
      this.files.length < (this.#o.maxFiles ?? 1000)
    ) {
      this.#flush()
      closeSync(this.#fd)
      this.#open()
    }
    if (this.#used + need > this.#buf.length) this.#flush()
    if (need > this.#buf.length) this.#buf = Buffer.allocUnsafe(need)
    const sec = Math.floor(ts)
    this.#buf.writeUInt32LE(sec >>> 0, this.#used)
    this.#buf.writeUInt32LE(Math.min(999999, Math.round((ts - sec) * 1e6)), this.#used + 4)
    this.#buf.writeUInt32LE(caplen, this.#used + 8)
    this.#buf.writeUInt32LE(origLen, this.#used + 12)
    buf.copy(this.#buf, this.#used + 16, off, off + caplen)
    this.#used += need
    this.#size += need
  }

  #flush(): void {
    if (this.#used > 0) writeSync(this.#fd, this.#buf, 0, this.#used)
    this.#used = 0
  }

  close(): void {
    if (this.#fd < 0) return
    this.#flush()
    closeSync(this.#fd)
    this.#fd = -1
  }
}
