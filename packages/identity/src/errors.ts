import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** A key has the wrong length or is not a valid Ed25519 key. */
export class InvalidKeyError extends PeerguardError {
  constructor(message = 'invalid Ed25519 key', options?: PeerguardErrorOptions) {
    super('invalid-key', message, options)
  }
}

/** A peer ID (peerguard or libp2p form) could not be parsed. */
export class InvalidPeerIdError extends PeerguardError {
  constructor(message = 'invalid peer ID', options?: PeerguardErrorOptions) {
    super('invalid-peer-id', message, options)
  }
}

/** A check character of a peer ID is wrong: the text has a typo in the group it names. */
export class PeerIdCheckError extends PeerguardError {
  /** 1-based index of the dash-separated group pair whose check failed (1..4). */
  readonly checkGroup: number

  constructor(checkGroup: number, message: string, options?: PeerguardErrorOptions) {
    super('peer-id-check-failed', message, { ...options, details: { checkGroup, ...options?.details } })
    this.checkGroup = checkGroup
  }
}

/** The keystore is encrypted and the passphrase does not open it. */
export class KeystoreBadPassphraseError extends PeerguardError {
  constructor(message = 'keystore: wrong passphrase', options?: PeerguardErrorOptions) {
    super('keystore-bad-passphrase', message, options)
  }
}

/** The keystore is encrypted and no passphrase was given. */
export class KeystorePassphraseRequiredError extends PeerguardError {
  constructor(message = 'keystore: encrypted, a passphrase is required', options?: PeerguardErrorOptions) {
    super('keystore-passphrase-required', message, options)
  }
}

/** The keystore's checksum or structure is wrong: it was damaged or tampered with. */
export class KeystoreCorruptError extends PeerguardError {
  constructor(message = 'keystore: the file is damaged or was tampered with', options?: PeerguardErrorOptions) {
    super('keystore-corrupt', message, options)
  }
}

/** The keystore ends before its declared length. */
export class KeystoreTruncatedError extends PeerguardError {
  constructor(message = 'keystore: the file is truncated', options?: PeerguardErrorOptions) {
    super('keystore-truncated', message, options)
  }
}

/** The keystore has a format version this code cannot read. */
export class KeystoreUnsupportedVersionError extends PeerguardError {
  constructor(message = 'keystore: unsupported format version', options?: PeerguardErrorOptions) {
    super('keystore-unsupported-version', message, options)
  }
}

/** The bytes are not a peerguard keystore at all. */
export class KeystoreInvalidFormatError extends PeerguardError {
  constructor(message = 'keystore: not a peerguard keystore', options?: PeerguardErrorOptions) {
    super('keystore-invalid-format', message, options)
  }
}
