import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { CaptureFormatError, CaptureNotAFileError } from './errors.js'
import type { ParseErrors } from './parse-errors.js'

/** Receives every packet record of a capture. `buf` is only valid during the call. */
export interface PacketSink {
  packet(linktype: number, buf: Buffer, off: number, caplen: number, origLen: number, ts: number): void
}

/** What the reader learnt about the file. */
export interface CaptureInfo {
  format: 'pcap' | 'pcapng'
  /** Link types seen (pcap: one; pcapng: one per interface). */
  linktypes: number[]
  packets: number
  bytesRead: number
  /** True when the file ended inside a record or a record had an impossible length. */
  truncated: boolean
  /**
   * `ok`; `truncated` (the file ends inside a record: a capture cut short); `corrupt` (a record
   * with an impossible length or a broken block: the rest of the file was not read).
   */
  integrity: CaptureIntegrity
}

export type CaptureIntegrity = 'ok' | 'truncated' | 'corrupt'

/** Largest record accepted (bytes). Larger lengths are treated as corruption. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024
/**
 * A pcap record longer than the header's snaplen and than this is corrupt (libpcap's
 * MAXIMUM_SNAPLEN, pcap-int.h: it refuses such records as "bogus savefile header").
 */
export const PCAP_MAX_SNAPLEN = 262_144
/** Bytes of the smallest pcapng section header block (type, length, byte-order magic, version, section length, length). */
const PCAPNG_SHB_MIN_BYTES = 28
const PCAPNG_SHB = 0x0a0d0d0a
const PCAPNG_BOM = 0x1a2b3c4d
/** Custom option codes, allowed in any block (pcapng spec, section 3.5.1). */
const CUSTOM_OPTIONS = new Set([2988, 2989, 19372, 19373])
/** Name resolution record types and their least value length: IPv4, IPv6, EUI-48, EUI-64 (each + a name). */
const NAME_RECORD_MIN = new Map([
  [1, 5],
  [2, 17],
  [3, 7],
  [4, 9]
])
/** Options of a name resolution block: code → fixed length (undefined: variable). */
const NRB_OPTIONS = new Map<number, number | undefined>([
  [2, undefined],
  [3, 4],
  [4, 16]
])
/** Options of an interface description block: code → fixed length (undefined: variable). */
const IDB_OPTIONS = new Map<number, number | undefined>([
  [2, undefined],
  [3, undefined],
  [4, 8],
  [5, 17],
  [6, 6],
  [7, 8],
  [8, 8],
  [9, 1],
  [10, 4],
  [11, undefined],
  [12, undefined],
  [13, 1],
  [14, 8],
  [15, undefined],
  [16, 8],
  [17, 8],
  [18, undefined]
])
/** Secrets types of a decryption secrets block: TLS key log, SSH, WireGuard, ZigBee NWK and APS, OPC UA. */
const SECRETS_TYPES = new Set([0x544c534b, 0x5353484b, 0x57474b4c, 0x5a4e574b, 0x5a415053, 0x55414b4c])
/** A block whose only options are comments and custom options. */
const NO_OPTIONS = new Map<number, number | undefined>()
/** A systemd journal field name byte: A–Z, 0–9, `_`. */
const isJournalNameByte = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f

/** Options of an interface statistics block: start and end time and five 64-bit counters. */
const ISB_OPTIONS = new Map<number, number | undefined>([2, 3, 4, 5, 6, 7, 8].map((code) => [code, 8]))

interface PcapngInterface {
  linktype: number
  /** Divisor from timestamp units to seconds. */
  tsDiv: number
}

/**
 * Push parser for classic pcap (µs and ns, both byte orders) and pcapng (SHB/IDB/EPB/SPB/PB,
 * several sections and interfaces, per-interface `if_tsresol`). The format is chosen by the magic
 * number, never by the file name. Records are handed to the sink without copying.
 */
export class CaptureParser {
  format: 'pcap' | 'pcapng' | undefined
  packets = 0
  truncated = false
  /** Set when parsing cannot continue (corrupt length): the rest of the input is ignored. */
  stopped = false
  /** Set with `stopped`: the input is corrupt, not merely cut short. */
  corrupt = false
  #snaplen = 0
  /** Bytes the next record needs in one piece (for callers growing their buffer). */
  need = 24
  readonly linktypes: number[] = []
  #le = true
  #linktype = 1
  #tsDiv = 1e6
  #ifaces: PcapngInterface[] = []
  readonly #sink: PacketSink
  readonly #errors: ParseErrors

  constructor(sink: PacketSink, errors: ParseErrors) {
    this.#sink = sink
    this.#errors = errors
  }

