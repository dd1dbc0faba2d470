import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/**
 * The TLS handshake failed, timed out, or the peer presented no certificate. The code keeps the
 * name it had when the TLS channel lived in the proxy (codes are never renamed).
 */
export class TlsHandshakeError extends PeerguardError {
  constructor(message = 'TLS handshake failed', options?: PeerguardErrorOptions) {
    super('proxy-tls-handshake-failed', message, options)
  }
}
