import { createHash } from 'node:crypto'
import { InvalidArgumentError } from '@peerguard/interface'
import { DerReader } from './der.js'
import { readPublicKeyInfo } from './fields.js'

/** Small encodings the CA needs: serial text forms, key identifiers, DER integers, times. */

export function floorSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000
}

/** Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
export function keyIdentifier(spki: Uint8Array): string {
  const raw = readPublicKeyInfo(spki, new DerReader(spki).read()).raw
  return createHash('sha1').update(raw).digest('hex')
}

/** CRLReason ::= ENUMERATED { unspecified (0) } (RFC 5280 §5.3.1), DER. */
export const REASON_UNSPECIFIED = Uint8Array.from([0x0a, 0x01, 0x00])

/** DER INTEGER for a non-negative safe integer (X.690 §8.3). */
export function derInteger(n: number): Uint8Array {
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`
  const body = Buffer.from(hex, 'hex')
  return Uint8Array.from([0x02, body.length, ...body])
}

/** DER of a serial in the form x509's generator and CRL entries take (a leading 00 when the top bit is set). */
export function serialContentHex(serial: string): string {
  const hex = serial.length % 2 ? `0${serial}` : serial
  return Number.parseInt(hex.slice(0, 2), 16) & 0x80 ? `00${hex}` : hex
}

/** Normalise a serial given by a user: hex with optional colons, any case, leading zeros (OpenSSL prints `0E34…`). */
export function normalizeSerial(serial: unknown): string {
  if (typeof serial !== 'string') throw new InvalidArgumentError(`serial: expected hex string, got ${typeof serial}`)
  const hex = serial.replace(/:/g, '').toLowerCase().replace(/^0x/, '')
  if (!/^[0-9a-f]{1,42}$/.test(hex)) throw new InvalidArgumentError(`serial: expected hex digits, got ${JSON.stringify(serial)}`)
  return canonicalSerialHex(hex)
}

/** Serial text form: lowercase hex of the minimal big-endian bytes (even length, no leading 00 byte). */
export function canonicalSerialHex(hex: string): string {
  let h = hex.length % 2 ? `0${hex}` : hex
  while (h.length > 2 && h.startsWith('00')) h = h.slice(2)
  return h
}
