import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

// ---- Noise core ----

/** The protocol name names a pattern, modifier or primitive this implementation does not have. */
export class NoiseUnsupportedProtocolError extends PeerguardError {
  constructor(message = 'unsupported Noise protocol', options?: PeerguardErrorOptions) {
    super('noise-unsupported-protocol', message, options)
  }
}

/** A handshake or cipher state was used out of order (writing when it should read, after completion…). */
export class NoiseStateError extends PeerguardError {
  constructor(message = 'Noise state used out of order', options?: PeerguardErrorOptions) {
    super('noise-invalid-state', message, options)
  }
}

/** A Noise ciphertext failed authentication. */
export class NoiseDecryptError extends PeerguardError {
  constructor(message = 'Noise message failed authentication', options?: PeerguardErrorOptions) {
    super('noise-decrypt-failed', message, options)
  }
}

/** The 64-bit nonce counter of a cipher state reached its end. */
export class NoiseNonceExhaustedError extends PeerguardError {
  constructor(message = 'Noise nonce counter exhausted', options?: PeerguardErrorOptions) {
    super('noise-nonce-exhausted', message, options)
  }
}

/** A handshake message is too short for its tokens, or carries an invalid public key. */
export class NoiseMessageError extends PeerguardError {
  constructor(message = 'invalid Noise handshake message', options?: PeerguardErrorOptions) {
    super('noise-invalid-message', message, options)
  }
}

// ---- peerguard channel ----

/** The handshake did not finish within `handshakeTimeoutMs`. */
export class HandshakeTimeoutError extends PeerguardError {
  constructor(message = 'channel handshake timed out', options?: PeerguardErrorOptions) {
    super('channel-handshake-timeout', message, options)
  }
}

/** A handshake frame or payload is malformed, too large, or the connection ended during the handshake. */
export class HandshakeInvalidError extends PeerguardError {
  constructor(message = 'malformed channel handshake', options?: PeerguardErrorOptions) {
    super('channel-handshake-invalid', message, options)
  }
}

/** A transport frame has a length or type the protocol does not allow. */
export class FrameInvalidError extends PeerguardError {
  constructor(message = 'invalid channel frame', options?: PeerguardErrorOptions) {
    super('channel-frame-invalid', message, options)
  }
}

/** A transport frame failed authentication: tampered, replayed, reordered or dropped. */
export class ChannelDecryptError extends PeerguardError {
  constructor(
    message = 'channel frame failed authentication (tampered, replayed, reordered or dropped)',
    options?: PeerguardErrorOptions
  ) {
    super('channel-decrypt-failed', message, options)
  }
}

/** The underlying stream ended without a close frame. */
export class ChannelTruncatedError extends PeerguardError {
  constructor(message = 'connection ended without a close frame (truncated)', options?: PeerguardErrorOptions) {
    super('channel-truncated', message, options)
  }
}

/** The identity signature over the Noise static key is wrong, or the identity key is not the certificate's. */
export class BindingInvalidError extends PeerguardError {
  constructor(message = "peer's identity key did not sign its Noise static key", options?: PeerguardErrorOptions) {
    super('channel-binding-invalid', message, options)
  }
}

/** The authenticated peer is not the expected one. */
export class PeerMismatchError extends PeerguardError {
  constructor(message = 'authenticated peer is not the expected peer', options?: PeerguardErrorOptions) {
    super('channel-peer-mismatch', message, options)
  }
}

/** The peer presented no certificate and no pin or known-peers entry allows that. */
export class CertificateRequiredError extends PeerguardError {
  constructor(message = 'peer presented no certificate and is not pinned or known', options?: PeerguardErrorOptions) {
    super('channel-certificate-required', message, options)
  }
}

/** A known peer (trust on first use) came back with another key. */
export class KnownPeerChangedError extends PeerguardError {
  constructor(message = "known peer's key changed", options?: PeerguardErrorOptions) {
    super('channel-known-peer-changed', message, options)
  }
}

/** A known-peers file has a line that cannot be parsed. */
export class KnownPeersInvalidError extends PeerguardError {
  constructor(message = 'invalid known-peers file', options?: PeerguardErrorOptions) {
    super('channel-known-peers-invalid', message, options)
  }
}

/** The local `authorize` gate refused the peer. */
export class UnauthorizedError extends PeerguardError {
  constructor(message = 'peer refused by the authorization gate', options?: PeerguardErrorOptions) {
    super('channel-unauthorized', message, options)
  }
}

/** The remote peer sent an alert; `details.alert` holds its code and `details.reason` its text. */
export class ChannelRefusedError extends PeerguardError {
  /** The alert code the remote peer sent (a code of the peerguard table, or another string). */
  readonly alert: string
  constructor(alert: string, reason: string, options?: PeerguardErrorOptions) {
    super('channel-refused', `remote peer closed the channel with alert ${alert}${reason === '' ? '' : `: ${reason}`}`, {
      ...options,
      details: { alert, reason, ...options?.details }
    })
    this.alert = alert
  }
}

/** No application protocol is offered by both peers. */
export class ProtocolMismatchError extends PeerguardError {
  constructor(message = 'no common application protocol', options?: PeerguardErrorOptions) {
    super('channel-protocol-mismatch', message, options)
  }
}

/** The peers allow no common transport cipher (SPEC.md §2.6). */
export class CipherMismatchError extends PeerguardError {
  constructor(message = 'no common transport cipher', options?: PeerguardErrorOptions) {
    super('channel-cipher-mismatch', message, options)
  }
}

/** The channel was closed or destroyed before the operation completed. */
export class ChannelClosedError extends PeerguardError {
  constructor(message = 'channel closed', options?: PeerguardErrorOptions) {
    super('channel-closed', message, options)
  }
}

/** The listener refused a connection because too many handshakes are pending. */
export class TooManyHandshakesError extends PeerguardError {
  constructor(message = 'too many pending handshakes', options?: PeerguardErrorOptions) {
    super('channel-too-many-handshakes', message, options)
  }
}
