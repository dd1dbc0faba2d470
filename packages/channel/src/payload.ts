import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import { FrameInvalidError, HandshakeInvalidError } from './errors.js'

/**
 * The handshake payload of messages 2 and 3 (SPEC.md §2.2): a sequence of
 * `type: u8 | length: u16 BE | value` fields.
 */
export interface HandshakePayload {
  /** Ed25519 identity public key, 32 bytes. */
  readonly identityKey: Uint8Array
  /** Ed25519 signature over the static-key binding message, 64 bytes. */
  readonly identitySig: Uint8Array
  /** DER certificates, leaf first; empty for a peer without a certificate. */
  readonly certificates: readonly Uint8Array[]
  /** Application protocol names. */
  readonly protocols: readonly string[]
}

const FIELD_IDENTITY_KEY = 0x01
const FIELD_IDENTITY_SIG = 0x02
const FIELD_CERTIFICATE = 0x03
const FIELD_PROTOCOL = 0x04
/** Types 0x80..0xff are extensions a receiver may ignore (SPEC.md §2.2). */
const FIELD_EXTENSION_MIN = 0x80
export const MAX_CERTIFICATES = 8
export const MAX_CERTIFICATE_LENGTH = 16384
export const MAX_PROTOCOLS = 16
export const MAX_PROTOCOL_LENGTH = 255

/** Domain separation for the binding signature (SPEC.md §2.3). */
export const STATIC_KEY_PREFIX = new TextEncoder().encode('peerguard-channel-static-key:')

/** The message the identity key signs: prefix ‖ Noise static public key. */
export function bindingMessage(staticPublicKey: Uint8Array): Uint8Array {
  return Buffer.concat([STATIC_KEY_PREFIX, staticPublicKey])
}

function field(type: number, value: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(3)
  head[0] = type
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

export function encodeHandshakePayload(p: HandshakePayload): Uint8Array {
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError('payload: expected an object')
  assertBytes('payload.identityKey', p.identityKey, 32)
  assertBytes('payload.identitySig', p.identitySig, 64)
  if (!Array.isArray(p.certificates) || p.certificates.length > MAX_CERTIFICATES)
    throw new InvalidArgumentError(`payload.certificates: expected at most ${MAX_CERTIFICATES} certificates`)
  for (const c of p.certificates) assertBytes('payload.certificates[]', c)
  if (!Array.isArray(p.protocols) || p.protocols.length > MAX_PROTOCOLS)
    throw new InvalidArgumentError(`payload.protocols: expected at most ${MAX_PROTOCOLS} names`)
  const parts = [field(FIELD_IDENTITY_KEY, p.identityKey), field(FIELD_IDENTITY_SIG, p.identitySig)]
  for (const c of p.certificates) parts.push(field(FIELD_CERTIFICATE, c))
  for (const name of p.protocols) parts.push(field(FIELD_PROTOCOL, Buffer.from(name, 'utf8')))
  return Buffer.concat(parts)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Parse a handshake payload; throws HandshakeInvalidError (and nothing else) on any defect. */
export function decodeHandshakePayload(bytes: Uint8Array): HandshakePayload {
  assertBytes('bytes', bytes)
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let identityKey: Uint8Array | undefined
  let identitySig: Uint8Array | undefined
  const certificates: Uint8Array[] = []
  const protocols: string[] = []
  let offset = 0
  while (offset < buf.length) {
    if (offset + 3 > buf.length) throw new HandshakeInvalidError('handshake payload: truncated field header')
    const type = buf[offset] as number
    const length = buf.readUInt16BE(offset + 1)
    offset += 3
    if (offset + length > buf.length)
      throw new HandshakeInvalidError(`handshake payload: field 0x${type.toString(16)} is truncated`)
    const value = Uint8Array.from(buf.subarray(offset, offset + length))
    offset += length
    switch (type) {
      case FIELD_IDENTITY_KEY:
        if (identityKey !== undefined) throw new HandshakeInvalidError('handshake payload: repeated identity-key')
        if (length !== 32) throw new HandshakeInvalidError(`handshake payload: identity-key must be 32 bytes, got ${length}`)
        identityKey = value
        break
      case FIELD_IDENTITY_SIG:
        if (identitySig !== undefined) throw new HandshakeInvalidError('handshake payload: repeated identity-sig')
        if (length !== 64) throw new HandshakeInvalidError(`handshake payload: identity-sig must be 64 bytes, got ${length}`)
        identitySig = value
        break
      case FIELD_CERTIFICATE:
        if (certificates.length >= MAX_CERTIFICATES)
          throw new HandshakeInvalidError(`handshake payload: more than ${MAX_CERTIFICATES} certificates`)
        if (length < 1 || length > MAX_CERTIFICATE_LENGTH)
          throw new HandshakeInvalidError(`handshake payload: certificate of ${length} bytes`)
        certificates.push(value)
        break
      case FIELD_PROTOCOL: {
        if (protocols.length >= MAX_PROTOCOLS)
          throw new HandshakeInvalidError(`handshake payload: more than ${MAX_PROTOCOLS} protocols`)
        if (length < 1 || length > MAX_PROTOCOL_LENGTH)
          throw new HandshakeInvalidError(`handshake payload: protocol name of ${length} bytes`)
        let name: string
        try {
          name = utf8.decode(value)
        } catch (err) {
          throw new HandshakeInvalidError('handshake payload: protocol name is not UTF-8', { cause: err })
        }
        protocols.push(name)
        break
      }
      default:
        if (type < FIELD_EXTENSION_MIN)
          throw new HandshakeInvalidError(`handshake payload: unknown field type 0x${type.toString(16)}`)
    }
  }
  if (identityKey === undefined) throw new HandshakeInvalidError('handshake payload: identity-key missing')
  if (identitySig === undefined) throw new HandshakeInvalidError('handshake payload: identity-sig missing')
  return { identityKey, identitySig, certificates, protocols }
}

/** Frame types of the transport (SPEC.md §3.2). */
export const FrameType = { DATA: 0x00, READY: 0x01, REKEY: 0x02, CLOSE: 0x03, ALERT: 0x04 } as const

const ALERT_CODE = /^[a-z0-9-]{1,64}$/
export const MAX_ALERT_REASON = 256

/** ALERT body: `code_len: u8 | code | reason` (SPEC.md §3.2). Invalid codes become `internal`. */
export function encodeAlert(code: string, reason = ''): Buffer {
  if (typeof code !== 'string' || typeof reason !== 'string')
    throw new InvalidArgumentError('encodeAlert: expected a code and a reason string')
  const c = ALERT_CODE.test(code) ? code : 'internal'
  let r = Buffer.from(reason, 'utf8')
  if (r.length > MAX_ALERT_REASON)
    r = Buffer.from(
      Buffer.from(reason, 'utf8')
        .subarray(0, MAX_ALERT_REASON)
        .toString('utf8')
        .replace(/\uFFFD+$/, ''),
      'utf8'
    )
  return Buffer.concat([Uint8Array.of(c.length), Buffer.from(c, 'ascii'), r])
}

export function decodeAlert(body: Uint8Array): { code: string; reason: string } {
  assertBytes('body', body)
  const len = body[0]
  if (len === undefined || body.length < 1 + len) throw new FrameInvalidError('alert: truncated')
  const code = Buffer.from(body.subarray(1, 1 + len)).toString('latin1')
  if (!ALERT_CODE.test(code)) throw new FrameInvalidError('alert: invalid code')
  const reason = new TextDecoder('utf-8').decode(body.subarray(1 + len, 1 + len + MAX_ALERT_REASON))
  return { code, reason }
}
