/**
 * IP addresses in announcements: text ⇄ 4 or 16 bytes. Decoding gives one canonical text form
 * (dotted IPv4; IPv6 as eight lowercase hex groups, no compression) so a round trip is exact.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidArgumentError } from '@peerguard/interface'

function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const groups = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'))
  const left = groups(head)
  const right = groups(tail)
  const fill = tail === undefined ? 0 : 8 - left.length - right.length
  const all = [...left, ...Array.from({ length: fill }, () => '0'), ...right]
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    const v = Number.parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  })
  return out
}

/** The bytes of an IPv4 or IPv6 address in text (IPv6 with an embedded IPv4 or a zone is refused). */
export function addressBytes(text: string): Uint8Array {
  if (typeof text === 'string' && isIPv4(text)) return Uint8Array.from(text.split('.').map(Number))
  if (typeof text === 'string' && isIPv6(text) && !text.includes('.') && !text.includes('%')) return ipv6Bytes(text)
  throw new InvalidArgumentError('address: expected an IPv4 or IPv6 address (no zone, no embedded IPv4)')
}

/** The canonical text of 4 or 16 address bytes. */
export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16))
  return groups.join(':')
}
