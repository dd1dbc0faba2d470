/**
 * The enrollment token string (SPEC.md §6.1): everything a joiner needs to find and authenticate
 * the CA and to prove it was invited, in one copy-pasteable line,
 * `pgjoin1-` + lowercase RFC 4648 base32 (no padding) of
 * version | rootFingerprint | tokenId | secret | addressLength | address | checksum.
 * The checksum catches a mangled paste before any network traffic; it is not a MAC.
 */
import { createHash } from 'node:crypto'
import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import { parseCertificate } from '@peerguard/pki'
import { EnrollError } from './enroll-errors.js'
import { WireReader, WireWriter } from './wire.js'

export const TOKEN_PREFIX = 'pgjoin1-'
const TOKEN_FORMAT = 1
export const TOKEN_ID_LENGTH = 16
export const TOKEN_SECRET_LENGTH = 32
export const FINGERPRINT_LENGTH = 32
const CHECKSUM_LENGTH = 4
const MAX_ADDRESS = 255
/** Longest token string accepted, characters (prefix + base32 of the largest payload). */
export const MAX_TOKEN_LENGTH = TOKEN_PREFIX.length + Math.ceil(((1 + 32 + 16 + 32 + 1 + MAX_ADDRESS + 4) * 8) / 5)
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** What a token carries. */
export interface EnrollToken {
  /** SHA-256 of the root certificate's SubjectPublicKeyInfo DER (32 bytes). */
  readonly rootFingerprint: Uint8Array
  /** The token's public handle (16 bytes); the CA files the token under it. */
  readonly tokenId: Uint8Array
  /** The secret (32 bytes); the CA keeps only its SHA-256. */
  readonly secret: Uint8Array
  /** `host:port` of the CA node's enrollment service, when the admin gave one. */
  readonly address?: string
}

function base32(bytes: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31]
      bits -= 5
    }
    acc &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31]
  return out
}

function unbase32(text: string): Uint8Array {
  const out: number[] = []
  let acc = 0
  let bits = 0
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch)
    if (v < 0) throw new EnrollError('enroll-token-malformed', 'enrollment token: a character outside the base32 alphabet')
    acc = (acc << 5) | v
    bits += 5
    if (bits >= 8) {
      out.push((acc >>> (bits - 8)) & 0xff)
      bits -= 8
    }
    acc &= (1 << bits) - 1
  }
  // canonical: leftover bits are fewer than 5 and all zero
  if (bits >= 5 || acc !== 0) throw new EnrollError('enroll-token-malformed', 'enrollment token: not canonical base32')
  return new Uint8Array(out)
}

const checksumOf = (body: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(TOKEN_PREFIX).update(body).digest().subarray(0, CHECKSUM_LENGTH))

/** The token as one `pgjoin1-…` line. */
export function encodeToken(token: EnrollToken): string {
  if (typeof token !== 'object' || token === null) throw new InvalidArgumentError('token: expected an object')
  assertBytes('token.rootFingerprint', token.rootFingerprint, FINGERPRINT_LENGTH)
  assertBytes('token.tokenId', token.tokenId, TOKEN_ID_LENGTH)
  assertBytes('token.secret', token.secret, TOKEN_SECRET_LENGTH)
  if (token.address !== undefined && typeof token.address !== 'string')
    throw new InvalidArgumentError(`token.address: expected host:port of 1..${MAX_ADDRESS} UTF-8 bytes`)
  const address = token.address === undefined ? new Uint8Array(0) : Buffer.from(token.address, 'utf8')
  if (token.address !== undefined && (address.length < 1 || address.length > MAX_ADDRESS))
    throw new InvalidArgumentError(`token.address: expected host:port of 1..${MAX_ADDRESS} UTF-8 bytes`)
  const body = new WireWriter()
    .u8(TOKEN_FORMAT)
    .bytes(token.rootFingerprint)
    .bytes(token.tokenId)
    .bytes(token.secret)
    .u8(address.length)
    .bytes(address)
    .finish()
  return TOKEN_PREFIX + base32(new WireWriter().bytes(body).bytes(checksumOf(body)).finish())
}

const malformed = (message: string): EnrollError => new EnrollError('enroll-token-malformed', `enrollment token: ${message}`)

/**
 * Parse a token line (surrounding whitespace ignored, case-insensitive). Throws EnrollError
 * `enroll-token-malformed` for anything else; never echoes the input (it holds a secret).
 */
export function parseToken(text: unknown): EnrollToken {
  if (typeof text !== 'string') throw malformed('expected a string')
  const t = text.trim().toLowerCase()
  if (t.length > MAX_TOKEN_LENGTH) throw malformed(`longer than ${MAX_TOKEN_LENGTH} characters`)
  if (!t.startsWith(TOKEN_PREFIX)) throw malformed(`expected the prefix ${TOKEN_PREFIX}`)
  const raw = unbase32(t.slice(TOKEN_PREFIX.length))
  if (raw.length < CHECKSUM_LENGTH) throw malformed('truncated')
  const body = raw.subarray(0, raw.length - CHECKSUM_LENGTH)
  if (!Buffer.from(checksumOf(body)).equals(raw.subarray(raw.length - CHECKSUM_LENGTH)))
    throw malformed('checksum mismatch (a character was changed or lost)')
  const r = new WireReader(body, malformed)
  if (r.u8('format') !== TOKEN_FORMAT) throw malformed('unknown format version')
  const rootFingerprint = r.bytes(FINGERPRINT_LENGTH, 'root fingerprint')
  const tokenId = r.bytes(TOKEN_ID_LENGTH, 'token ID')
  const secret = r.bytes(TOKEN_SECRET_LENGTH, 'secret')
  const addressLength = r.u8('address length')
  const address = addressLength === 0 ? undefined : r.utf8(addressLength, 'address')
  r.end('token')
  return { rootFingerprint, tokenId, secret, ...(address === undefined ? {} : { address }) }
}

/** SHA-256 of a root certificate's SubjectPublicKeyInfo: the fingerprint a token pins. */
export function rootFingerprintOf(rootDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(parseCertificate(rootDer).publicKey.spki).digest())
}
