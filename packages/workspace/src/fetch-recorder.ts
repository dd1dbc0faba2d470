/**
 * What the bundle service writes to the decision log, as every other enforcement point does: a
 * member's fetch accepted before it is answered (fail closed: no record, no answer), its outcome
 * after (the version sent, bytes, duration), and handshakes refused before authentication counted
 * per address and minute, so a flood cannot grow the log.
 */
import { RefusalSummarizer } from '@peerguard/decision-log'
import {
  type ConnectionRecord,
  type DecisionSink,
  isPeerguardError,
  type LogPeer,
  logPeer,
  type PeerInfo,
  recordOrRefuse,
  hostOfAddress
} from '@peerguard/interface'
import type { ServedFetch } from './fetch.js'

/** The resource the bundle service's records name. */
export const BUNDLE_RESOURCE = 'workspace:bundle'

/** A connection record of the bundle service (the resource and action, as the proxy writes them). */
interface FetchConnectionRecord extends ConnectionRecord {
  readonly resource: string
  readonly action: string
}

/** `seq` of an appended entry, when the sink reports one (a DecisionLog does). */
function seqOf(appended: unknown): number | undefined {
  const seq = (appended as { seq?: unknown } | undefined)?.seq
  return typeof seq === 'number' ? seq : undefined
}

export class FetchRecorder {
  readonly #sink: DecisionSink
  readonly #refusals: RefusalSummarizer
  /** Outcomes being written: close() waits for them. */
  readonly #pending = new Set<Promise<void>>()

  constructor(sink: DecisionSink, onError: (err: unknown) => void) {
    this.#sink = sink
    this.#refusals = new RefusalSummarizer(sink, { onError })
  }

  /**
   * Record an authenticated member's fetch before it is answered. Rejects (the log's `log-*`
   * error) when it cannot be written: the caller closes the channel without an answer.
   */
  async accepted(peer: PeerInfo): Promise<{ peer: LogPeer; seq: number | undefined; since: number }> {
    const p = logPeer(peer)
    const record: FetchConnectionRecord = {
      kind: 'connection',
      event: 'accepted',
      code: 'allow',
      reason: 'workspace member: bundle fetch',
      peer: p,
      mode: 'noise',
      resource: BUNDLE_RESOURCE,
      action: 'get'
    }
    const appended = await recordOrRefuse(this.#sink, record)
    return { peer: p, seq: seqOf(appended), since: Date.now() }
  }

  /** An authenticated peer refused because it is not under the workspace root: an entry of its own. Never throws. */
  notMember(peer: PeerInfo, reason: string): Promise<void> {
    const record: FetchConnectionRecord = {
      kind: 'connection',
      event: 'refused',
      code: 'workspace-peer-unverified',
      reason: reason.slice(0, 1024),
      peer: logPeer(peer),
      mode: 'noise',
      resource: BUNDLE_RESOURCE,
      action: 'get'
    }
    const p = recordOrRefuse(this.#sink, record).then(
      () => {},
      () => {} // nothing was served: the refusal stands without its entry
    )
    this.#pending.add(p)
    return p.finally(() => this.#pending.delete(p))
  }

  /** The outcome of an accepted fetch: what was sent, or why nothing was. Never throws. */
  outcome(open: { peer: LogPeer; seq: number | undefined; since: number }, result: ServedFetch | Error): Promise<void> {
    const p = this.#writeOutcome(open, result)
    this.#pending.add(p)
    return p.finally(() => this.#pending.delete(p))
  }

  async #writeOutcome(
    open: { peer: LogPeer; seq: number | undefined; since: number },
    result: ServedFetch | Error
  ): Promise<void> {
    const failed = result instanceof Error
    const code = failed ? (isPeerguardError(result) ? result.code : 'internal') : 'ok'
    const reason = failed
      ? result.message.slice(0, 1024)
      : result.version === 0
        ? `nothing newer than version ${result.have}`
        : `bundle version ${result.version} sent (the peer had ${result.have})`
    try {
      await recordOrRefuse(this.#sink, {
        kind: 'outcome',
        outcome: failed ? 'failed' : 'ok',
        code,
        reason,
        peer: open.peer,
        op: 'fetch',
        resource: BUNDLE_RESOURCE,
        ...(failed ? {} : { bytes: result.bytes, bytesOut: result.bytes }),
        durationMs: Math.max(0, Date.now() - open.since),
        ...(open.seq === undefined ? {} : { decisions: [open.seq] })
      })
    } catch {
      // the fetch is over and its acceptance is on the record
    }
  }

  /** A handshake refused before authentication, from `address` (host:port): counted, summarised. */
  refused(address: string, code: string): void {
    this.#refusals.refused(hostOfAddress(address), code)
  }

  /** Write the pending refusal summaries. */
  async close(): Promise<void> {
    await Promise.all(this.#pending)
    await this.#refusals.close()
  }
}
