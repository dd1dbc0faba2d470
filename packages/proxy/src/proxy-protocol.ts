import { isIP } from 'node:net'
import { describeValue, InvalidArgumentError, type PeerInfo } from '@peerguard/interface'
import { ProxyProtocolInvalidError } from './errors.js'

/**
 * PROXY protocol version 2 (HAProxy, "The PROXY protocol", section 2.2): the binary header a proxy
 * sends first on the connection to its backend, so the backend learns who connected. peerguard
 * adds the authenticated peer in TLVs of the custom range 0xE0–0xEF (section 2.2.8: "reserved
 * for application-specific data"); the proxy README's "Identity to the backend" documents them.
 */

/** The 12-byte signature (section 2.2). */
export const PROXY_V2_SIGNATURE = Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** peerguard's TLV types (UTF-8 values). */
export const PP2_TYPE_PEERGUARD_PEER_ID = 0xe0
/** The certificate's name (subject CN), when it has one. */
export const PP2_TYPE_PEERGUARD_NAME = 0xe1
/** One TLV per group the certificate carries, in certificate order. */
export const PP2_TYPE_PEERGUARD_GROUP = 0xe2

/** Version 2 (high nibble) and command (low nibble): LOCAL 0x0, PROXY 0x1. */
const VERSION_LOCAL = 0x20
const VERSION_PROXY = 0x21
/** Family and transport: TCP over IPv4 0x11, TCP over IPv6 0x21, UNSPEC 0x00. */
const TCP4 = 0x11
const TCP6 = 0x21
const UNSPEC = 0x00
/** Bytes before the variable part: signature 12, version/command 1, family 1, length 2. */
const FIXED = 16
/** The length field is 16 bits: addresses + TLVs at most 65535 bytes. */
const MAX_VARIABLE = 0xffff

/** One type-length-value entry. */
export interface ProxyTlv {
  readonly type: number
  readonly value: Uint8Array
}

/** A TCP endpoint as the header carries it (`address` is IPv4 or IPv6 text). */
export interface ProxyEndpoint {
  readonly address: string
  readonly port: number
}

/** What a header says. */
export interface ProxyHeader {
  /** `proxy` (a relayed connection) or `local` (the proxy's own, e.g. a health check). */
  readonly command: 'proxy' | 'local'
  /** `tcp4`, `tcp6` or `unspec` (addresses unknown). */
  readonly family: 'tcp4' | 'tcp6' | 'unspec'
  readonly source?: ProxyEndpoint
  readonly destination?: ProxyEndpoint
  readonly tlvs: readonly ProxyTlv[]
}

/** `::ffff:1.2.3.4` → `1.2.3.4`: Node reports IPv4 clients of a dual-stack socket this way. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return m === null ? address : (m[1] as string)
}

function checkEndpoint(e: unknown, name: string): ProxyEndpoint {
  const v = e as ProxyEndpoint
  if (typeof v !== 'object' || v === null || typeof v.address !== 'string' || isIP(unmapped(v.address)) === 0)
    throw new InvalidArgumentError(`${name}.address: expected an IPv4 or IPv6 address`)
  if (!Number.isInteger(v.port) || v.port < 0 || v.port > 65535)
    throw new InvalidArgumentError(`${name}.port: expected an integer 0..65535, got ${describeValue(v.port)}`)
  return { address: unmapped(v.address), port: v.port }
}

function ipv6Bytes(address: string): Uint8Array {
  // expand `::` and a trailing dotted IPv4 part into eight 16-bit groups
  let text = address.split('%')[0] as string
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = (dotted[1] as string).split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined]
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16)
    out[2 * i] = n >> 8
    out[2 * i + 1] = n & 0xff
  })
  return out
}

/** RFC 5952 text (lowercase, the longest run of two or more zero groups as `::`), as Node prints it. */
function ipv6Text(bytes: Uint8Array): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16))
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j === i ? i + 1 : j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

/**
 * Encode a PROXY v2 header. With `source` and `destination` (both IPv4 or both IPv6; IPv4-mapped
 * IPv6 counts as IPv4) the command is PROXY over TCP; without them, PROXY with UNSPEC addresses.
 * Throws InvalidArgumentError on a bad address, port or TLV type, and ProxyProtocolInvalidError
 * when addresses and TLVs do not fit the 16-bit length.
 */
