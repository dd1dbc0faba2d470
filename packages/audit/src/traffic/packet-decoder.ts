import type { PacketSink } from './capture-reader.js'
import { IpReassembler } from './ip-reassembly.js'
import { Ipv6TextCache } from './ipv6-text.js'
import type { ParseErrors } from './parse-errors.js'

export { ipv6String } from './ipv6-text.js'

/** Link-layer header types (https://www.tcpdump.org/linktypes.html). */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW_12: 12,
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276
} as const

export const IPPROTO_TCP = 6
export const IPPROTO_UDP = 17
/** Pseudo protocol numbers for packets without a usable transport header. */
export const PSEUDO_FRAGMENT = 300
export const PSEUDO_MALFORMED = 301

/** Receives each decoded packet; the decoder's fields describe it and are valid during the call. */
export interface DecodedPacketHandler {
  /** An IP packet (fragments already reassembled); `d.proto` says what it carries. */
  ip(d: PacketDecoder): void
  /** An ARP packet announcing `ip` (dotted) at `mac`. */
  arp(ip: string, mac: string): void
}

/**
 * Decodes link, network and transport headers into reused fields (no per-packet objects on the
 * IPv4 path): Ethernet with stacked 802.1Q/802.1ad tags, Linux SLL/SLL2, raw IP, BSD null/loop,
 * ARP, IPv4 with fragment reassembly, IPv6 with extension headers and fragments, TCP, UDP.
 * Whatever does not parse is counted in `errors` and skipped.
 */
export class PacketDecoder implements PacketSink {
  /** 1-based frame number of the current packet. */
  frame = 0
  ts = 0
  /** Frame length on the wire (bytes). */
  wireLen = 0
  buf: Buffer = Buffer.alloc(0)
  /** Offset of the Ethernet source MAC in `macBuf`, -1 when the link has none. */
  macOff = -1
  /** The frame as captured (`buf` may be a reassembled datagram instead). */
  macBuf: Buffer = Buffer.alloc(0)
  ipVersion = 0
  /** IPv4 addresses as unsigned 32-bit numbers (0 for IPv6). */
  src4 = 0
  dst4 = 0
  /** IPv6 addresses in text form ('' for IPv4). */
  src6 = ''
  dst6 = ''
  proto = 0
  srcPort = 0
  dstPort = 0
  tcpFlags = 0
  seq = 0
  /** Transport payload: `buf[payOff, payOff + payLen)` captured bytes. */
  payOff = 0
  payLen = 0
  /** Payload length according to the headers (may exceed payLen in snaplen-cut frames). */
  payWireLen = 0
  /** Non-IP frames (ARP included), by EtherType. */
  nonIp = 0
  readonly #handler: DecodedPacketHandler
  readonly #errors: ParseErrors
  readonly #frag: IpReassembler
  /** Text of the IPv6 addresses seen recently: no string built per packet for a known address. */
  readonly #v6 = new Ipv6TextCache()

  constructor(handler: DecodedPacketHandler, errors: ParseErrors) {
    this.#handler = handler
    this.#errors = errors
    this.#frag = new IpReassembler(errors)
  }

  packet(linktype: number, buf: Buffer, off: number, caplen: number, origLen: number, ts: number): void {
    this.frame++
    this.ts = ts
    this.wireLen = origLen
    this.buf = buf
    this.macBuf = buf
    this.macOff = -1
    const end = off + caplen
    switch (linktype) {
      case LINKTYPE.ETHERNET:
        this.#ethernet(buf, off, end)
        return
      case LINKTYPE.RAW:
      case LINKTYPE.RAW_12:
      case LINKTYPE.RAW_14:
        this.#rawIp(buf, off, end)
        return
      case LINKTYPE.IPV4:
        this.#ipv4(buf, off, end)
        return
      case LINKTYPE.IPV6:
        this.#ipv6(buf, off, end)
        return
      case LINKTYPE.NULL:
      case LINKTYPE.LOOP: {
        if (end - off < 4) {
          this.#err('null-header-truncated')
          return
        }
        // NULL: address family in the capturing host's byte order; LOOP: network order.
        const le = buf.readUInt32LE(off)
        const be = buf.readUInt32BE(off)
        const fam = linktype === LINKTYPE.LOOP ? be : le < 256 ? le : be
        if (fam === 2) this.#ipv4(buf, off + 4, end)
        else if (fam === 24 || fam === 28 || fam === 30 || fam === 10) this.#ipv6(buf, off + 4, end)
        else this.nonIp++
        return
      }
      case LINKTYPE.LINUX_SLL:
        if (end - off < 16) {
          this.#err('sll-header-truncated')
          return
        }
        this.#etherType(buf, (buf[off + 14]! << 8) | buf[off + 15]!, off + 16, end)
        return
      case LINKTYPE.LINUX_SLL2:
        if (end - off < 20) {
          this.#err('sll2-header-truncated')
          return
        }
        this.#etherType(buf, (buf[off]! << 8) | buf[off + 1]!, off + 20, end)
        return
      default:
        this.#err(`linktype-unsupported-${linktype}`)
    }
  }

