import { PeerguardError, type PeerguardCode, type PeerguardErrorOptions } from '@peerguard/interface'

/** A share operation failed with a stable code (also what a client raises for a wire error). */
export class ShareError extends PeerguardError {
  constructor(code: PeerguardCode, message?: string, options?: PeerguardErrorOptions) {
    super(code, message, options)
  }
}

/** A share path was refused before touching the disk (`..`, absolute, NUL, too long, symlink escape). */
export class PathRefusedError extends ShareError {}

/** The policy denied the operation to this peer. */
export class ShareDeniedError extends ShareError {
  constructor(message = 'denied by policy', options?: PeerguardErrorOptions) {
    super('share-denied', message, options)
  }
}

/** The other side broke the wire protocol; the stream is closed. */
export class ShareProtocolError extends ShareError {
  constructor(message = 'share protocol error', options?: PeerguardErrorOptions) {
    super('share-protocol-error', message, options)
  }
}

/** An upload did not match its declared size or SHA-256; nothing was changed. */
export class UploadVerifyError extends ShareError {
  constructor(message = 'upload does not match its declared size or SHA-256', options?: PeerguardErrorOptions) {
    super('share-verify-failed', message, options)
  }
}

/** The connection closed before the operation finished. */
export class ShareConnectionClosedError extends ShareError {
  constructor(message = 'the share connection closed', options?: PeerguardErrorOptions) {
    super('share-connection-closed', message, options)
  }
}

/** The server refused the connection (handshake, certificate or preface). */
export class ShareConnectionRefusedError extends ShareError {
  constructor(message = 'the share server refused the connection', options?: PeerguardErrorOptions) {
    super('share-connection-refused', message, options)
  }
}