export function encodeProxyV2(header: {
  source?: ProxyEndpoint
  destination?: ProxyEndpoint
  tlvs?: readonly ProxyTlv[]
  command?: 'proxy' | 'local'
}): Uint8Array {
  if (typeof header !== 'object' || header === null) throw new InvalidArgumentError('header: expected an object')
  const tlvs = header.tlvs ?? []
  if (!Array.isArray(tlvs)) throw new InvalidArgumentError('header.tlvs: expected an array')
  let family = UNSPEC
  let addresses = new Uint8Array(0)
  if (header.source !== undefined || header.destination !== undefined) {
    const src = checkEndpoint(header.source, 'header.source')
    const dst = checkEndpoint(header.destination, 'header.destination')
    const v4 = isIP(src.address) === 4
    if (v4 !== (isIP(dst.address) === 4))
      throw new InvalidArgumentError('header.destination: expected the same address family as header.source')
    family = v4 ? TCP4 : TCP6
    const size = v4 ? 4 : 16
    addresses = new Uint8Array(2 * size + 4)
    const bytes = (a: string): Uint8Array => (v4 ? Uint8Array.from(a.split('.').map(Number)) : ipv6Bytes(a))
    addresses.set(bytes(src.address), 0)
    addresses.set(bytes(dst.address), size)
    const view = new DataView(addresses.buffer)
    view.setUint16(2 * size, src.port)
    view.setUint16(2 * size + 2, dst.port)
  }
  let tlvBytes = 0
  tlvs.forEach((t, i) => {
    if (!Number.isInteger(t?.type) || t.type < 0 || t.type > 0xff)
      throw new InvalidArgumentError(`header.tlvs[${i}].type: expected an integer 0..255, got ${describeValue(t?.type)}`)
    if (!(t.value instanceof Uint8Array)) throw new InvalidArgumentError(`header.tlvs[${i}].value: expected Uint8Array`)
    tlvBytes += 3 + t.value.length
  })
  const variable = addresses.length + tlvBytes
  if (variable > MAX_VARIABLE)
    throw new ProxyProtocolInvalidError(
      `addresses and TLVs take ${variable} bytes; a PROXY v2 header holds at most ${MAX_VARIABLE}`
    )
  const out = new Uint8Array(FIXED + variable)
  const view = new DataView(out.buffer)
  out.set(PROXY_V2_SIGNATURE, 0)
  out[12] = header.command === 'local' ? VERSION_LOCAL : VERSION_PROXY
  out[13] = family
  view.setUint16(14, variable)
  out.set(addresses, FIXED)
  let at = FIXED + addresses.length
  for (const t of tlvs) {
    out[at] = t.type
    view.setUint16(at + 1, t.value.length)
    out.set(t.value, at + 3)
    at += 3 + t.value.length
  }
  return out
}

/**
 * Parse a PROXY v2 header at the start of `bytes`. Returns the header and its length in bytes,
 * or `undefined` when more bytes are needed; throws ProxyProtocolInvalidError for anything else
 * (bad signature, version, command, family, or TLVs that overrun the declared length).
 */
export function parseProxyV2(bytes: Uint8Array): { header: ProxyHeader; length: number } | undefined {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes: expected Uint8Array')
  for (let i = 0; i < Math.min(bytes.length, PROXY_V2_SIGNATURE.length); i++)
    if (bytes[i] !== PROXY_V2_SIGNATURE[i]) throw new ProxyProtocolInvalidError('not a PROXY v2 header: bad signature')
  if (bytes.length < FIXED) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const vc = bytes[12] as number
  if (vc >> 4 !== 2) throw new ProxyProtocolInvalidError(`PROXY header version ${vc >> 4}, expected 2`)
  if ((vc & 0x0f) > 1) throw new ProxyProtocolInvalidError(`PROXY v2 command ${vc & 0x0f}, expected 0 (LOCAL) or 1 (PROXY)`)
  const famByte = bytes[13] as number
  const variable = view.getUint16(14)
  if (bytes.length < FIXED + variable) return undefined
  const size = famByte === TCP4 ? 4 : famByte === TCP6 ? 16 : famByte === UNSPEC ? 0 : -1
  if (size < 0) throw new ProxyProtocolInvalidError(`PROXY v2 family/transport 0x${famByte.toString(16)} is not supported`)
  const addrLen = size === 0 ? 0 : 2 * size + 4
  if (addrLen > variable)
    throw new ProxyProtocolInvalidError(`PROXY v2 length ${variable} is shorter than the ${addrLen} address bytes`)
  const family = size === 4 ? 'tcp4' : size === 16 ? 'tcp6' : 'unspec'
  const text = (b: Uint8Array): string => (size === 4 ? Array.from(b).join('.') : ipv6Text(b))
  const endpoints =
    size === 0
      ? {}
      : {
          source: { address: text(bytes.subarray(FIXED, FIXED + size)), port: view.getUint16(FIXED + 2 * size) },
          destination: {
            address: text(bytes.subarray(FIXED + size, FIXED + 2 * size)),
            port: view.getUint16(FIXED + 2 * size + 2)
          }
        }
  const tlvs: ProxyTlv[] = []
  const end = FIXED + variable
  let at = FIXED + addrLen
  while (at < end) {
    if (at + 3 > end) throw new ProxyProtocolInvalidError('a PROXY v2 TLV header overruns the declared length')
    const len = view.getUint16(at + 1)
    if (at + 3 + len > end) throw new ProxyProtocolInvalidError('a PROXY v2 TLV value overruns the declared length')
    tlvs.push({ type: bytes[at] as number, value: bytes.slice(at + 3, at + 3 + len) })
    at += 3 + len
  }
  return { header: { command: (vc & 0x0f) === 1 ? 'proxy' : 'local', family, ...endpoints, tlvs }, length: end }
}

/** peerguard's TLVs for an authenticated peer: peer ID, certificate name (if any), one per group. */
export function peerTlvs(peer: Pick<PeerInfo, 'peerId' | 'name' | 'groups'>): ProxyTlv[] {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
  return [
    { type: PP2_TYPE_PEERGUARD_PEER_ID, value: utf8(peer.peerId) },
    ...(peer.name === undefined ? [] : [{ type: PP2_TYPE_PEERGUARD_NAME, value: utf8(peer.name) }]),
    ...peer.groups.map((g) => ({ type: PP2_TYPE_PEERGUARD_GROUP, value: utf8(g) }))
  ]
}