  /**
   * Parse whole records in `buf[start, end)`; returns the offset of the first unparsed byte.
   * With `eof`, a partial trailing record is counted as truncation.
   */
  parse(buf: Buffer, start: number, end: number, eof: boolean): number {
    let pos = start
    if (this.format === undefined) {
      if (end - pos < 4) {
        if (eof) throw new CaptureFormatError(`not a capture file: only ${end - pos} bytes`)
        this.need = 24
        return pos
      }
      pos = this.#header(buf, pos, end, eof)
      if (this.format === undefined) return pos
    }
    pos = this.format === 'pcap' ? this.#pcapRecords(buf, pos, end) : this.#pcapngBlocks(buf, pos, end)
    if (eof && pos < end && !this.stopped) {
      this.truncated = true
      this.#errors.add('capture-truncated-record', this.packets + 1)
      pos = end
    }
    return pos
  }

  #header(buf: Buffer, pos: number, end: number, eof: boolean): number {
    const magicLE = buf.readUInt32LE(pos)
    if (magicLE === PCAPNG_SHB) {
      // Like a pcap global header, the first section header must be whole and name a byte order.
      if (end - pos < 12) {
        if (eof) throw new CaptureFormatError(`truncated pcapng section header block: only ${end - pos} bytes`)
        this.need = PCAPNG_SHB_MIN_BYTES
        return pos
      }
      const bom = buf.readUInt32LE(pos + 8)
      if (bom !== PCAPNG_BOM && bom !== 0x4d3c2b1a)
        throw new CaptureFormatError(
          `not a pcapng file: byte-order magic 0x${buf
            .readUInt32BE(pos + 8)
            .toString(16)
            .padStart(8, '0')}`
        )
      if (end - pos < PCAPNG_SHB_MIN_BYTES) {
        if (eof) throw new CaptureFormatError(`truncated pcapng section header block: only ${end - pos} bytes`)
        this.need = PCAPNG_SHB_MIN_BYTES
        return pos
      }
      this.format = 'pcapng'
      this.need = 12
      return pos
    }
    let le: boolean
    let nano: boolean
    switch (magicLE) {
      case 0xa1b2c3d4:
        le = true
        nano = false
        break
      case 0xa1b23c4d:
        le = true
        nano = true
        break
      case 0xd4c3b2a1:
        le = false
        nano = false
        break
      case 0x4d3cb2a1:
        le = false
        nano = true
        break
      default:
        throw new CaptureFormatError(
          `not a pcap or pcapng file: magic number 0x${buf.readUInt32BE(pos).toString(16).padStart(8, '0')}`
        )
    }
    if (end - pos < 24) {
      if (eof) throw new CaptureFormatError('truncated pcap global header')
      this.need = 24
      return pos
    }
    this.#le = le
    this.#tsDiv = nano ? 1e9 : 1e6
    // The upper bits of the link-type field may carry FCS information (pcap spec, section 4).
    this.#linktype = (le ? buf.readUInt32LE(pos + 20) : buf.readUInt32BE(pos + 20)) & 0x0fffffff
    this.#snaplen = le ? buf.readUInt32LE(pos + 16) : buf.readUInt32BE(pos + 16)
    this.linktypes.push(this.#linktype)
    this.format = 'pcap'
    this.need = 16
    return pos + 24
  }

