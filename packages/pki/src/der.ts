/**
 * A small strict DER reader (ITU-T X.690 §8, §10) for the hot verification path.
 *
 * Why not @peculiar/asn1-schema: it parses one certificate in ~470 µs on this kind of machine,
 * more than the Ed25519 signature check itself, and the pki goal is full validation at ≥ 0.8×
 * node's bare signature check. This reader walks TLV headers over the original bytes (no copies)
 * and refuses everything DER forbids: indefinite lengths, non-minimal lengths, high tag numbers,
 * lengths past the end. It never throws anything but `DerError`; callers map that to their own
 * typed error (cert-malformed, crl-malformed, csr-malformed).
 */

/** A DER decoding failure; callers wrap it in the error of what they were parsing. */
export class DerError extends Error {
  override name = 'DerError'
}

/** Universal tags (X.690 §8.1.2.2 / X.680 §8.4). */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31
} as const

/** One element: its tag and where its header and contents lie in the source bytes. */
export interface Tlv {
  readonly tag: number
  /** Offset of the tag byte. */
  readonly start: number
  /** Offset of the first content byte. */
  readonly contentStart: number
  /** Offset just past the element. */
  readonly end: number
}

/** Reads consecutive elements from `bytes[offset..end)`. */
export class DerReader {
  readonly bytes: Uint8Array
  #pos: number
  readonly #end: number

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.#pos = start
    this.#end = end
  }

  /** True when every element has been read. */
  get done(): boolean {
    return this.#pos >= this.#end
  }

  /** The tag of the next element, or -1 at the end. */
  peekTag(): number {
    return this.#pos < this.#end ? (this.bytes[this.#pos] as number) : -1
  }

  /** Read the next element; with `tag`, require that tag. */
  read(tag?: number): Tlv {
    const b = this.bytes
    const start = this.#pos
    if (start + 2 > this.#end) throw new DerError('unexpected end of data')
    const t = b[start] as number
    if ((t & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here')
    if (tag !== undefined && t !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${t.toString(16)}`)
    let len = b[start + 1] as number
    let p = start + 2
    if (len & 0x80) {
      const n = len & 0x7f
      // 0x80 is the indefinite form (BER only); more than 4 length bytes is never needed here.
      if (n === 0 || n > 4) throw new DerError('indefinite or oversized length')
      if (p + n > this.#end) throw new DerError('unexpected end of data')
      if (b[p] === 0) throw new DerError('non-minimal length')
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + (b[p + i] as number)
      p += n
      if (len < 0x80) throw new DerError('non-minimal length')
    }
    const end = p + len
    if (end > this.#end) throw new DerError('length runs past the end of data')
    this.#pos = end
    return { tag: t, start, contentStart: p, end }
  }

  /** Read the next element if its tag is `tag`, else return undefined and read nothing. */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.read(tag) : undefined
  }

  /** A reader over the contents of a constructed element. */
  static inside(bytes: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(bytes, tlv.contentStart, tlv.end)
  }

  /** Fail when anything is left. */
  end(): void {
    if (!this.done) throw new DerError('unexpected data after the last element')
  }
}

/** Contents of an element as a subarray (no copy). */
export function contents(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.contentStart, tlv.end)
}

/** The whole element (header and contents) as a subarray (no copy). */
export function element(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.start, tlv.end)
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] as number]
  return s
}

/** OID contents as a key string (hex of the content bytes), e.g. Ed25519 → '2b6570'. */
export function oidKey(bytes: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== TAG.OID || tlv.end === tlv.contentStart) throw new DerError('bad OBJECT IDENTIFIER')
  // X.690 §8.19.2: each subidentifier is minimal (never starts with 0x80) and the last byte ends one.
  let start = true
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const b = bytes[i] as number
    if (start && b === 0x80) throw new DerError('non-minimal OID component')
    start = (b & 0x80) === 0
  }
  if (!start) throw new DerError('truncated OID')
  return toHex(contents(bytes, tlv))
}

/** Dotted form of an OID from its content bytes (X.690 §8.19). */
export function oidToString(content: Uint8Array): string {
  const parts: number[] = []
  let value = 0
  for (let i = 0; i < content.length; i++) {
    const b = content[i] as number
    if (value === 0 && b === 0x80) throw new DerError('non-minimal OID component')
    value = value * 128 + (b & 0x7f)
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('OID component too large')
    if ((b & 0x80) === 0) {
      parts.push(value)
      value = 0
    } else if (i === content.length - 1) {
      throw new DerError('truncated OID')
    }
  }
  if (parts.length === 0) throw new DerError('empty OID')
  const first = parts[0] as number
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80]
  return [...head, ...parts.slice(1)].join('.')
}

/** A non-negative DER INTEGER as lowercase hex of its minimal bytes: even length, no leading 00 byte ('00' for zero). */
export function unsignedIntegerHex(bytes: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== TAG.INTEGER || tlv.end === tlv.contentStart) throw new DerError('bad INTEGER')
  const c = contents(bytes, tlv)
  if (c.length > 1 && ((c[0] === 0 && ((c[1] as number) & 0x80) === 0) || (c[0] === 0xff && ((c[1] as number) & 0x80) !== 0))) {
    throw new DerError('non-minimal INTEGER')
  }
  if (((c[0] as number) & 0x80) !== 0) throw new DerError('negative INTEGER')
  let i = 0
  while (i < c.length - 1 && c[i] === 0) i++
  return toHex(c.subarray(i))
}

/** A small non-negative INTEGER as a number. */
export function smallInteger(bytes: Uint8Array, tlv: Tlv): number {
  const hex = unsignedIntegerHex(bytes, tlv)
  if (hex.length > 12) throw new DerError('INTEGER too large')
  return Number.parseInt(hex, 16)
}

/** DER BOOLEAN (X.690 §11.1: TRUE is 0xff). */
export function readBoolean(bytes: Uint8Array, tlv: Tlv): boolean {
  if (tlv.tag !== TAG.BOOLEAN || tlv.end - tlv.contentStart !== 1) throw new DerError('bad BOOLEAN')
  const v = bytes[tlv.contentStart]
  if (v === 0xff) return true
  if (v === 0) return false
  throw new DerError('non-DER BOOLEAN')
}

/** BIT STRING contents with zero unused bits (keys and signatures). */
export function bitStringBytes(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  if (tlv.tag !== TAG.BIT_STRING || tlv.end === tlv.contentStart) throw new DerError('bad BIT STRING')
  if (bytes[tlv.contentStart] !== 0) throw new DerError('BIT STRING with unused bits')
  return bytes.subarray(tlv.contentStart + 1, tlv.end)
}

/** BIT STRING as a bit mask: bit n of the ASN.1 named-bit list → (1 << n). */
export function bitStringFlags(bytes: Uint8Array, tlv: Tlv): number {
  if (tlv.tag !== TAG.BIT_STRING || tlv.end === tlv.contentStart) throw new DerError('bad BIT STRING')
  const unused = bytes[tlv.contentStart] as number
  const data = bytes.subarray(tlv.contentStart + 1, tlv.end)
  if (unused > 7 || (data.length === 0 && unused !== 0)) throw new DerError('bad BIT STRING')
  let flags = 0
  for (let i = 0; i < data.length && i < 4; i++) {
    const byte = data[i] as number
    for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) flags |= 1 << (i * 8 + bit)
  }
  return flags
}

const TEXT_DECODER = new TextDecoder('utf-8', { fatal: true })

/** A directory string (UTF8String, PrintableString, IA5String, T61String, BMPString) as text. */
export function readString(bytes: Uint8Array, tlv: Tlv): string {
  const c = contents(bytes, tlv)
  switch (tlv.tag) {
    case TAG.UTF8_STRING:
      try {
        return TEXT_DECODER.decode(c)
      } catch {
        throw new DerError('bad UTF8String')
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING: {
      let s = ''
      for (let i = 0; i < c.length; i++) {
        const ch = c[i] as number
        if (ch > 0x7f) throw new DerError('non-ASCII byte in an ASCII string')
        s += String.fromCharCode(ch)
      }
      return s
    }
    case TAG.BMP_STRING: {
      if (c.length % 2 !== 0) throw new DerError('bad BMPString')
      let s = ''
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode(((c[i] as number) << 8) | (c[i + 1] as number))
      return s
    }
    default:
      throw new DerError(`unsupported string tag 0x${tlv.tag.toString(16)}`)
  }
}

function digits(bytes: Uint8Array, from: number, count: number): number {
  let v = 0
  for (let i = from; i < from + count; i++) {
    const d = (bytes[i] as number) - 0x30
    if (d < 0 || d > 9) throw new DerError('bad digit in time')
    v = v * 10 + d
  }
  return v
}

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile (Zulu, seconds, no fractions). */
export function readTime(bytes: Uint8Array, tlv: Tlv): number {
  const p = tlv.contentStart
  const len = tlv.end - p
  let year: number
  let q: number
  if (tlv.tag === TAG.UTC_TIME) {
    if (len !== 13) throw new DerError('bad UTCTime')
    const yy = digits(bytes, p, 2)
    year = yy >= 50 ? 1900 + yy : 2000 + yy // RFC 5280 §4.1.2.5.1
    q = p + 2
  } else if (tlv.tag === TAG.GENERALIZED_TIME) {
    if (len !== 15) throw new DerError('bad GeneralizedTime')
    year = digits(bytes, p, 4)
    q = p + 4
  } else {
    throw new DerError('expected a time')
  }
  if (bytes[tlv.end - 1] !== 0x5a) throw new DerError('time is not in UTC (Z)')
  const month = digits(bytes, q, 2)
  const day = digits(bytes, q + 2, 2)
  const hour = digits(bytes, q + 4, 2)
  const minute = digits(bytes, q + 6, 2)
  const second = digits(bytes, q + 8, 2)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new DerError('time out of range')
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  if (new Date(ms).getUTCDate() !== day) throw new DerError('no such day')
  return ms
}
