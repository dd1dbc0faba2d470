import { InvalidArgumentError } from '@peerguard/interface'
import { PemMalformedError } from './errors.js'

/**
 * PEM (RFC 7468) in and out. Strict: labels must match, base64 must be canonical RFC 4648
 * (no stray characters), and text outside the blocks is ignored only between blocks
 * (RFC 7468 §2 explanatory text, as OpenSSL writes it).
 */

/** Labels used by the pki package (RFC 7468 §5–§11). */
export type PemLabel = 'CERTIFICATE' | 'X509 CRL' | 'CERTIFICATE REQUEST' | 'PRIVATE KEY' | 'PUBLIC KEY'

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Encode DER as PEM with 64-character lines and a trailing newline. */
export function pemEncode(der: Uint8Array, label: PemLabel): string {
  if (!(der instanceof Uint8Array)) throw new InvalidArgumentError('der: expected Uint8Array')
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  const lines: string[] = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** Every block with `label` in `text`, decoded to DER, in order. Throws PemMalformedError if none. */
export function pemDecodeAll(text: string, label: PemLabel): Uint8Array[] {
  if (typeof text !== 'string') throw new InvalidArgumentError(`text: expected string, got ${typeof text}`)
  const out: Uint8Array[] = []
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m as unknown as [string, string, string, string]
    if (begin !== end) throw new PemMalformedError(`PEM block BEGIN ${begin} ends with END ${end}`)
    if (begin !== label) continue
    const b64 = body.replace(/[\r\n\t ]/g, '')
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new PemMalformedError(`PEM block ${label}: body is not valid base64`)
    }
    out.push(new Uint8Array(Buffer.from(b64, 'base64')))
  }
  if (out.length === 0) throw new PemMalformedError(`no PEM block labelled ${label} found`)
  return out
}

/** The first block with `label`. */
export function pemDecode(text: string, label: PemLabel): Uint8Array {
  return pemDecodeAll(text, label)[0] as Uint8Array
}

const BEGIN_BYTES = Buffer.from('-----BEGIN ')

/** True when bytes look like PEM text rather than DER (DER never starts with '-'). */
export function looksLikePem(input: Uint8Array | string): boolean {
  if (typeof input === 'string') return true
  // Skip leading whitespace and explanatory text: PEM files from OpenSSL may start with it.
  return Buffer.from(input.buffer, input.byteOffset, Math.min(input.byteLength, 1 << 16)).includes(BEGIN_BYTES)
}

/**
 * Accept DER bytes, PEM bytes or a PEM string; return the DER blocks with `label`.
 * DER input is one object.
 */
export function toDerAll(name: string, input: unknown, label: PemLabel): Uint8Array[] {
  if (typeof input === 'string') return pemDecodeAll(input, label)
  if (input instanceof Uint8Array) {
    if (input.length > 0 && input[0] === 0x30) return [input]
    if (looksLikePem(input)) return pemDecodeAll(Buffer.from(input).toString('latin1'), label)
    throw new PemMalformedError(`${name}: neither DER nor PEM (${label})`)
  }
  throw new InvalidArgumentError(
    `${name}: expected Uint8Array (DER) or string (PEM), got ${input === null ? 'null' : typeof input}`
  )
}

/** Like toDerAll but exactly the first object. */
export function toDer(name: string, input: unknown, label: PemLabel): Uint8Array {
  return toDerAll(name, input, label)[0] as Uint8Array
}