  #pcapRecords(buf: Buffer, pos: number, end: number): number {
    const le = this.#le
    const sink = this.#sink
    const linktype = this.#linktype
    const div = this.#tsDiv
    while (end - pos >= 16) {
      let sec: number
      let frac: number
      let incl: number
      let orig: number
      if (le) {
        // Byte arithmetic beats readUInt32LE on this path (one call per field per packet).
        sec = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0
        frac = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0
        incl = (buf[pos + 8]! | (buf[pos + 9]! << 8) | (buf[pos + 10]! << 16) | (buf[pos + 11]! << 24)) >>> 0
        orig = (buf[pos + 12]! | (buf[pos + 13]! << 8) | (buf[pos + 14]! << 16) | (buf[pos + 15]! << 24)) >>> 0
      } else {
        sec = buf.readUInt32BE(pos)
        frac = buf.readUInt32BE(pos + 4)
        incl = buf.readUInt32BE(pos + 8)
        orig = buf.readUInt32BE(pos + 12)
      }
      if (incl > MAX_RECORD_BYTES || (incl > this.#snaplen && incl > PCAP_MAX_SNAPLEN)) {
        // A classic pcap file has no resynchronisation marker: stop here and say so.
        this.#errors.add(
          incl > MAX_RECORD_BYTES ? 'capture-absurd-record-length' : 'capture-record-exceeds-snaplen',
          this.packets + 1
        )
        this.#corrupt()
        return end
      }
      if (end - pos - 16 < incl) {
        this.need = incl + 16
        return pos
      }
      if (orig < incl) {
        this.#errors.add('capture-caplen-exceeds-length', this.packets + 1)
        orig = incl
      }
      this.packets++
      sink.packet(linktype, buf, pos + 16, incl, orig, sec + frac / div)
      pos += 16 + incl
    }
    this.need = 16
    return pos
  }

  #corrupt(): void {
    this.truncated = true
    this.stopped = true
    this.corrupt = true
  }

  /** What the parse found about the file as a whole. */
  get integrity(): CaptureIntegrity {
    return this.corrupt ? 'corrupt' : this.truncated ? 'truncated' : 'ok'
  }

  #u32(buf: Buffer, o: number): number {
    return this.#le ? buf.readUInt32LE(o) : buf.readUInt32BE(o)
  }

  #u16(buf: Buffer, o: number): number {
    return this.#le ? buf.readUInt16LE(o) : buf.readUInt16BE(o)
  }

  #pcapngBlocks(buf: Buffer, pos: number, end: number): number {
    while (end - pos >= 12) {
      const typeLE = buf.readUInt32LE(pos)
      if (typeLE === PCAPNG_SHB) {
        // The byte-order magic decides how to read everything in this section, the length included.
        const bom = buf.readUInt32LE(pos + 8)
        if (bom === PCAPNG_BOM) this.#le = true
        else if (bom === 0x4d3c2b1a) this.#le = false
        else {
          this.#errors.add('pcapng-bad-byte-order-magic', this.packets + 1)
          this.#corrupt()
          return end
        }
      }
      const type = this.#u32(buf, pos)
      const len = this.#u32(buf, pos + 4)
      if (len < 12 || len % 4 !== 0 || len > MAX_RECORD_BYTES) {
        this.#errors.add('pcapng-bad-block-length', this.packets + 1)
        this.#corrupt()
        return end
      }
      if (end - pos < len) {
        this.need = len
        return pos
      }
      if (this.#u32(buf, pos + len - 4) !== len) this.#errors.add('pcapng-block-length-mismatch', this.packets + 1)
      const body = pos + 8
      const bodyEnd = pos + len - 4
      switch (type) {
        case PCAPNG_SHB:
          this.#ifaces = []
          break
        case 1:
          this.#idb(buf, body, bodyEnd)
          break
        case 6:
          this.#epb(buf, body, bodyEnd)
          break
        case 3:
          this.#spb(buf, body, bodyEnd)
          break
        case 2:
          this.#oldPacketBlock(buf, body, bodyEnd)
          break
        case 4:
          this.#nameResolutionBlock(buf, body, bodyEnd)
          break
        case 5:
          this.#interfaceStatisticsBlock(buf, body, bodyEnd)
          break
        case 9:
          this.#journalBlock(buf, body, bodyEnd)
          break
        case 10:
          this.#decryptionSecretsBlock(buf, body, bodyEnd)
          break
        case 0xbad:
        case 0x40000bad:
          // custom blocks are opaque past their Private Enterprise Number; 0 is reserved (IANA)
          if (bodyEnd - body < 4 || this.#u32(buf, body) === 0) this.#errors.add('pcapng-bad-custom-block', this.packets + 1)
          break
        default:
          this.#errors.add('pcapng-unknown-block', this.packets + 1)
      }
      pos += len
    }
    this.need = 12
    return pos
  }

  #idb(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 8) {
      this.#errors.add('pcapng-short-interface-block', this.packets + 1)
      this.#ifaces.push({ linktype: 1, tsDiv: 1e6 })
      return
    }
    const linktype = this.#u16(buf, body)
    let tsDiv = 1e6
    this.#options(buf, body + 8, bodyEnd, IDB_OPTIONS, (code, at) => {
      if (code !== 9) return
      const v = buf[at] ?? 6
      // if_tsresol: high bit clear = 10^-n, set = 2^-n (pcapng spec, section 4.2).
      tsDiv = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v
      if (!Number.isFinite(tsDiv) || tsDiv <= 0) tsDiv = 1e6
    })
    this.#ifaces.push({ linktype, tsDiv })
    if (!this.linktypes.includes(linktype)) this.linktypes.push(linktype)
  }

  /**
   * Walk the options from `o` to the end of the block body: each must fit, have a code this block
   * defines (or a comment or custom code) and that code's length. A block whose options do not read
   * is counted as damaged, so a packet block whose type byte was damaged into one of these does not
   * vanish without a trace.
   */
  #options(
    buf: Buffer,
    o: number,
    bodyEnd: number,
    lengths: ReadonlyMap<number, number | undefined>,
    each?: (code: number, at: number, length: number) => void
  ): void {
    while (bodyEnd - o >= 4) {
      const code = this.#u16(buf, o)
      const olen = this.#u16(buf, o + 2)
      if (code === 0) return
      if (o + 4 + olen > bodyEnd) {
        this.#errors.add('pcapng-bad-option', this.packets + 1)
        return
      }
      // opt_comment (1) and the custom options are allowed in every block.
      if (code !== 1 && !CUSTOM_OPTIONS.has(code)) {
        if (!lengths.has(code)) {
          this.#errors.add('pcapng-unknown-option', this.packets + 1)
          return
        }
        const fixed = lengths.get(code)
        if (fixed !== undefined && olen !== fixed) {
          this.#errors.add('pcapng-bad-option', this.packets + 1)
          return
        }
      }
      each?.(code, o + 4, olen)
      o += 4 + ((olen + 3) & ~3)
    }
    if (o !== bodyEnd) this.#errors.add('pcapng-bad-option', this.packets + 1)
  }

  /** Name resolution block: records up to nrb_record_end, then options; the names are not used. */
  #nameResolutionBlock(buf: Buffer, body: number, bodyEnd: number): void {
    let o = body
    for (;;) {
      if (bodyEnd - o < 4) {
        this.#errors.add('pcapng-bad-name-record', this.packets + 1)
        return
      }
      const type = this.#u16(buf, o)
      const rlen = this.#u16(buf, o + 2)
      if (type === 0) {
        o += 4
        break
      }
      const min = NAME_RECORD_MIN.get(type)
      if (min === undefined || rlen < min || o + 4 + rlen > bodyEnd) {
        this.#errors.add('pcapng-bad-name-record', this.packets + 1)
        return
      }
      o += 4 + ((rlen + 3) & ~3)
    }
    this.#options(buf, o, bodyEnd, NRB_OPTIONS)
  }

  /**
   * systemd journal export block: one journal entry in the export format, which starts with a
   * field name (A–Z, 0–9, `_`) and `=` or a newline. Its content is not used.
   */
  #journalBlock(buf: Buffer, body: number, bodyEnd: number): void {
    let o = body
    while (o < bodyEnd && o - body < 64 && isJournalNameByte(buf[o] as number)) o++
    const after = buf[o]
    if (o === body || o >= bodyEnd || (after !== 0x3d && after !== 0x0a))
      this.#errors.add('pcapng-bad-journal-block', this.packets + 1)
  }

  /** Decryption secrets block: a known secrets type, its length, the secrets, then options. */
  #decryptionSecretsBlock(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 8) {
      this.#errors.add('pcapng-bad-secrets-block', this.packets + 1)
      return
    }
    const type = this.#u32(buf, body)
    const length = this.#u32(buf, body + 4)
    if (!SECRETS_TYPES.has(type) || length > bodyEnd - body - 8) {
      this.#errors.add('pcapng-bad-secrets-block', this.packets + 1)
      return
    }
    this.#options(buf, body + 8 + ((length + 3) & ~3), bodyEnd, NO_OPTIONS)
  }

  /** Interface statistics block: interface ID, timestamp, counters as options (not used). */
  #interfaceStatisticsBlock(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 12) {
      this.#errors.add('pcapng-short-statistics-block', this.packets + 1)
      return
    }
    this.#iface(this.#u32(buf, body))
    this.#options(buf, body + 12, bodyEnd, ISB_OPTIONS)
  }

  #iface(id: number): PcapngInterface | undefined {
    const iface = this.#ifaces[id]
    if (iface === undefined) this.#errors.add('pcapng-unknown-interface', this.packets + 1)
    return iface
  }

  #epb(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 20) {
      this.#errors.add('pcapng-short-packet-block', this.packets + 1)
      return
    }
    const iface = this.#iface(this.#u32(buf, body))
    const ts = (this.#u32(buf, body + 4) * 4294967296 + this.#u32(buf, body + 8)) / (iface?.tsDiv ?? 1e6)
    let caplen = this.#u32(buf, body + 12)
    let orig = this.#u32(buf, body + 16)
    if (caplen > bodyEnd - body - 20) {
      this.#errors.add('pcapng-caplen-exceeds-block', this.packets + 1)
      caplen = bodyEnd - body - 20
    }
    if (orig < caplen) orig = caplen
    this.packets++
    if (iface !== undefined) this.#sink.packet(iface.linktype, buf, body + 20, caplen, orig, ts)
  }

  #spb(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 4) {
      this.#errors.add('pcapng-short-packet-block', this.packets + 1)
      return
    }
    const iface = this.#iface(0)
    const orig = this.#u32(buf, body)
    const caplen = Math.min(orig, bodyEnd - body - 4)
    this.packets++
    if (iface !== undefined) this.#sink.packet(iface.linktype, buf, body + 4, caplen, Math.max(orig, caplen), 0)
  }

  #oldPacketBlock(buf: Buffer, body: number, bodyEnd: number): void {
    if (bodyEnd - body < 20) {
      this.#errors.add('pcapng-short-packet-block', this.packets + 1)
      return
    }
    const iface = this.#iface(this.#u16(buf, body))
    const ts = (this.#u32(buf, body + 4) * 4294967296 + this.#u32(buf, body + 8)) / (iface?.tsDiv ?? 1e6)
    const caplen = Math.min(this.#u32(buf, body + 12), bodyEnd - body - 20)
    const orig = Math.max(this.#u32(buf, body + 16), caplen)
    this.packets++
    if (iface !== undefined) this.#sink.packet(iface.linktype, buf, body + 20, caplen, orig, ts)
  }
}

export interface ReadCaptureOptions {
  /** Read buffer size in bytes. @default 4 MiB */
  chunkBytes?: number
  /** Stop early when aborted (the packets read so far still count). */
  signal?: AbortSignal
  /** Called after each read with the bytes read so far and the file size (progress display). */
  onProgress?: (bytesRead: number, totalBytes: number) => void
}

/**
 * Stream the capture at `path` into `sink` in bounded memory (one read buffer, grown only for a
 * record larger than it). Throws CaptureFormatError for a file that is not a capture at all;
 * damage after the header is counted in `errors` and reading stops or skips, never throws.
 */
export async function readCaptureFile(
  path: string,
  sink: PacketSink,
  errors: ParseErrors,
  options: ReadCaptureOptions = {}
): Promise<CaptureInfo> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('path: expected a non-empty string')
  const chunk = options.chunkBytes ?? 4 * 1024 * 1024
  if (!Number.isInteger(chunk) || chunk < 64)
    throw new InvalidArgumentError(`chunkBytes: expected an integer >= 64, got ${chunk}`)
  const parser = new CaptureParser(sink, errors)
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new PeerguardError('not-found', `${path}: no such capture file`, { cause: err })
    throw new PeerguardError('io-error', `${path}: cannot open the capture file (${code ?? 'error'})`, { cause: err })
  }
  let total: number
  try {
    const st = fstatSync(fd)
    // A FIFO is fine (`tcpdump -w - | peerguard audit read /dev/stdin`); a directory never is.
    if (st.isDirectory())
      throw new CaptureNotAFileError(`${path}: is a directory, expected a capture file`, {
        details: { file: path, hint: 'give the path of a .pcap or .pcapng file' }
      })
    total = st.size
  } catch (err) {
    closeSync(fd)
    throw err
  }
  let buf = Buffer.allocUnsafe(chunk)
  let start = 0
  let end = 0
  let eof = false
  let bytesRead = 0
  try {
    for (let reads = 0; ; reads++) {
      if (options.signal?.aborted === true) break
      // Synchronous reads of large chunks: no thread-pool round trip per chunk. Yield to the
      // event loop every few chunks so signals (Ctrl-C) and timers still run.
      if (reads % 8 === 7) await new Promise((resolve) => setImmediate(resolve))
      if (!eof) {
        const n = readSync(fd, buf, end, buf.length - end, null)
        if (n === 0) eof = true
        end += n
        bytesRead += n
        options.onProgress?.(bytesRead, total)
      }
      start = parser.parse(buf, start, end, eof)
      if (parser.stopped || eof) break
      // Keep the unparsed tail and make room for the next record.
      if (start > 0) {
        buf.copy(buf, 0, start, end)
        end -= start
        start = 0
      }
      if (parser.need > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(MAX_RECORD_BYTES + 64, Math.max(parser.need, buf.length * 2)))
        buf.copy(bigger, 0, 0, end)
        buf = bigger
      }
    }
  } finally {
    closeSync(fd)
  }
  if (parser.format === undefined) throw new CaptureFormatError('not a capture file: empty or too short')
  return {
    format: parser.format,
    linktypes: parser.linktypes,
    packets: parser.packets,
    bytesRead,
    truncated: parser.truncated,
    integrity: parser.integrity
  }
}
