import { isIP } from 'node:net'
import { InvalidArgumentError } from '@peerguard/interface'
import { x509 } from './x509.js'

/**
 * DNS names and IP addresses a peer certificate carries beside its `peerguard://peer/…` URI, so
 * standard TLS clients (curl, openssl s_client, browsers) pass their hostname check (RFC 6125,
 * RFC 2818 §3.1) without `-k` or `--resolve`. They come from the CA operator only, never from a
 * CSR; renewal keeps them. peerguard's own verifier binds peers by the URI and ignores them.
 */
export interface SubjectAltNames {
  /** dNSName entries: lowercase host names, no wildcard, no trailing dot. */
  dnsNames: string[]
  /** iPAddress entries: IPv4 dotted quad or IPv6 (text as node:net writes it). */
  ipAddresses: string[]
}

/** Most DNS names plus IP addresses one certificate carries. */
export const SAN_MAX = 32
/** RFC 1035 §2.3.4: 253 characters of text (255 octets on the wire), labels of 1..63. */
const DNS_NAME_MAX = 253
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

function listOf(field: string, value: unknown): unknown[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidArgumentError(`${field}: expected an array of strings, got ${typeof value}`)
  if (value.length > SAN_MAX) throw new InvalidArgumentError(`${field}: at most ${SAN_MAX} entries, got ${value.length}`)
  return value
}

function noDuplicates(field: string, names: string[]): string[] {
  const seen = new Set<string>()
  for (const n of names) {
    if (seen.has(n)) throw new InvalidArgumentError(`${field}: ${JSON.stringify(n)} appears twice`)
    seen.add(n)
  }
  return names
}

/** Check and normalise (lowercase) a list of DNS names. */
export function checkDnsNames(field: string, value: unknown): string[] {
  const names = listOf(field, value).map((v, i) => {
    if (typeof v !== 'string')
      throw new InvalidArgumentError(`${field}[${i}]: expected string, got ${v === null ? 'null' : typeof v}`)
    const name = v.toLowerCase()
    if (name.length === 0 || name.length > DNS_NAME_MAX)
      throw new InvalidArgumentError(`${field}[${i}]: expected 1..${DNS_NAME_MAX} characters, got ${name.length}`)
    if (name.startsWith('*.'))
      throw new InvalidArgumentError(`${field}[${i}]: ${JSON.stringify(v)} is a wildcard; name each host instead`)
    if (isIP(name) !== 0)
      throw new InvalidArgumentError(`${field}[${i}]: ${JSON.stringify(v)} is an IP address; give it as an IP address`)
    if (!name.split('.').every((label) => LABEL.test(label)))
      throw new InvalidArgumentError(
        `${field}[${i}]: ${JSON.stringify(v)} is not a host name (labels of 1..63 letters, digits and inner hyphens, dot-separated)`
      )
    return name
  })
  return noDuplicates(field, names)
}

/** Check and normalise a list of IP addresses (IPv6 in the form node:net and @peculiar/x509 write). */
export function checkIpAddresses(field: string, value: unknown): string[] {
  const addresses = listOf(field, value).map((v, i) => {
    if (typeof v !== 'string')
      throw new InvalidArgumentError(`${field}[${i}]: expected string, got ${v === null ? 'null' : typeof v}`)
    const family = v.includes('%') ? 0 : isIP(v)
    if (family === 0)
      throw new InvalidArgumentError(`${field}[${i}]: ${JSON.stringify(v)} is not an IPv4 or IPv6 address (no zone, no port)`)
    // Round-trip through the encoder so "0:0::1" and "::1" are one address.
    return family === 4 ? v : canonicalIpv6(v)
  })
  return noDuplicates(field, addresses)
}

function canonicalIpv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1)
}

/** The subjectAltName extension of a peer certificate: its peer URI, then DNS names, then IP addresses. */
export function subjectAltNameExtension(peerUri: string, names: SubjectAltNames): x509.Extension {
  return new x509.SubjectAlternativeNameExtension(
    [
      { type: 'url', value: peerUri },
      ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value }))
    ],
    false
  )
}

/** The DNS names and IP addresses in a certificate's subjectAltName (empty lists when none). */
export function subjectAltNamesOf(der: Uint8Array): SubjectAltNames {
  const cert = new x509.X509Certificate(Uint8Array.from(der))
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension)
  const names = ext?.names.items ?? []
  return {
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value)
  }
}