  #err(kind: string): void {
    this.#errors.add(kind, this.frame)
  }

  #ethernet(buf: Buffer, off: number, end: number): void {
    if (end - off < 14) {
      this.#err('ethernet-truncated')
      return
    }
    this.macOff = off + 6
    let o = off + 12
    let type = (buf[o]! << 8) | buf[o + 1]!
    o += 2
    // 802.1Q / 802.1ad / QinQ tags, stacked (bounded).
    for (let tags = 0; (type === 0x8100 || type === 0x88a8 || type === 0x9100) && tags < 8; tags++) {
      if (end - o < 4) {
        this.#err('vlan-truncated')
        return
      }
      type = (buf[o + 2]! << 8) | buf[o + 3]!
      o += 4
    }
    this.#etherType(buf, type, o, end)
  }

  #etherType(buf: Buffer, type: number, o: number, end: number): void {
    if (type === 0x0800) this.#ipv4(buf, o, end)
    else if (type === 0x86dd) this.#ipv6(buf, o, end)
    else if (type === 0x0806) this.#arp(buf, o, end)
    else this.nonIp++
  }

  #rawIp(buf: Buffer, o: number, end: number): void {
    if (end - o < 1) {
      this.#err('ip-truncated')
      return
    }
    const v = buf[o]! >> 4
    if (v === 4) this.#ipv4(buf, o, end)
    else if (v === 6) this.#ipv6(buf, o, end)
    else this.#err('ip-bad-version')
  }

  #arp(buf: Buffer, o: number, end: number): void {
    this.nonIp++
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4 (RFC 826).
    if (end - o < 28) {
      this.#err('arp-truncated')
      return
    }
    if (buf[o + 4] !== 6 || buf[o + 5] !== 4 || buf[o + 2] !== 0x08 || buf[o + 3] !== 0x00) return
    const ip = `${buf[o + 14]}.${buf[o + 15]}.${buf[o + 16]}.${buf[o + 17]}`
    if (ip === '0.0.0.0') return
    this.#handler.arp(ip, macString(buf, o + 8))
  }

  #ipv4(buf: Buffer, o: number, end: number): void {
    if (end - o < 20) {
      this.#err('ipv4-truncated')
      return
    }
    const vihl = buf[o]!
    if (vihl >> 4 !== 4) {
      this.#err('ipv4-bad-version')
      return
    }
    const ihl = (vihl & 0x0f) * 4
    if (ihl < 20) {
      this.#err('ipv4-header-length-under-20')
      return
    }
    if (end - o < ihl) {
      this.#err('ipv4-truncated')
      return
    }
    const total = (buf[o + 2]! << 8) | buf[o + 3]!
    if (total < ihl) {
      this.#err('ipv4-bad-total-length')
      return
    }
    // Ethernet padding follows a short datagram; a snaplen-cut frame ends before `total`.
    const ipEnd = Math.min(o + total, end)
    this.ipVersion = 4
    this.src4 = buf.readUInt32BE(o + 12)
    this.dst4 = buf.readUInt32BE(o + 16)
    this.src6 = ''
    this.dst6 = ''
    const proto = buf[o + 9]!
    const flagsFrag = (buf[o + 6]! << 8) | buf[o + 7]!
    const more = (flagsFrag & 0x2000) !== 0
    const fragOff = (flagsFrag & 0x1fff) * 8
    if (more || fragOff !== 0) {
      if (o + total > end) {
        this.#err('ipv4-fragment-truncated')
        return
      }
      const key = `4|${this.src4}|${this.dst4}|${(buf[o + 4]! << 8) | buf[o + 5]!}|${proto}`
      const whole = this.#frag.add(key, proto, fragOff, more, buf, o + ihl, total - ihl, this.ts, this.frame)
      if (whole === undefined) {
        // Not complete yet: accounted to a per-host-pair fragment pseudo-flow.
        this.#transportless(PSEUDO_FRAGMENT)
        return
      }
      this.buf = whole
      this.#transport(whole, proto, 0, whole.length, whole.length)
      return
    }
    this.#transport(buf, proto, o + ihl, ipEnd, o + total - (o + ihl))
  }

  #ipv6(buf: Buffer, o: number, end: number): void {
    if (end - o < 40) {
      this.#err('ipv6-truncated')
      return
    }
    if (buf[o]! >> 4 !== 6) {
      this.#err('ipv6-bad-version')
      return
    }
    const plen = (buf[o + 4]! << 8) | buf[o + 5]!
    this.ipVersion = 6
    this.src4 = 0
    this.dst4 = 0
    this.src6 = this.#v6.text(buf, o + 8)
    this.dst6 = this.#v6.text(buf, o + 24)
    const ipEnd = Math.min(o + 40 + plen, end)
    let next = buf[o + 6]!
    let p = o + 40
    let fragHeader = -1
    // Extension headers (RFC 8200 section 4), bounded so a crafted chain cannot loop.
    for (let n = 0; n < 16; n++) {
      if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
        if (ipEnd - p < 8) {
          this.#err('ipv6-extension-truncated')
          return
        }
        const len = (buf[p + 1]! + 1) * 8
        next = buf[p]!
        p += len
      } else if (next === 51) {
        if (ipEnd - p < 8) {
          this.#err('ipv6-extension-truncated')
          return
        }
        const len = (buf[p + 1]! + 2) * 4
        next = buf[p]!
        p += len
      } else if (next === 44) {
        if (ipEnd - p < 8) {
          this.#err('ipv6-extension-truncated')
          return
        }
        fragHeader = p
        next = buf[p]!
        p += 8
      } else break
      if (p > ipEnd) {
        this.#err('ipv6-extension-truncated')
        return
      }
    }
    if (fragHeader >= 0) {
      const fo = (buf[fragHeader + 2]! << 8) | buf[fragHeader + 3]!
      const fragOff = fo & 0xfff8
      const more = (fo & 1) !== 0
      if (fragOff !== 0 || more) {
        if (o + 40 + plen > end) {
          this.#err('ipv6-fragment-truncated')
          return
        }
        const key = `6|${this.src6}|${this.dst6}|${buf.readUInt32BE(fragHeader + 4)}`
        const whole = this.#frag.add(key, next, fragOff, more, buf, p, ipEnd - p, this.ts, this.frame)
        if (whole === undefined) {
          this.#transportless(PSEUDO_FRAGMENT)
          return
        }
        this.buf = whole
        this.#transport(whole, next, 0, whole.length, whole.length)
        return
      }
    }
    this.#transport(buf, next, p, ipEnd, o + 40 + plen - p)
  }

  #transportless(proto: number): void {
    this.proto = proto
    this.srcPort = 0
    this.dstPort = 0
    this.tcpFlags = 0
    this.payLen = 0
    this.payWireLen = 0
    this.#handler.ip(this)
  }

  /** `o..end` captured transport bytes; `wireLen` the transport length the IP header claims. */
  #transport(buf: Buffer, proto: number, o: number, end: number, wireLen: number): void {
    this.proto = proto
    if (proto === IPPROTO_TCP) {
      if (end - o < 20) {
        this.#err('tcp-truncated')
        this.#transportless(PSEUDO_MALFORMED)
        return
      }
      const doff = (buf[o + 12]! >> 4) * 4
      if (doff < 20) {
        this.#err('tcp-bad-header-length')
        this.#transportless(PSEUDO_MALFORMED)
        return
      }
      if (end - o < doff) {
        this.#err('tcp-options-truncated')
        this.#transportless(PSEUDO_MALFORMED)
        return
      }
      if (doff > 20 && !tcpOptionsValid(buf, o + 20, o + doff)) this.#err('tcp-options-malformed')
      this.srcPort = (buf[o]! << 8) | buf[o + 1]!
      this.dstPort = (buf[o + 2]! << 8) | buf[o + 3]!
      this.seq = buf.readUInt32BE(o + 4)
      this.tcpFlags = buf[o + 13]!
      this.payOff = o + doff
      this.payLen = end - o - doff
      this.payWireLen = Math.max(wireLen - doff, this.payLen)
    } else if (proto === IPPROTO_UDP) {
      if (end - o < 8) {
        this.#err('udp-truncated')
        this.#transportless(PSEUDO_MALFORMED)
        return
      }
      this.srcPort = (buf[o]! << 8) | buf[o + 1]!
      this.dstPort = (buf[o + 2]! << 8) | buf[o + 3]!
      const ulen = (buf[o + 4]! << 8) | buf[o + 5]!
      this.tcpFlags = 0
      this.payOff = o + 8
      let pl = end - o - 8
      if (ulen >= 8 && ulen - 8 < pl) pl = ulen - 8
      else if (ulen !== 0 && ulen < 8) this.#err('udp-bad-length')
      this.payLen = pl
      this.payWireLen = ulen >= 8 ? ulen - 8 : pl
    } else {
      this.srcPort = 0
      this.dstPort = 0
      this.tcpFlags = 0
      this.payOff = o
      this.payLen = end - o
      this.payWireLen = this.payLen
    }
    this.#handler.ip(this)
  }
}

/** Walks TCP options (RFC 9293 section 3.2); false when a length runs past the header. */
export function tcpOptionsValid(buf: Buffer, o: number, end: number): boolean {
  while (o < end) {
    const kind = buf[o]!
    if (kind === 0) return true
    if (kind === 1) {
      o++
      continue
    }
    if (o + 1 >= end) return false
    const len = buf[o + 1]!
    if (len < 2 || o + len > end) return false
    o += len
  }
  return true
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function macString(buf: Buffer, o: number): string {
  return `${HEX[buf[o]!]}:${HEX[buf[o + 1]!]}:${HEX[buf[o + 2]!]}:${HEX[buf[o + 3]!]}:${HEX[buf[o + 4]!]}:${HEX[buf[o + 5]!]}`
}

/** Dotted text of an IPv4 address held as an unsigned 32-bit number. */
export function ipv4String(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}
