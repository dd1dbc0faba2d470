/**
 * The workspace's typed errors: one class per wire object, each carrying a stable `workspace-*`
 * code from `@peerguard/interface`'s table (the code is the contract; the class groups them).
 */
import { type PeerguardCode, PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** An announcement refused: malformed, other workspace, undecryptable, bad signature, replayed, revoked, rate-limited. */
export class AnnouncementError extends PeerguardError {
  constructor(
    code: Extract<
      PeerguardCode,
      | 'workspace-announce-malformed'
      | 'workspace-announce-other-workspace'
      | 'workspace-announce-decrypt'
      | 'workspace-announce-signature'
      | 'workspace-announce-replayed'
      | 'workspace-announce-revoked'
      | 'workspace-announce-rate-limited'
      | 'workspace-peer-unverified'
    >,
    message?: string,
    options?: PeerguardErrorOptions
  ) {
    super(code, message, options)
  }
}

/** A bundle refused: malformed, other workspace, bad signature, stale, or content that does not load. */
export class BundleError extends PeerguardError {
  constructor(
    code: Extract<
      PeerguardCode,
      | 'workspace-bundle-malformed'
      | 'workspace-bundle-workspace'
      | 'workspace-bundle-signature'
      | 'workspace-bundle-stale'
      | 'workspace-bundle-content'
    >,
    message?: string,
    options?: PeerguardErrorOptions
  ) {
    super(code, message, options)
  }
}

/** A fetch from a peer failed (connection, channel, or the peer broke the exchange). */
export class FetchError extends PeerguardError {
  constructor(message?: string, options?: PeerguardErrorOptions) {
    super('workspace-fetch-failed', message, options)
  }
}
