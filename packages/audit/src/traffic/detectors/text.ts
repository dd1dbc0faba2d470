/** Small helpers shared by the application parsers. */

/** Printable text: control characters replaced, length capped. */
export function clean(s: string, max = 256): string {
  const t = s.replace(/[\u0000-\u001f\u007f]/g, '?')
  return t.length > max ? `${t.slice(0, max)}…` : t
}

/** UTF-16LE text of `buf[off, off+len)` (odd trailing byte dropped), cleaned. */
export function utf16(buf: Buffer, off: number, len: number, max = 256): string {
  if (off < 0 || len <= 0 || off >= buf.length) return ''
  const end = Math.min(buf.length, off + len)
  return clean(buf.toString('utf16le', off, off + ((end - off) & ~1)).replace(/\0+$/, ''), max)
}

/** Latin-1 text of `buf[off, off+len)`, cleaned. */
export function latin1(buf: Buffer, off: number, len: number, max = 256): string {
  if (off < 0 || len <= 0 || off >= buf.length) return ''
  return clean(buf.toString('latin1', off, Math.min(buf.length, off + len)), max)
}

/** Shannon entropy of `buf[off, off+len)` in bits per byte. */
export function entropy(buf: Buffer, off: number, len: number): number {
  if (len <= 0) return 0
  const counts = new Uint32Array(256)
  for (let i = off; i < off + len; i++) counts[buf[i]!]!++
  let h = 0
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!
    if (c === 0) continue
    const p = c / len
    h -= p * Math.log2(p)
  }
  return h
}

/** Add `value` to a bounded list of distinct values. */
export function addDistinct<T>(list: T[], value: T, max = 32): void {
  if (list.length < max && !list.includes(value)) list.push(value)
}
