import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject
} from 'node:crypto'
import { NoiseDecryptError, NoiseMessageError } from '../errors.js'

/**
 * The crypto functions of the Noise Protocol Framework (rev 34, §4): DH, cipher and hash. The
 * native provider below runs on node:crypto; tests plug a pure-JavaScript provider in to check
 * that both give the same bytes.
 */
export interface NoiseKeyPair {
  readonly publicKey: Uint8Array
  readonly privateKey: Uint8Array
}

export interface NoiseDH {
  /** Name in the protocol name, e.g. `25519`. */
  readonly name: string
  /** DHLEN: bytes of a public key and of a DH output (32 for X25519, §12.1). */
  readonly dhLen: number
  generateKeyPair(): NoiseKeyPair
  /** The key pair of a private key (used for fixed keys from test vectors). */
  keyPairFromPrivate(privateKey: Uint8Array): NoiseKeyPair
  /** DH(private, public); throws NoiseMessageError for an invalid public key (§4.1). */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array
}

export interface NoiseCipher {
  readonly name: string
  /** ENCRYPT(k, n, ad, plaintext) → ciphertext ‖ 16-byte tag (§4.2). `n` is a counter < 2^64. */
  encrypt(key: Uint8Array, n: bigint | number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** DECRYPT; throws NoiseDecryptError when authentication fails. */
  decrypt(key: Uint8Array, n: bigint | number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array
}

export interface NoiseHash {
  readonly name: string
  /** HASHLEN (32 for SHA-256). */
  readonly hashLen: number
  hash(...parts: Uint8Array[]): Uint8Array
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array
  /**
   * Optional native HKDF(chaining_key, ikm, n) of Noise §4.3: `n` outputs of HASHLEN bytes. Noise's
   * HKDF is RFC 5869 with salt = chaining key and empty info, so a native RFC 5869 HKDF computes
   * it. When absent, the HMAC construction of §4.3 is used.
   */
  hkdf?(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[]
}

export interface NoiseCryptoProvider {
  readonly dh: Record<string, NoiseDH>
  readonly cipher: Record<string, NoiseCipher>
  readonly hash: Record<string, NoiseHash>
}

/** Authentication tag length of ChaCha20-Poly1305 (RFC 8439 §2.8) and of Noise's AES-GCM (§12.4), in bytes. */
export const TAG_LENGTH = 16
/**
 * Native key objects for raw X25519 keys. Keys go in and out as JWK (RFC 8037 OKP), which
 * OpenSSL 3 imports about ten times faster than PKCS#8/SPKI DER; private key objects are cached
 * per private-key array (a WeakMap, so they die with it), which makes a static key's DH cheap.
 */
const privateObjects = new WeakMap<Uint8Array, KeyObject>()
const b64url = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')

/** Native private key object for a raw X25519 private key (cached per array). */
export function x25519PrivateKeyObject(privateKey: Uint8Array, publicKey?: Uint8Array): KeyObject {
  let key = privateObjects.get(privateKey)
  if (key === undefined) {
    const pub = publicKey ?? x25519PublicFromPrivate(privateKey)
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(privateKey), x: b64url(pub) }, format: 'jwk' })
    privateObjects.set(privateKey, key)
  }
  return key
}

function x25519PublicFromPrivate(privateKey: Uint8Array): Uint8Array {
  // The JWK import wants `x`; derive it through a one-off DER import (only for fixed keys from vectors).
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateKey])
  return rawPublic(createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })))
}

const publicObjects = new WeakMap<Uint8Array, KeyObject>()

/** Native public key object for a raw X25519 public key (cached per array: a remote `e` is used twice). */
function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  let key = publicObjects.get(publicKey)
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' })
    publicObjects.set(publicKey, key)
  }
  return key
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url'))
}

