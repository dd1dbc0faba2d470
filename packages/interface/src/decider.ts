import type { Decision } from './types.js'

/** Who a policy question is about: the authenticated peer, as a channel reports it. */
export interface PolicyPeer {
  /** Peer ID in peerguard text form. */
  readonly peerId: string
  /** Certificate name (CN), when the peer presented a certificate. */
  readonly name?: string
  /** Certificate groups (OU values). */
  readonly groups?: readonly string[]
  /** Address the peer connected from (`host:port`). */
  readonly address?: string
}

/** What a request tells about itself; a policy compares rules' `when:` with these. */
export interface RequestContext {
  /** Size of the file in bytes (for `put`, the size being written). */
  readonly size?: number
  /** Whether the request came over an encrypted, authenticated channel. */
  readonly encrypted?: boolean
  /** When the request happens (ms since the epoch or a Date); default: the policy's clock. */
  readonly time?: number | Date
  /** Source address (`host`, `host:port` or `[v6]:port`); default: the peer's address. */
  readonly address?: string
}

/** A question to a policy. */
export interface DecideRequest {
  readonly peer: PolicyPeer
  /** A verb (`get`, `put`, …) or a class of verbs (`read`, `write`). */
  readonly action: string
  /** `share:<share>/<path>`, `swarm:<name>`, `swarm-id:<id>`, `service:<name>` or `device:<name>`. */
  readonly resource: string
  readonly context?: RequestContext
}

/**
 * What every enforcement point (share, swarm, proxy, libp2p gater) asks: a `Policy` or a
 * `PolicyWatcher` of `@peerguard/policy` is one; tests may pass any object of this shape. A throw
 * from `decide` is a denial (fail closed).
 */
export interface PolicyDecider {
  decide(request: DecideRequest): Decision
  /**
   * Allowed only if allowed on `resource` and on every resource below it. Optional: an
   * enforcement point that needs a subtree answer from a decider without it denies.
   */
  decideTree?(request: DecideRequest): Decision
}

/** True when `value` has a `decide()` method (the check every enforcement point makes on its options). */
export function isPolicyDecider(value: unknown): value is PolicyDecider {
  return typeof value === 'object' && value !== null && typeof (value as { decide?: unknown }).decide === 'function'
}
