import nacl from 'tweetnacl'
import { assertBytes } from '@peerguard/interface'
import { type KeyPair, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SEED_LENGTH, SIGNATURE_LENGTH } from '../ed25519.js'

/**
 * @packageDocumentation
 * `@peerguard/identity/reference`: the reference Ed25519 implementation (tweetnacl, pure
 * JavaScript), kept out of the main entry point so applications do not load it.
 */

/**
 * The reference Ed25519 implementation (tweetnacl, pure JavaScript). The native node:crypto path in
 * `ed25519.ts` is what peerguard uses; this one exists so tests can prove both agree byte for byte,
 * and for hosts without a native Ed25519.
 */
export const tweetnaclEd25519 = {
  keyPairFromSeed(seed: Uint8Array): KeyPair {
    assertBytes('seed', seed, SEED_LENGTH)
    const kp = nacl.sign.keyPair.fromSeed(seed)
    return { publicKey: kp.publicKey, secretKey: kp.secretKey }
  },
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
    assertBytes('message', message)
    assertBytes('secretKey', secretKey, SECRET_KEY_LENGTH)
    return nacl.sign.detached(message, secretKey)
  },
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
    assertBytes('signature', signature, SIGNATURE_LENGTH)
    assertBytes('message', message)
    assertBytes('publicKey', publicKey, PUBLIC_KEY_LENGTH)
    return nacl.sign.detached.verify(message, signature, publicKey)
  }
}