/** X25519 on node:crypto (RFC 7748). */
export const nodeX25519: NoiseDH = {
  name: '25519',
  dhLen: 32,
  generateKeyPair() {
    const { privateKey } = generateKeyPairSync('x25519')
    const jwk = privateKey.export({ format: 'jwk' })
    const raw = new Uint8Array(Buffer.from(jwk.d as string, 'base64url'))
    privateObjects.set(raw, privateKey)
    return { publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')), privateKey: raw }
  },
  keyPairFromPrivate(privateKey) {
    const copy = Uint8Array.from(privateKey)
    const publicKey = x25519PublicFromPrivate(copy)
    x25519PrivateKeyObject(copy, publicKey)
    return { publicKey, privateKey: copy }
  },
  dh(privateKey, publicKey) {
    if (publicKey.length !== 32) throw new NoiseMessageError(`X25519 public key: expected 32 bytes, got ${publicKey.length}`)
    try {
      return new Uint8Array(
        diffieHellman({ privateKey: x25519PrivateKeyObject(privateKey), publicKey: x25519PublicKeyObject(publicKey) })
      )
    } catch (err) {
      // OpenSSL refuses low-order points (an all-zero shared secret), as RFC 7748 §6.1 allows.
      throw new NoiseMessageError('X25519: invalid remote public key', { cause: err })
    }
  }
}

/** Noise nonce for ChaChaPoly: 32 bits of zeros then the 64-bit counter little-endian (§12.3). */
export function chachaNonce(n: bigint | number, out: Buffer = Buffer.alloc(12)): Buffer {
  out.writeUInt32LE(0, 0)
  if (typeof n === 'bigint') {
    out.writeBigUInt64LE(n, 4)
  } else {
    out.writeUInt32LE(n >>> 0, 4)
    out.writeUInt32LE(Math.floor(n / 0x1_0000_0000) >>> 0, 8)
  }
  return out
}

/** Noise nonce for AESGCM: 32 bits of zeros then the 64-bit counter big-endian (§12.4). */
export function aesGcmNonce(n: bigint | number, out: Buffer = Buffer.alloc(12)): Buffer {
  out.writeUInt32BE(0, 0)
  if (typeof n === 'bigint') {
    out.writeBigUInt64BE(n, 4)
  } else {
    out.writeUInt32BE(Math.floor(n / 0x1_0000_0000) >>> 0, 4)
    out.writeUInt32BE(n >>> 0, 8)
  }
  return out
}

/** An AEAD of node:crypto with a 32-byte key, a 12-byte nonce and a 16-byte tag, as a Noise cipher. */
function nodeAead(
  name: string,
  algorithm: 'chacha20-poly1305' | 'aes-256-gcm',
  nonce: (n: bigint | number) => Buffer
): NoiseCipher {
  return {
    name,
    encrypt(key, n, ad, plaintext) {
      // One overload per family in the typings; both take the same options.
      const c = createCipheriv(algorithm as 'aes-256-gcm', key, nonce(n), { authTagLength: TAG_LENGTH })
      c.setAAD(ad, { plaintextLength: plaintext.length })
      const head = c.update(plaintext)
      c.final()
      return Buffer.concat([head, c.getAuthTag()])
    },
    decrypt(key, n, ad, ciphertext) {
      if (ciphertext.length < TAG_LENGTH) throw new NoiseDecryptError('ciphertext shorter than its tag')
      const body = ciphertext.subarray(0, ciphertext.length - TAG_LENGTH)
      const d = createDecipheriv(algorithm as 'aes-256-gcm', key, nonce(n), { authTagLength: TAG_LENGTH })
      d.setAAD(ad, { plaintextLength: body.length })
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH))
      const out = d.update(body)
      try {
        d.final()
      } catch (err) {
        out.fill(0)
        throw new NoiseDecryptError(undefined, { cause: err })
      }
      return out
    }
  }
}

/** ChaCha20-Poly1305 on node:crypto (RFC 8439; Noise §12.3). */
export const nodeChaChaPoly: NoiseCipher = nodeAead('ChaChaPoly', 'chacha20-poly1305', chachaNonce)

/** AES-256-GCM on node:crypto (NIST SP 800-38D; Noise §12.4), hardware-accelerated where the CPU has AES instructions. */
export const nodeAesGcm: NoiseCipher = nodeAead('AESGCM', 'aes-256-gcm', aesGcmNonce)

/** SHA-256 and HMAC-SHA-256 on node:crypto. */
export const nodeSha256: NoiseHash = {
  name: 'SHA256',
  hashLen: 32,
  hash(...parts) {
    const h = createHash('sha256')
    for (const p of parts) h.update(p)
    return h.digest()
  },
  hmac(key, ...parts) {
    const h = createHmac('sha256', key)
    for (const p of parts) h.update(p)
    return h.digest()
  },
  // Noise's HKDF (§4.3) straight on createHmac: for 32-byte inputs this is about a third faster
  // than hkdfSync, which imports the salt and the key material as KeyObjects on every call.
  hkdf(chainingKey, ikm, outputs) {
    const temp = createHmac('sha256', chainingKey).update(ikm).digest()
    const o1 = createHmac('sha256', temp).update(BYTE_1).digest()
    const o2 = createHmac('sha256', temp).update(o1).update(BYTE_2).digest()
    const parts: Uint8Array[] = [o1, o2]
    if (outputs === 3) parts.push(createHmac('sha256', temp).update(o2).update(BYTE_3).digest())
    temp.fill(0)
    return parts
  }
}
const BYTE_1 = Uint8Array.of(1)
const BYTE_2 = Uint8Array.of(2)
const BYTE_3 = Uint8Array.of(3)

/** The provider peerguard uses: node:crypto only. */
export const nodeCryptoProvider: NoiseCryptoProvider = {
  dh: { '25519': nodeX25519 },
  cipher: { ChaChaPoly: nodeChaChaPoly, AESGCM: nodeAesGcm },
  hash: { SHA256: nodeSha256 }
}
