import type { Duplex } from 'node:stream'
import type { PeerguardCode } from './codes.js'

/** What an authenticated channel knows about the peer at the other end. */
export interface PeerInfo {
  /** The peer's ID in peerguard text form (base32 with check characters). */
  readonly peerId: string
  /** The peer's Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array
  /** Name from the certificate (CN), when the peer presented one. */
  readonly name?: string
  /** Groups from the certificate (OU values), empty when none. */
  readonly groups: readonly string[]
  /** The peer's leaf certificate in DER, when it presented one. */
  readonly certificate?: Uint8Array
  /**
   * The certificate path the channel verified, leaf first, ending with the trusted root (DER),
   * when the peer presented a certificate. Lets a node re-check the peer later (after a CRL or
   * trust reload) with the same intermediates the peer sent.
   */
  readonly chain?: readonly Uint8Array[]
  /** Network address the peer connected from, when known (`host:port`). */
  readonly address?: string
}

/** A Duplex carrying application bytes over an authenticated, encrypted session. */
export interface SecureChannel extends Duplex {
  /** The authenticated remote peer. */
  readonly remotePeer: PeerInfo
  /** The application protocol both sides agreed on, when any was offered. */
  readonly protocol?: string
}

/** Where a rule came from in a policy file. */
export interface SourceLocation {
  readonly file?: string
  readonly line: number
  readonly column: number
}

/** The outcome of a policy decision. A denial is a result, not an exception. */
export interface Decision {
  readonly allowed: boolean
  /** Stable code: `allow`, `deny-rule` or `deny-default` (see policy README). */
  readonly code: string
  /** The rule that decided, absent for a default deny. */
  readonly rule?: { readonly id: string; readonly source?: SourceLocation }
  /** One line a human can read. */
  readonly reason: string
  /** The peer's groups that took part in the decision. */
  readonly matchedGroups: readonly string[]
}

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical'

/** A network flow identified by its 5-tuple. */
export interface FlowKey {
  readonly proto: 'tcp' | 'udp'
  readonly src: string
  readonly srcPort: number
  readonly dst: string
  readonly dstPort: number
}

/** Something the traffic auditor found. */
export interface Finding {
  /** Stable finding code, e.g. `smb1-in-use`. */
  readonly code: string
  readonly severity: Severity
  /** One line a human can read. */
  readonly title: string
  readonly flow?: FlowKey
  /** Facts that support the finding (user names, dialects, file names; never passwords). */
  readonly evidence: Readonly<Record<string, unknown>>
  /** 1-based frame numbers in the capture. */
  readonly frames: readonly number[]
}

/** A source of time, injected so tests can control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A minimal structured logger. Implementations must never be given secrets. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/** Re-exported for convenience in signatures. */
export type { PeerguardCode }
