import { clean } from './text.js'

/** What a DNS-format message (DNS, mDNS, LLMNR, NBNS) reveals: names asked and answered. */
export interface DnsFacts {
  response: boolean
  questions: string[]
  /** Owner names of answer/authority/additional records. */
  answers: string[]
  /** Names pointed to by PTR/SRV/CNAME records. */
  targets: string[]
  /** Addresses announced for names (A/AAAA records). */
  addresses: { name: string; addr: string }[]
}

const MAX_RECORDS = 64

/**
 * Read a (possibly compressed) domain name at `o`; returns the name and the offset after it in
 * the record. Pointer loops and overlong names are rejected (RFC 1035 4.1.4).
 */
export function readName(b: Buffer, o: number, end: number): { name: string; next: number } | undefined {
  const labels: string[] = []
  let p = o
  let next = -1
  let jumps = 0
  let total = 0
  for (;;) {
    if (p >= end) return undefined
    const len = b[p]!
    if (len === 0) {
      if (next < 0) next = p + 1
      break
    }
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= end || ++jumps > 32) return undefined
      if (next < 0) next = p + 2
      p = ((len & 0x3f) << 8) | b[p + 1]!
      continue
    }
    if (len > 63 || p + 1 + len > end) return undefined
    total += len + 1
    if (total > 255) return undefined
    labels.push(b.toString('utf8', p + 1, p + 1 + len))
    p += 1 + len
  }
  return { name: clean(labels.join('.'), 255), next }
}

/** Parse the names out of a DNS-format message at `b[o, end)`; undefined when malformed. */
export function parseDnsMessage(b: Buffer, o: number, end: number): DnsFacts | undefined {
  if (end - o < 12) return undefined
  const flags = b.readUInt16BE(o + 2)
  const qd = b.readUInt16BE(o + 4)
  const rr = b.readUInt16BE(o + 6) + b.readUInt16BE(o + 8) + b.readUInt16BE(o + 10)
  const facts: DnsFacts = { response: (flags & 0x8000) !== 0, questions: [], answers: [], targets: [], addresses: [] }
  // Names are read relative to the message start, so slice it.
  const m = b.subarray(o, end)
  let p = 12
  for (let i = 0; i < qd && i < MAX_RECORDS; i++) {
    const n = readName(m, p, m.length)
    if (n === undefined || n.next + 4 > m.length) return i === 0 ? undefined : facts
    facts.questions.push(n.name)
    p = n.next + 4
  }
  for (let i = 0; i < rr && i < MAX_RECORDS; i++) {
    const n = readName(m, p, m.length)
    if (n === undefined || n.next + 10 > m.length) return facts
    const type = m.readUInt16BE(n.next)
    const rdlen = m.readUInt16BE(n.next + 8)
    const rd = n.next + 10
    if (rd + rdlen > m.length) return facts
    facts.answers.push(n.name)
    if (type === 1 && rdlen === 4) facts.addresses.push({ name: n.name, addr: `${m[rd]}.${m[rd + 1]}.${m[rd + 2]}.${m[rd + 3]}` })
    else if (type === 12 || type === 5) {
      const t = readName(m, rd, rd + rdlen)
      if (t !== undefined) facts.targets.push(t.name)
    } else if (type === 33 && rdlen > 6) {
      const t = readName(m, rd + 6, rd + rdlen)
      if (t !== undefined) facts.targets.push(t.name)
    }
    p = rd + rdlen
  }
  return facts
}

/** Decode a NetBIOS first-level encoded name (RFC 1001 14.1): 32 letters A..P → `NAME<xx>`. */
export function decodeNetbiosName(encoded: string): string | undefined {
  const label = encoded.split('.')[0] ?? ''
  if (label.length !== 32 || !/^[A-P]+$/.test(label)) return undefined
  let out = ''
  for (let i = 0; i < 32; i += 2) out += String.fromCharCode(((label.charCodeAt(i) - 65) << 4) | (label.charCodeAt(i + 1) - 65))
  const suffix = out.charCodeAt(15)
  return `${clean(out.slice(0, 15).trimEnd(), 15)}<${suffix.toString(16).padStart(2, '0')}>`
}
