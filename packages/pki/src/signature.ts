import { createPublicKey, type KeyObject, verify as nodeVerify } from 'node:crypto'
import type { KeyType, ParsedPublicKey, SignatureAlgorithm } from './fields.js'

/**
 * Signature checks on node:crypto's native path (OpenSSL): Ed25519 (RFC 8032, pure) and
 * ECDSA P-256 with SHA-256 (DER-encoded r,s as X.509 carries them, RFC 5758 §3.2).
 */

const KEY_CACHE_SIZE = 256
const keyCache = new Map<string, KeyObject>()

/** node:crypto public key for an SPKI, cached (bounded) by its bytes. */
export function publicKeyObject(publicKey: ParsedPublicKey): KeyObject {
  const id = Buffer.from(publicKey.spki.buffer, publicKey.spki.byteOffset, publicKey.spki.byteLength).toString('base64')
  let key = keyCache.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(publicKey.spki), format: 'der', type: 'spki' })
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string)
    keyCache.set(id, key)
  }
  return key
}

/**
 * True when `signature` over `data` verifies with `key`. An algorithm that does not fit the
 * key type (an Ed25519 signature from a P-256 key) is false, never an exception.
 */
export function verifySignature(
  algorithm: SignatureAlgorithm | undefined,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  keyType: KeyType | undefined
): boolean {
  try {
    if (algorithm === 'ed25519' && keyType === 'ed25519') {
      return signature.length === 64 && nodeVerify(null, data, key, signature)
    }
    if (algorithm === 'ecdsa-sha256' && keyType === 'p256') {
      return nodeVerify('sha256', data, { key, dsaEncoding: 'der' }, signature)
    }
  } catch {
    return false
  }
  return false
}
