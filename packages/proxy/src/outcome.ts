/**
 * The outcome entry of one relayed connection, written once it closed (decision-log README,
 * "Sessions and log growth"): `ok` when both directions ended, else `failed` with a stable code —
 * the splice's error code (`proxy-idle-timeout`, `proxy-closed`, `proxy-connection-reset`) or the
 * refusal of the re-check that closed it — with the bytes each way and how long it ran.
 */
import { type ConnectionRefusal, type LogPeer, type OutcomeRecord, PeerguardError } from '@peerguard/interface'
import type { SplicedStats } from './pipe.js'

/** What the server knows about a connection when it closed. */
export interface ClosedConnection {
  readonly peer: LogPeer
  /** `service:<name>`. */
  readonly resource: string
  /** When the channel was established (ms since the epoch). */
  readonly since: number
  /** The refusal of the re-check that closed it, if one did. */
  readonly dropped?: ConnectionRefusal
  /** `seq` of its acceptance entry, when the log reported one. */
  readonly acceptedSeq?: number
}

/** A stable code for why a splice ended (`io-error` for a socket error without one of ours). */
export function spliceErrorCode(err: unknown): string {
  if (err instanceof PeerguardError) return err.code
  const errno = (err as NodeJS.ErrnoException | undefined)?.code
  return errno === 'ECONNRESET' || errno === 'EPIPE' ? 'proxy-connection-reset' : 'io-error'
}

export function connectionOutcome(conn: ClosedConnection, stats: SplicedStats, now = Date.now()): OutcomeRecord {
  const err = stats.error
  const dropped = conn.dropped
  const code = dropped !== undefined ? dropped.code : err === undefined ? 'ok' : spliceErrorCode(err)
  const reason =
    code === 'ok'
      ? 'connection closed'
      : dropped !== undefined
        ? `closed by a re-check: ${dropped.reason.slice(0, 1000)}`
        : err instanceof Error
          ? err.message.slice(0, 1024)
          : 'aborted'
  return {
    kind: 'outcome',
    outcome: code === 'ok' ? 'ok' : 'failed',
    code: code.slice(0, 128),
    reason,
    peer: conn.peer,
    op: 'connect',
    resource: conn.resource,
    bytes: stats.aToB + stats.bToA,
    bytesIn: stats.aToB,
    bytesOut: stats.bToA,
    durationMs: Math.max(0, now - conn.since),
    ...(conn.acceptedSeq === undefined ? {} : { decisions: [conn.acceptedSeq] })
  }
}
