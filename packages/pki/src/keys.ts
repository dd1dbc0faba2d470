import { createPrivateKey, generateKeyPairSync, type KeyObject, type webcrypto } from 'node:crypto'
import { generateKeyPair } from '@peerguard/identity'
import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import { ed25519Spki, type KeyType } from './fields.js'

/**
 * CA keys. A CA key is held as a keystore entry (the @peerguard/identity keystore format):
 * ed25519 → 32-byte seed + raw 32-byte public key; p256 → PKCS#8 DER + SPKI DER.
 */
export interface CaKeyEntry {
  type: KeyType
  secret: Uint8Array
  publicKey: Uint8Array
  label?: string
}

/** PKCS#8 prefix wrapping a 32-byte Ed25519 seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Uint8Array.from(Buffer.from('302e020100300506032b657004220420', 'hex'))

export function assertKeyType(name: string, value: unknown): asserts value is KeyType {
  if (value !== 'ed25519' && value !== 'p256') {
    throw new InvalidArgumentError(`${name}: expected 'ed25519' or 'p256', got ${JSON.stringify(value)}`)
  }
}

/** A fresh CA key from the OS CSPRNG. */
export function generateCaKey(type: KeyType, label?: string): CaKeyEntry {
  assertKeyType('keyType', type)
  if (type === 'ed25519') {
    const kp = generateKeyPair()
    const secret = kp.secretKey.slice(0, 32)
    kp.secretKey.fill(0)
    return { type, secret, publicKey: kp.publicKey, ...(label === undefined ? {} : { label }) }
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    type,
    secret: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
    publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    ...(label === undefined ? {} : { label })
  }
}

/** Check the shape of a key entry. */
export function assertKeyEntry(name: string, entry: unknown): asserts entry is CaKeyEntry {
  if (entry === null || typeof entry !== 'object') throw new InvalidArgumentError(`${name}: expected a keystore entry object`)
  const e = entry as Record<string, unknown>
  assertKeyType(`${name}.type`, e.type)
  if (e.type === 'ed25519') {
    assertBytes(`${name}.secret`, e.secret, 32)
    assertBytes(`${name}.publicKey`, e.publicKey, 32)
  } else {
    assertBytes(`${name}.secret`, e.secret)
    assertBytes(`${name}.publicKey`, e.publicKey)
  }
}

/** PKCS#8 DER of an entry's private key (a new buffer: wipe it when done). */
export function entryPkcs8(entry: CaKeyEntry): Uint8Array {
  if (entry.type === 'p256') return Uint8Array.from(entry.secret)
  const out = new Uint8Array(48)
  out.set(ED25519_PKCS8_PREFIX, 0)
  out.set(entry.secret, 16)
  return out
}

/** SPKI DER of an entry's public key. */
export function entrySpki(entry: CaKeyEntry): Uint8Array {
  return entry.type === 'ed25519' ? ed25519Spki(entry.publicKey) : entry.publicKey
}

/** The node:crypto private key of an entry. */
export function entryPrivateKey(entry: CaKeyEntry): KeyObject {
  const pkcs8 = entryPkcs8(entry)
  try {
    return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } finally {
    pkcs8.fill(0)
  }
}

/** WebCrypto algorithm parameters for signing with a key type (used by @peculiar/x509). */
export function webSigningAlgorithm(type: KeyType): webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams {
  return type === 'ed25519' ? { name: 'Ed25519' } : ({ name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams)
}

/** The WebCrypto signing key of an entry (non-extractable). */
export async function webSigningKey(entry: CaKeyEntry): Promise<webcrypto.CryptoKey> {
  const pkcs8 = entryPkcs8(entry)
  try {
    const alg = entry.type === 'ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
    return await globalThis.crypto.subtle.importKey('pkcs8', pkcs8, alg, false, ['sign'])
  } finally {
    pkcs8.fill(0)
  }
}
