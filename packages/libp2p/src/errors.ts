import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** The handshake authenticated a peer whose libp2p PeerId is not the one libp2p dialled (`/p2p/…`). */
export class Libp2pPeerMismatchError extends PeerguardError {
  constructor(message = 'the authenticated peer is not the peer that was dialled', options?: PeerguardErrorOptions) {
    super('libp2p-peer-mismatch', message, options)
  }
}

/** The libp2p node's private key is not the peerguard identity the encrypter was given. */
export class Libp2pKeyMismatchError extends PeerguardError {
  constructor(message = "the libp2p node's private key is not its peerguard identity key", options?: PeerguardErrorOptions) {
    super('libp2p-key-mismatch', message, options)
  }
}

/** A libp2p key or PeerId is not Ed25519, so it cannot be a peerguard identity. */
export class Libp2pUnsupportedKeyError extends PeerguardError {
  constructor(message = 'only Ed25519 libp2p keys can be peerguard identities', options?: PeerguardErrorOptions) {
    super('libp2p-unsupported-key', message, options)
  }
}

/** The libp2p connection under a peerguard channel failed (reset, aborted, closed mid-write). */
export class Libp2pStreamError extends PeerguardError {
  constructor(message = 'the libp2p connection under the channel failed', options?: PeerguardErrorOptions) {
    super('libp2p-stream-error', message, options)
  }
}
