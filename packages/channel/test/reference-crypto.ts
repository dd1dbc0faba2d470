import { gcm } from '@noble/ciphers/aes.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { NoiseDecryptError, NoiseMessageError, type NoiseCryptoProvider } from '@peerguard/channel/noise'

/**
 * A pure-JavaScript Noise crypto provider, the differential reference for the node:crypto one:
 * X25519 from @noble/curves (tweetnacl's `scalarMult` is checked against node:crypto separately in
 * properties.spec.ts; it is too slow to run every vector), ChaCha20-Poly1305 and AES-256-GCM from @noble/ciphers,
 * SHA-256 and HMAC from @noble/hashes. Test-only. (reference-noise.ts is a whole second Noise
 * implementation; this is only a second set of primitives under our own state machine.)
 */
/** ChaChaPoly: 4 zero bytes, then n little-endian (Noise §12.3); AESGCM: big-endian (§12.4). */
const nonce = (n: bigint | number, littleEndian = true): Uint8Array => {
  const out = new Uint8Array(12)
  new DataView(out.buffer).setBigUint64(4, BigInt(n), littleEndian)
  return out
}

const concat = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts)

export const pureJsCryptoProvider: NoiseCryptoProvider = {
  dh: {
    '25519': {
      name: '25519',
      dhLen: 32,
      generateKeyPair() {
        const privateKey = x25519.utils.randomSecretKey()
        return { privateKey, publicKey: x25519.getPublicKey(privateKey) }
      },
      keyPairFromPrivate(privateKey) {
        return { privateKey: Uint8Array.from(privateKey), publicKey: x25519.getPublicKey(privateKey) }
      },
      dh(privateKey, publicKey) {
        if (publicKey.length !== 32) throw new NoiseMessageError('X25519 public key: expected 32 bytes')
        const out = x25519.getSharedSecret(privateKey, publicKey)
        if (out.every((b) => b === 0)) throw new NoiseMessageError('X25519: invalid remote public key')
        return out
      }
    }
  },
  cipher: {
    ChaChaPoly: {
      name: 'ChaChaPoly',
      encrypt: (key, n, ad, plaintext) => chacha20poly1305(key, nonce(n), ad).encrypt(plaintext),
      decrypt(key, n, ad, ciphertext) {
        try {
          return chacha20poly1305(key, nonce(n), ad).decrypt(ciphertext)
        } catch (err) {
          throw new NoiseDecryptError(undefined, { cause: err })
        }
      }
    },
    AESGCM: {
      name: 'AESGCM',
      encrypt: (key, n, ad, plaintext) => gcm(key, nonce(n, false), ad).encrypt(plaintext),
      decrypt(key, n, ad, ciphertext) {
        try {
          return gcm(key, nonce(n, false), ad).decrypt(ciphertext)
        } catch (err) {
          throw new NoiseDecryptError(undefined, { cause: err })
        }
      }
    }
  },
  hash: {
    SHA256: {
      name: 'SHA256',
      hashLen: 32,
      hash: (...parts) => sha256(concat(parts)),
      hmac: (key, ...parts) => hmac(sha256, key, concat(parts))
    }
  }
}
