/** A decoded bencode value (BEP 3). Byte strings stay Buffers. */
export type Bencoded = number | Buffer | Bencoded[] | Map<string, Bencoded>

/** Nesting and element limits: garbage cannot recurse deeply or allocate much. */
const MAX_DEPTH = 16
const MAX_ITEMS = 4096

/**
 * Decode a bencoded value from `buf[off, end)`; undefined for anything malformed (never throws,
 * never loops: every step consumes at least one byte, depth and item count are bounded).
 */
export function decodeBencode(buf: Buffer, off = 0, end = buf.length): Bencoded | undefined {
  const state = { pos: off, items: 0 }
  try {
    const v = value(buf, state, end, 0)
    return v
  } catch {
    return undefined
  }
}

function fail(): never {
  throw new Error('bencode')
}

function value(buf: Buffer, s: { pos: number; items: number }, end: number, depth: number): Bencoded {
  if (s.pos >= end || depth > MAX_DEPTH || ++s.items > MAX_ITEMS) fail()
  const c = buf[s.pos]!
  if (c === 0x69) {
    // i<digits>e
    const e = buf.indexOf(0x65, s.pos + 1)
    if (e < 0 || e >= end || e - s.pos > 21) fail()
    const text = buf.toString('latin1', s.pos + 1, e)
    if (!/^-?\d+$/.test(text)) fail()
    s.pos = e + 1
    return Number(text)
  }
  if (c === 0x6c || c === 0x64) {
    s.pos++
    const list: Bencoded[] = []
    const dict = new Map<string, Bencoded>()
    for (;;) {
      if (s.pos >= end) fail()
      if (buf[s.pos] === 0x65) {
        s.pos++
        return c === 0x6c ? list : dict
      }
      if (c === 0x6c) list.push(value(buf, s, end, depth + 1))
      else {
        const k = value(buf, s, end, depth + 1)
        if (!Buffer.isBuffer(k)) fail()
        dict.set(k.toString('latin1'), value(buf, s, end, depth + 1))
      }
    }
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = buf.indexOf(0x3a, s.pos)
    if (colon < 0 || colon >= end || colon - s.pos > 10) fail()
    const text = buf.toString('latin1', s.pos, colon)
    if (!/^\d+$/.test(text)) fail()
    const n = Number(text)
    if (colon + 1 + n > end) fail()
    s.pos = colon + 1 + n
    return buf.subarray(colon + 1, colon + 1 + n)
  }
  return fail()
}
