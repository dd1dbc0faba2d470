import { peerIdFromString } from '@peerguard/identity'
import { assertString } from '@peerguard/interface'

/**
 * How a certificate names its peer: one subjectAltName URI (RFC 5280 §4.2.1.6)
 *
 *   peerguard://peer/<PEER-ID>
 *
 * where <PEER-ID> is the peer ID's canonical text form (8 dash-separated groups of 7,
 * upper case), e.g. `peerguard://peer/D6MKF66-PE4OQGK-SAMARVW-GYYMRZT-N62BQQU-ZSFYQRR-35CJPJ6-FIE5UQS`.
 * The shape follows SPIFFE IDs (`spiffe://trust-domain/path`): a scheme of our own, a fixed
 * authority, the identity in the path, no query or fragment. It is compared as an exact string
 * after parsing the peer ID (which checks its Luhn characters).
 */
export const PEER_URI_PREFIX = 'peerguard://peer/'

/** The SAN URI for a peer ID (canonicalised through peerIdFromString). */
export function peerUri(peerId: string): string {
  assertString('peerId', peerId, { nonEmpty: true })
  return PEER_URI_PREFIX + peerIdFromString(peerId).toString()
}

/** The peer IDs named by peerguard URIs among `uris` (undefined entries are not peerguard URIs). */
export function peerUrisOf(uris: readonly string[]): string[] {
  return uris.filter((u) => u.startsWith(PEER_URI_PREFIX)).map((u) => u.slice(PEER_URI_PREFIX.length))
}
