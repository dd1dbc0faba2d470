import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import { assertBytes } from '@peerguard/interface'
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

/** DER prefixes that wrap a raw Ed25519 key (RFC 8410 §7 and §10.3). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

function privateKeyObject(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

/** Cache of native private keys, keyed by the caller's secretKey array (dies with it). */
const privateCache = new WeakMap<Uint8Array, KeyObject>()
/** Small bounded cache of native public keys, keyed by the key's hex form. */
const publicCache = new Map<string, KeyObject>()
const PUBLIC_CACHE_SIZE = 1024

function cachedPrivate(secretKey: Uint8Array): KeyObject {
  let key = privateCache.get(secretKey)
  if (key === undefined) {
    key = privateKeyObject(secretKey.subarray(0, SEED_LENGTH))
    privateCache.set(secretKey, key)
  }
  return key
}

/** Native public key object for raw bytes; throws InvalidKeyError when not a curve point. */
export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey).toString('hex')
  let key = publicCache.get(hex)
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    } catch (err) {
      throw new InvalidKeyError('publicKey: not a valid Ed25519 public key', { cause: err })
    }
    if (publicCache.size >= PUBLIC_CACHE_SIZE) publicCache.delete(publicCache.keys().next().value as string)
    publicCache.set(hex, key)
  }
  return key
}

/** Derive the key pair for a 32-byte seed (RFC 8032 §5.1.5). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  assertBytes('seed', seed, SEED_LENGTH)
  const key = privateKeyObject(seed)
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length))
  const secretKey = new Uint8Array(SECRET_KEY_LENGTH)
  secretKey.set(seed, 0)
  secretKey.set(publicKey, SEED_LENGTH)
  privateCache.set(secretKey, key)
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

/** Check a 64-byte secret key: its second half must be the public key of its seed. */
export function assertSecretKey(secretKey: unknown): asserts secretKey is Uint8Array {
  assertBytes('secretKey', secretKey, SECRET_KEY_LENGTH)
}

/** Detached Ed25519 signature of `message` (node:crypto, native). */
export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  assertBytes('message', message)
  assertSecretKey(secretKey)
  return new Uint8Array(nodeSign(null, message, cachedPrivate(secretKey)))
}

/**
 * Verify a detached Ed25519 signature. Returns false for a wrong signature; throws
 * InvalidArgumentError for wrong types or sizes and InvalidKeyError for a key that is not a point.
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
