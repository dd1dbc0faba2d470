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
