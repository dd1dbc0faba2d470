import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** A `HOST:PORT` address could not be parsed. */
export class ProxyAddressInvalidError extends PeerguardError {
  constructor(message = 'invalid HOST:PORT address', options?: PeerguardErrorOptions) {
    super('proxy-address-invalid', message, options)
  }
}

/** A key, certificate, trust or policy file cannot be used. */
export class ProxyConfigInvalidError extends PeerguardError {
  constructor(message = 'invalid proxy configuration', options?: PeerguardErrorOptions) {
    super('proxy-config-invalid', message, options)
  }
}

/** The policy denied the peer the service (the alert reason carries the decision code). */
export class ProxyDeniedError extends PeerguardError {
  constructor(message = 'the policy denies this peer the proxied service', options?: PeerguardErrorOptions) {
    super('proxy-denied', message, options)
  }
}

/** The target service refused the connection or could not be reached. */
export class ProxyTargetUnreachableError extends PeerguardError {
  constructor(message = 'the target service is unreachable', options?: PeerguardErrorOptions) {
    super('proxy-target-unreachable', message, options)
  }
}

/** Connecting to the target service did not finish within `connectTimeoutMs`. */
export class ProxyTargetTimeoutError extends PeerguardError {
  constructor(message = 'connecting to the target service timed out', options?: PeerguardErrorOptions) {
    super('proxy-target-timeout', message, options)
  }
}

/** The proxy is at `maxConnections`. */
export class ProxyTooManyConnectionsError extends PeerguardError {
  constructor(message = 'the proxy is at its connection limit', options?: PeerguardErrorOptions) {
    super('proxy-too-many-connections', message, options)
  }
}

/** The peer is at `maxConnectionsPerPeer`. */
export class ProxyTooManyPeerConnectionsError extends PeerguardError {
  constructor(message = 'this peer is at its connection limit', options?: PeerguardErrorOptions) {
    super('proxy-too-many-peer-connections', message, options)
  }
}

/** Nothing moved in either direction for `idleTimeoutMs`. */
export class ProxyIdleTimeoutError extends PeerguardError {
  constructor(message = 'the proxied connection was idle too long', options?: PeerguardErrorOptions) {
    super('proxy-idle-timeout', message, options)
  }
}

/** A reload failed; the previous configuration stays in force. */
export class ProxyReloadError extends PeerguardError {
  constructor(message = 'reload failed; the previous configuration stays', options?: PeerguardErrorOptions) {
    super('proxy-reload-failed', message, options)
  }
}

/** The proxy was closed. */
export class ProxyClosedError extends PeerguardError {
  constructor(message = 'the proxy was closed', options?: PeerguardErrorOptions) {
    super('proxy-closed', message, options)
  }
}

/** A PROXY protocol v2 header is malformed, or addresses and TLVs do not fit its 16-bit length. */
export class ProxyProtocolInvalidError extends PeerguardError {
  constructor(message = 'invalid PROXY protocol v2 header', options?: PeerguardErrorOptions) {
    super('proxy-protocol-invalid', message, options)
  }
}
