import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** A manifest is malformed, too large, or not in canonical form (SWARM.md §2). */
export class SwarmManifestInvalidError extends PeerguardError {
  constructor(message = 'the swarm manifest is malformed', options?: PeerguardErrorOptions) {
    super('swarm-manifest-invalid', message, options)
  }
}

/** The manifest signature or the publisher's certificate chain does not verify. */
export class SwarmManifestSignatureError extends PeerguardError {
  constructor(message = 'the swarm manifest signature does not verify', options?: PeerguardErrorOptions) {
    super('swarm-manifest-signature', message, options)
  }
}

/** The policy does not allow the manifest's publisher to publish (write) the swarm. */
export class SwarmPublisherDeniedError extends PeerguardError {
  constructor(message = 'the manifest publisher may not publish this swarm', options?: PeerguardErrorOptions) {
    super('swarm-publisher-denied', message, options)
  }
}

/** The policy denies a peer the swarm (fetch or serve). */
export class SwarmDeniedError extends PeerguardError {
  constructor(message = 'denied by policy', options?: PeerguardErrorOptions) {
    super('swarm-denied', message, options)
  }
}

/** A peer asked for a swarm this peer does not serve. */
export class SwarmUnknownError extends PeerguardError {
  constructor(message = 'unknown swarm', options?: PeerguardErrorOptions) {
    super('swarm-unknown', message, options)
  }
}

/** A peer broke the wire protocol (SWARM.md §3); the connection is closed. */
export class SwarmProtocolError extends PeerguardError {
  constructor(message = 'swarm protocol error', options?: PeerguardErrorOptions) {
    super('swarm-protocol-error', message, options)
  }
}

/** A piece did not hash to the manifest's SHA-256; the sending peer is dropped. */
export class SwarmPieceCorruptError extends PeerguardError {
  constructor(message = 'a piece does not match its SHA-256', options?: PeerguardErrorOptions) {
    super('swarm-piece-corrupt', message, options)
  }
}

/** A local file does not match the manifest (size, a piece, or the whole-file SHA-256). */
export class SwarmFileMismatchError extends PeerguardError {
  constructor(message = 'the file does not match the manifest', options?: PeerguardErrorOptions) {
    super('swarm-file-mismatch', message, options)
  }
}

/** No connected peer could supply the missing pieces in time. */
export class SwarmStalledError extends PeerguardError {
  constructor(message = 'the download stalled: no peer has the missing pieces', options?: PeerguardErrorOptions) {
    super('swarm-stalled', message, options)
  }
}

/** The serving side is at its connection limit. */
export class SwarmTooManyPeersError extends PeerguardError {
  constructor(message = 'too many swarm peers', options?: PeerguardErrorOptions) {
    super('swarm-too-many-peers', message, options)
  }
}

/** The swarm peer was closed while an operation was running. */
export class SwarmClosedError extends PeerguardError {
  constructor(message = 'the swarm peer was closed', options?: PeerguardErrorOptions) {
    super('swarm-closed', message, options)
  }
}
