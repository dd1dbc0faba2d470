import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify
} from 'node:crypto'
import { assertBytes, equalBytes } from '@peerguard/interface'
import { InvalidKeyError } from './errors.js'

/** Ed25519 sizes in bytes (RFC 8032 §5.1.5, §5.1.6). */
export const PUBLIC_KEY_LENGTH = 32
export const SEED_LENGTH = 32
/** tweetnacl layout: the 32-byte seed followed by the 32-byte public key. */
export const SECRET_KEY_LENGTH = 64
export const SIGNATURE_LENGTH = 64

/** An Ed25519 key pair in tweetnacl's layout (`secretKey` = seed ‖ publicKey). */
export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly secretKey: Uint8Array
}

/** The DER prefix that wraps a raw Ed25519 seed (RFC 8410 §7). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * A native private key for a seed. With the public key at hand (the tweetnacl layout carries it)
 * the seed is imported as a JWK (RFC 8037 OKP): OpenSSL 3.0 imports PKCS#8 DER through its decoder
 * framework, ten times slower (Node 20: ~390 µs against ~37 µs; a cold channel handshake imports
 * twice per side). The JWK's base64url seed is a V8 string that cannot be wiped and lives until
 * the next garbage collection, as the caller's secretKey array lives anyway. OpenSSL derives the
 * public key from `d` (it does not take `x` on trust): callers still compare the derived public
 * key with the one they hold. Without the public key the DER copy is used and wiped.
 */
function privateKeyObject(seed: Uint8Array, publicKey?: Uint8Array): KeyObject {
  if (publicKey !== undefined) {
    const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')
    return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(seed), x: b64(publicKey) }, format: 'jwk' })
  }
  const der = Buffer.alloc(PKCS8_PREFIX.length + SEED_LENGTH)
  PKCS8_PREFIX.copy(der, 0)
  der.set(seed, PKCS8_PREFIX.length)
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } finally {
    der.fill(0)
  }
}

/** The raw 32-byte public key of a native private key (the public half's JWK: no DER encoder). */
function rawPublicKey(key: KeyObject): Uint8Array {
  const x = createPublicKey(key).export({ format: 'jwk' }).x
  if (typeof x !== 'string') throw new InvalidKeyError('secretKey: no Ed25519 public key could be derived')
  return new Uint8Array(Buffer.from(x, 'base64url'))
}

interface CachedPrivateKey {
  readonly key: KeyObject
  /** The public key derived from the cached seed, compared with the caller's array on every hit. */
  readonly publicKey: Uint8Array
}

/**
 * Cache of native private keys, keyed by the caller's secretKey array (dies with it). Importing a
 * PKCS#8 key costs ~0.5 ms in OpenSSL 3, ten times a signature, hence the cache. A hit is only
 * used while the array's public-key half still equals the cached key's public key, so an array
 * that was wiped or overwritten with another key is never signed with the stale key.
 */
const privateCache = new WeakMap<Uint8Array, CachedPrivateKey>()
/** Small bounded cache of native public keys, keyed by the key's base64url form. */
const publicCache = new Map<string, KeyObject>()
/** Entries of the public-key cache (FIFO eviction). */
const PUBLIC_CACHE_SIZE = 1024

function cachedPrivate(secretKey: Uint8Array): KeyObject {
  const half = secretKey.subarray(SEED_LENGTH)
  const hit = privateCache.get(secretKey)
  if (hit !== undefined && equalBytes(hit.publicKey, half)) return hit.key
  const key = privateKeyObject(secretKey.subarray(0, SEED_LENGTH), half)
  const publicKey = rawPublicKey(key)
  if (!equalBytes(publicKey, half)) {
    privateCache.delete(secretKey)
    throw new InvalidKeyError('secretKey: the last 32 bytes are not the public key of the first 32 (the seed)')
  }
  privateCache.set(secretKey, { key, publicKey })
  return key
}

/**
 * Native public key object for raw bytes. node:crypto does not check that the bytes are a point
 * of the curve; a key that is not one simply never verifies a signature.
 */
export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url')
  let key = publicCache.get(x)
  if (key === undefined) {
    try {
      // JWK import is ~10x faster than SPKI DER import in OpenSSL 3 (RFC 8037 §2: OKP, Ed25519).
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
    } catch (err) {
      throw new InvalidKeyError('publicKey: not a valid Ed25519 public key', { cause: err })
    }
    if (publicCache.size >= PUBLIC_CACHE_SIZE) publicCache.delete(publicCache.keys().next().value as string)
    publicCache.set(x, key)
  }
  return key
}

/** Derive the key pair for a 32-byte seed (RFC 8032 §5.1.5). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  assertBytes('seed', seed, SEED_LENGTH)
  const key = privateKeyObject(seed)
  const publicKey = rawPublicKey(key)
  const secretKey = new Uint8Array(SECRET_KEY_LENGTH)
  secretKey.set(seed, 0)
  secretKey.set(publicKey, SEED_LENGTH)
  privateCache.set(secretKey, { key, publicKey: publicKey.slice() })
  return { publicKey, secretKey }
}

/** A fresh key pair from the operating system's CSPRNG. */
export function generateKeyPair(): KeyPair {
  const seed = randomBytes(SEED_LENGTH)
  try {
    return keyPairFromSeed(seed)
  } finally {
    seed.fill(0)
  }
}

/**
 * Check the type and size of a 64-byte secret key. That its second half is the public key of its
 * seed is checked by `sign` (InvalidKeyError), where the seed is already decoded.
 */
export function assertSecretKey(secretKey: unknown): asserts secretKey is Uint8Array {
  assertBytes('secretKey', secretKey, SECRET_KEY_LENGTH)
}

/**
 * Detached Ed25519 signature of `message` (node:crypto, native). Throws InvalidKeyError when the
 * secret key's second half is not the public key of its seed.
 */
export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  assertBytes('message', message)
  assertSecretKey(secretKey)
  return new Uint8Array(nodeSign(null, message, cachedPrivate(secretKey)))
}

/**
 * Verify a detached Ed25519 signature (RFC 8032 §5.1.7, strict: a signature whose S is not
 * below the group order is rejected). Returns false for a wrong signature or a key that is not
 * a curve point; throws InvalidArgumentError for wrong types or sizes.
 */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  assertBytes('signature', signature, SIGNATURE_LENGTH)
  assertBytes('message', message)
  assertBytes('publicKey', publicKey, PUBLIC_KEY_LENGTH)
  return nodeVerify(null, message, publicKeyObject(publicKey), signature)
}

/** The public key half of a 64-byte secret key. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  assertSecretKey(secretKey)
  return secretKey.slice(SEED_LENGTH)
}
