/** Builders of synthetic frames and capture files for the traffic-auditor tests. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The ground-truth corpus, copied from ../shared/corpus/pcaps (see its README.md). */
export const CORPUS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'pcaps')

export function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number))
}

export function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined]
  const h = head === '' ? [] : head!.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const words = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const b = Buffer.alloc(16)
  for (const [i, w] of words.entries()) b.writeUInt16BE(Number.parseInt(w, 16), 2 * i)
  return b
}

export interface TcpOptions {
  seq?: number
  ack?: number
  flags?: number
  options?: Buffer
}

export const SYN = 0x02
export const ACK = 0x10
export const PSH = 0x08
export const FIN = 0x01

export function tcp(sport: number, dport: number, payload: Buffer = Buffer.alloc(0), o: TcpOptions = {}): Buffer {
  const opts = o.options ?? Buffer.alloc(0)
  const hl = 20 + opts.length
  const b = Buffer.alloc(hl + payload.length)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  b.writeUInt32BE((o.seq ?? 1) >>> 0, 4)
  b.writeUInt32BE((o.ack ?? 0) >>> 0, 8)
  b[12] = (hl / 4) << 4
  b[13] = o.flags ?? ACK | PSH
  b.writeUInt16BE(65535, 14)
  opts.copy(b, 20)
  payload.copy(b, hl)
  return b
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(8 + payload.length)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  b.writeUInt16BE(8 + payload.length, 4)
  payload.copy(b, 8)
  return b
}

export interface Ipv4Options {
  id?: number
  /** Fragment offset in bytes (multiple of 8). */
  fragOffset?: number
  more?: boolean
  ihl?: number
  totalLength?: number
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, o: Ipv4Options = {}): Buffer {
  const b = Buffer.alloc(20 + payload.length)
  b[0] = 0x40 | (o.ihl ?? 5)
  b.writeUInt16BE(o.totalLength ?? 20 + payload.length, 2)
  b.writeUInt16BE(o.id ?? 1, 4)
  b.writeUInt16BE(((o.more ? 1 : 0) << 13) | ((o.fragOffset ?? 0) / 8), 6)
  b[8] = 64
  b[9] = proto
  ipv4Bytes(src).copy(b, 12)
  ipv4Bytes(dst).copy(b, 16)
  payload.copy(b, 20)
  return b
}

/** IPv6 with optional extension headers given as [nextHeaderValue, body] (body length multiple of 8 minus 2). */
export function ipv6(
  src: string,
  dst: string,
  proto: number,
  payload: Buffer,
  ext: { type: number; body: Buffer }[] = []
): Buffer {
  const parts: Buffer[] = []
  let first = proto
  for (let i = ext.length - 1; i >= 0; i--) {
    const e = ext[i]!
    const h = Buffer.alloc(2 + e.body.length)
    h[0] = first
    h[1] = e.type === 44 ? 0 : (h.length >> 3) - 1
    e.body.copy(h, 2)
    parts.unshift(h)
    first = e.type
  }
  const rest = Buffer.concat([...parts, payload])
  const b = Buffer.alloc(40)
  b[0] = 0x60
  b.writeUInt16BE(rest.length, 4)
  b[6] = first
  b[7] = 64
  ipv6Bytes(src).copy(b, 8)
  ipv6Bytes(dst).copy(b, 24)
  return Buffer.concat([b, rest])
}

export function ether(type: number, payload: Buffer, vlans: number[] = []): Buffer {
  // dst MAC, src MAC, then per tag TPID 0x8100 + TCI, then the EtherType and the payload.
  const h = Buffer.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2])
  const tags = vlans.map((v) => {
    const t = Buffer.alloc(4)
    t.writeUInt16BE(0x8100, 0)
    t.writeUInt16BE(v, 2)
    return t
  })
  const et = Buffer.alloc(2)
  et.writeUInt16BE(type, 0)
  return Buffer.concat([h, ...tags, et, payload])
}

export interface Record {
  data: Buffer
  ts?: number
  origLen?: number
}

export interface PcapOptions {
  linktype?: number
  nano?: boolean
  bigEndian?: boolean
  snaplen?: number
}

