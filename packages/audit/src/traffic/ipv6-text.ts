/** Direct-mapped slots of Ipv6TextCache (a power of two). */
const SLOTS = 256

/**
 * The RFC 5952 text of IPv6 addresses, remembered by their 16 bytes in a small direct-mapped
 * table: a packet whose addresses were seen recently builds no string (the decoder formatted
 * both addresses of every IPv6 packet; issue 15). A hit compares all 16 bytes, so the text is
 * always exactly `ipv6String` of the bytes.
 */
export class Ipv6TextCache {
  readonly #words = new Int32Array(SLOTS * 4)
  readonly #text: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined)

  /** The text form of the address at `buf[o, o+16)`. */
  text(buf: Buffer, o: number): string {
    const w0 = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!
    const w1 = (buf[o + 4]! << 24) | (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!
    const w2 = (buf[o + 8]! << 24) | (buf[o + 9]! << 16) | (buf[o + 10]! << 8) | buf[o + 11]!
    const w3 = (buf[o + 12]! << 24) | (buf[o + 13]! << 16) | (buf[o + 14]! << 8) | buf[o + 15]!
    const h = Math.imul(Math.imul(Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b) ^ w1, 0xc2b2ae35) ^ w2, 0x27d4eb2f) ^ w3
    const slot = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 24) & (SLOTS - 1)
    const words = this.#words
    const at = slot * 4
    const known = this.#text[slot]
    if (known !== undefined && words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3)
      return known
    const text = ipv6String(buf, o)
    words[at] = w0
    words[at + 1] = w1
    words[at + 2] = w2
    words[at + 3] = w3
    this.#text[slot] = text
    return text
  }
}

/** RFC 5952 text form of the IPv6 address at `buf[o, o+16)`. */
export function ipv6String(buf: Buffer, o: number): string {
  const words: number[] = []
  for (let i = 0; i < 8; i++) words.push((buf[o + 2 * i]! << 8) | buf[o + 2 * i + 1]!)
  // Longest run of two or more zero words becomes "::".
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestStart === -1) return words.map((w) => w.toString(16)).join(':')
  const head = words.slice(0, bestStart).map((w) => w.toString(16))
  const tail = words.slice(bestStart + bestLen).map((w) => w.toString(16))
  return `${head.join(':')}::${tail.join(':')}`
}
