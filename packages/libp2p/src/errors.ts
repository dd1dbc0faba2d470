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

/** The object libp2p handed the encrypter is neither libp2p 2's duplex nor libp2p 3's MessageStream. */
export class Libp2pUnsupportedVersionError extends PeerguardError {
  constructor(message = SUPPORTED_VERSIONS, options?: PeerguardErrorOptions) {
    super('libp2p-unsupported-version', message, options)
  }
}

/** This Node.js lacks `Promise.withResolvers`, which libp2p calls (Node 22 or later). */
export class Libp2pUnsupportedRuntimeError extends PeerguardError {
  constructor(message = 'libp2p needs Promise.withResolvers (Node 22 or later)', options?: PeerguardErrorOptions) {
    super('libp2p-unsupported-runtime', message, options)
  }
}

/** The remote offered only stock Noise, and this node accepts only the peerguard encrypter. */
export class Libp2pNoCommonEncrypterError extends PeerguardError {
  constructor(message = 'no connection encrypter in common with the remote', options?: PeerguardErrorOptions) {
    super('libp2p-no-common-encrypter', message, options)
  }
}

/** The policy denies this peer the protocol it opened a stream for (`guardHandler`). */
export class Libp2pProtocolDeniedError extends PeerguardError {
  constructor(message = 'the policy denies this protocol', options?: PeerguardErrorOptions) {
    super('libp2p-protocol-denied', message, options)
  }
}

/** What this package works with; named in every version and runtime error. */
export const SUPPORTED_VERSIONS =
  '@peerguard/libp2p supports libp2p 2.x (@libp2p/interface 2.x, it-stream duplex connections) and libp2p 3.x (@libp2p/interface 3.x, MessageStream connections), on Node 22 or later'
