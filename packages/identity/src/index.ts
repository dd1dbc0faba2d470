/**
 * @packageDocumentation
 * Ed25519 peer identities (RFC 8032): key pairs, detached signatures on node:crypto's native path
 * (tweetnacl kept as the cross-checked reference, `@peerguard/identity/reference`), self-certifying peer IDs with a human-checkable
 * text form, the same key as a libp2p PeerId, and an encrypted keystore.
 *
 * @example
 * ```ts
 * import { generateKeyPair, peerIdFromPublicKey, sign, verify } from '@peerguard/identity'
 * const { publicKey, secretKey } = generateKeyPair()
 * const sig = sign(message, secretKey)
 * verify(sig, message, publicKey) // true
 * peerIdFromPublicKey(publicKey).toString() // 'MFRGGZD-…' (8 groups of 7)
 * await saveIdentity('alice.key', { publicKey, secretKey }, { passphrase })
 * ```
 */
export {
  generateKeyPair,
  keyPairFromSeed,
  publicKeyOf,
  sign,
  verify,
  PUBLIC_KEY_LENGTH,
  SECRET_KEY_LENGTH,
  SEED_LENGTH,
  SIGNATURE_LENGTH
} from './ed25519.js'
export type { KeyPair } from './ed25519.js'
export {
  PeerId,
  peerIdFromLibp2p,
  peerIdFromLibp2pBytes,
  peerIdFromPublicKey,
  peerIdFromString,
  PEER_ID_CHARS
} from './peer-id.js'
export { decodeKeystore, encodeKeystore, isKeystoreEncrypted, KEYSTORE_MAX_BYTES, KEYSTORE_VERSION } from './keystore-format.js'
export type { KeystoreEntry, KeystoreOptions, ScryptParams } from './keystore-format.js'
export { loadIdentity, loadKeystore, saveIdentity, saveKeystore } from './keystore.js'
export type { Identity } from './keystore.js'
export {
  InvalidKeyError,
  InvalidPeerIdError,
  KeystoreBadPassphraseError,
  KeystoreCorruptError,
  KeystoreInvalidFormatError,
  KeystorePassphraseRequiredError,
  KeystoreTruncatedError,
  KeystoreUnsupportedVersionError,
  PeerIdCheckError
} from './errors.js'
