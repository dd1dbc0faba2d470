import { isPeerguardError, PeerguardError } from './errors.js'
import type { PeerInfo } from './types.js'

/** Who a decision was about, as written in the log. */
export interface LogPeer {
  readonly peerId?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly address?: string
}

/** A verified peer as every enforcement point writes it in the log (empty groups and absent fields left out). */
export function logPeer(peer: PeerInfo): LogPeer {
  return {
    peerId: peer.peerId,
    ...(peer.name === undefined ? {} : { name: peer.name }),
    ...(peer.groups.length === 0 ? {} : { groups: [...peer.groups] }),
    ...(peer.address === undefined ? {} : { address: peer.address })
  }
}

/** A connection accepted or refused by an enforcement point. */
export interface ConnectionRecord {
  readonly kind: 'connection'
  readonly event: 'accepted' | 'refused'
  /** Stable code: `allow`, or the error code that refused (e.g. `certificate-expired`). */
  readonly code: string
  readonly reason: string
  readonly peer?: LogPeer
  /** `hardened` or `plain`. */
  readonly mode?: string
}

/** An operation allowed or denied by the policy. */
export interface OperationRecord {
  readonly kind: 'operation'
  readonly allowed: boolean
  /** Decision code (`allow`, `deny-rule`, `deny-default`) or a refusal code (`share-path-traversal`). */
  readonly code: string
  readonly reason: string
  readonly peer?: LogPeer
  /** `read` or `write`. */
  readonly action: string
  /** Protocol verb: `list`, `stat`, `read`, `write`, `delete`, `rename`, `mkdir`. */
  readonly verb: string
  /** Policy resource, e.g. `share:docs/report.pdf`. */
  readonly resource: string
  /** The deciding rule, absent for a default deny. */
  readonly rule?: { readonly id: string; readonly source?: unknown }
  /**
   * The protocol operation this decision belongs to (`mkdir`, `rename`, `write`, …) when it
   * differs from `verb` or is worth naming: a `mkdir` is decided as the policy verb `put`.
   */
  readonly op?: string
  /** The destination of a rename (a share path), on every decision of that rename. */
  readonly to?: string
}

/**
 * What an allowed operation did, written AFTER it ran (the decision entries before it stay the
 * fail-closed record of intent). `decisions` names the `seq` of every decision entry of the
 * operation, so a reader joins them into one row.
 */
export interface OutcomeRecord {
  readonly kind: 'outcome'
  /** `ok`, or `failed` (the operation was allowed but did not happen; `code` says why). */
  readonly outcome: 'ok' | 'failed'
  /** `ok`, or the error code of the failure (e.g. `share-already-exists`). */
  readonly code: string
  readonly reason: string
  readonly peer?: LogPeer
  /**
   * Protocol operation: `list`, `stat`, `read`, `write`, `delete`, `rename`, `mkdir`; a session:
   * `connect` (a proxied connection), `fetch` (a swarm peer served, one entry per session).
   */
  readonly op: string
  /** Policy resource of the operation's path, e.g. `share:docs/report.pdf` (a rename's source). */
  readonly resource: string
  /** Policy resource of a rename's destination. */
  readonly to?: string
  /** Bytes written or read. */
  readonly bytes?: number
  /** SHA-256 (hex) of the content written (or of a read, when the client asked for it). */
  readonly sha256?: string
  /** `seq` of the decision entries this operation made, when the sink reported them. */
  readonly decisions?: readonly number[]
  /** How long the operation (or the session it summarises) ran, milliseconds. */
  readonly durationMs?: number
  /** A session's bytes received from the peer (a proxied connection, a swarm session). */
  readonly bytesIn?: number
  /** A session's bytes sent to the peer. */
  readonly bytesOut?: number
}

/** A node started or stopped (the policy hash in force from then on, until a reload or the next start). */
export interface NodeRecord {
  readonly kind: 'node'
  readonly event: 'start' | 'stop'
  readonly code: string
  readonly reason: string
  /** SHA-256 (hex) of the policy file in force, when there is a policy. */
  readonly policySha256?: string
  /** The services the node runs, e.g. `share:docs`, `proxy:web`. */
  readonly services?: readonly string[]
}

/** A running node applied or rejected new configuration (policy, trust roots and CRLs, certificate). */
export interface ReloadRecord {
  readonly kind: 'reload'
  readonly event: 'applied' | 'rejected'
  /** What was reloaded: `policy`, `trust`, `crl`, `certificate` (comma-separated when several). */
  readonly what: string
  /** `ok`, or the error code that made the node keep its previous configuration. */
  readonly code: string
  readonly reason: string
  /** SHA-256 (hex) of the policy file in force after this event, when there is a policy. */
  readonly policySha256?: string
}

/**
 * Refusals before authentication (bad handshakes, unknown certificates, floods), counted per
 * address and time window instead of written one by one, so an unauthenticated peer cannot grow
 * the log without bound.
 */
export interface RefusalSummaryRecord {
  readonly kind: 'refusal-summary'
  /** The remote address (host, without port). */
  readonly address: string
  /** Refusals in the window. */
  readonly count: number
  /** Refusals per code in the window. */
  readonly codes: Readonly<Record<string, number>>
  /** Window start and end (ISO 8601). */
  readonly since: string
  readonly until: string
  readonly code: string
  readonly reason: string
}

export type DecisionRecord = ConnectionRecord | OperationRecord | OutcomeRecord | NodeRecord | ReloadRecord | RefusalSummaryRecord

/**
 * Where an enforcement point writes its decisions: `DecisionLog` of `@peerguard/decision-log`
 * fits, or anything with `append`. `append` may return a promise; a throw or a rejection means
 * the record was not written.
 */
export interface DecisionSink {
  append(record: DecisionRecord): unknown
}

/** Whether `value` has an `append` method (a boundary check for options). */
export function isDecisionSink(value: unknown): value is DecisionSink {
  return typeof value === 'object' && value !== null && typeof (value as DecisionSink).append === 'function'
}

/**
 * The one fail-closed logging rule of every enforcement point (share, swarm, proxy, libp2p):
 * write the decision first; an operation or connection whose decision cannot be written does
 * not proceed. Resolves to what the sink's `append` returned (a DecisionLog: `{ seq, hash }`) when the
 * record is written (undefined without a sink); otherwise rejects with
 * the log's own `log-*` error (`log-unavailable` for a full disk), or a `log-unavailable` error
 * whose cause is what the sink threw.
 */
export async function recordOrRefuse(sink: DecisionSink | undefined, record: DecisionRecord): Promise<unknown> {
  if (sink === undefined) return undefined
  try {
    return await sink.append(record)
  } catch (err) {
    if (isPeerguardError(err) && err.code.startsWith('log-')) throw err
    throw new PeerguardError('log-unavailable', 'the decision log cannot be written; refused', { cause: err })
  }
}