export function pcap(records: Record[], o: PcapOptions = {}): Buffer {
  const be = o.bigEndian === true
  const w32 = (b: Buffer, v: number, at: number): void => {
    if (be) b.writeUInt32BE(v >>> 0, at)
    else b.writeUInt32LE(v >>> 0, at)
  }
  const w16 = (b: Buffer, v: number, at: number): void => {
    if (be) b.writeUInt16BE(v, at)
    else b.writeUInt16LE(v, at)
  }
  const g = Buffer.alloc(24)
  w32(g, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0)
  w16(g, 2, 4)
  w16(g, 4, 6)
  w32(g, o.snaplen ?? 262144, 16)
  w32(g, o.linktype ?? 1, 20)
  const parts: Buffer[] = [g]
  records.forEach((r, i) => {
    const h = Buffer.alloc(16)
    const ts = r.ts ?? 1000 + i * 0.001
    w32(h, Math.floor(ts), 0)
    w32(h, Math.round((ts % 1) * (o.nano ? 1e9 : 1e6)), 4)
    w32(h, r.data.length, 8)
    w32(h, r.origLen ?? r.data.length, 12)
    parts.push(h, r.data)
  })
  return Buffer.concat(parts)
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))])
}

/** One pcapng block (little-endian): type, length, the body padded to 4 bytes, length again. */
export function pcapngBlock(type: number, body: Buffer): Buffer {
  const p = pad4(body)
  const b = Buffer.alloc(12 + p.length)
  b.writeUInt32LE(type, 0)
  b.writeUInt32LE(b.length, 4)
  p.copy(b, 8)
  b.writeUInt32LE(b.length, b.length - 4)
  return b
}

/** pcapng (little-endian): one section, interfaces with link types and optional if_tsresol. */
export function pcapng(interfaces: { linktype: number; tsresol?: number }[], packets: (Record & { iface?: number })[]): Buffer {
  const shb = Buffer.alloc(16)
  shb.writeUInt32LE(0x1a2b3c4d, 0)
  shb.writeUInt16LE(1, 4)
  shb.writeInt32LE(-1, 8)
  shb.writeInt32LE(-1, 12)
  const parts = [pcapngBlock(0x0a0d0d0a, shb)]
  for (const i of interfaces) {
    const opts: Buffer[] = []
    if (i.tsresol !== undefined) {
      const o = Buffer.alloc(8)
      o.writeUInt16LE(9, 0)
      o.writeUInt16LE(1, 2)
      o[4] = i.tsresol
      opts.push(o)
    }
    opts.push(Buffer.alloc(4))
    const idb = Buffer.alloc(8)
    idb.writeUInt16LE(i.linktype, 0)
    idb.writeUInt32LE(0, 4)
    parts.push(pcapngBlock(1, Buffer.concat([idb, ...opts])))
  }
  packets.forEach((p, n) => {
    const res = interfaces[p.iface ?? 0]?.tsresol ?? 6
    const units = BigInt(Math.round((p.ts ?? 1000 + n * 0.001) * 10 ** res))
    const h = Buffer.alloc(20)
    h.writeUInt32LE(p.iface ?? 0, 0)
    h.writeUInt32LE(Number(units >> 32n), 4)
    h.writeUInt32LE(Number(units & 0xffffffffn), 8)
    h.writeUInt32LE(p.data.length, 12)
    h.writeUInt32LE(p.origLen ?? p.data.length, 16)
    parts.push(pcapngBlock(6, Buffer.concat([h, p.data])))
  })
  return Buffer.concat(parts)
}

/** A TCP conversation client→server carrying `toServer` then `toClient` bytes, with handshake and FIN. */
export function tcpConversation(
  c: string,
  s: string,
  cport: number,
  sport: number,
  toServer: Buffer[],
  toClient: Buffer[] = [],
  wrap: (ip: Buffer) => Buffer = (ip) => ether(0x0800, ip)
): Buffer[] {
  const frames: Buffer[] = []
  let cseq = 1000
  let sseq = 5000
  frames.push(wrap(ipv4(c, s, 6, tcp(cport, sport, Buffer.alloc(0), { seq: cseq - 1, flags: SYN }))))
  frames.push(wrap(ipv4(s, c, 6, tcp(sport, cport, Buffer.alloc(0), { seq: sseq - 1, ack: cseq, flags: SYN | ACK }))))
  for (const p of toServer) {
    frames.push(wrap(ipv4(c, s, 6, tcp(cport, sport, p, { seq: cseq, ack: sseq }))))
    cseq += p.length
  }
  for (const p of toClient) {
    frames.push(wrap(ipv4(s, c, 6, tcp(sport, cport, p, { seq: sseq, ack: cseq }))))
    sseq += p.length
  }
  frames.push(wrap(ipv4(c, s, 6, tcp(cport, sport, Buffer.alloc(0), { seq: cseq, ack: sseq, flags: FIN | ACK }))))
  frames.push(wrap(ipv4(s, c, 6, tcp(sport, cport, Buffer.alloc(0), { seq: sseq, ack: cseq + 1, flags: FIN | ACK }))))
  return frames
}
