import { RefusalSummarizer } from '@peerguard/decision-log'
import {
  type ConnectionRefusal,
  type DecisionSink,
  type Logger,
  type PeerInfo,
  recordOrRefuse,
  logPeer,
  hostOfAddress
} from '@peerguard/interface'
import { connectionOutcome } from './outcome.js'
import type { SplicedStats } from './pipe.js'
import type { ConnectionDecision } from './server-options.js'

/** A decision without the fields the recorder fills in (kind, mode, resource, action). */
export type DecisionFields = Omit<ConnectionDecision, 'kind' | 'mode' | 'resource' | 'action'>

/**
 * @internal What a ProxyServer writes about its connections: the accept/refuse decisions (counted,
 * logged, appended to the decision log; refusals before authentication summarised per address
 * and minute) and the one outcome entry of each relayed connection.
 */
export class ConnectionRecorder {
  accepted = 0
  refused = 0
  readonly #mode: string
  readonly #resource: string
  readonly #action: string
  readonly #decisionLog: DecisionSink | undefined
  readonly #log: Logger
  /** Refusals before authentication: counted per address and minute, not logged one by one. */
  readonly #refusals: RefusalSummarizer | undefined

  constructor(o: { mode: string; resource: string; action: string; decisionLog: DecisionSink | undefined; log: Logger }) {
    this.#mode = o.mode
    this.#resource = o.resource
    this.#action = o.action
    this.#decisionLog = o.decisionLog
    this.#log = o.log
    this.#refusals = o.decisionLog === undefined ? undefined : new RefusalSummarizer(o.decisionLog)
  }

  /** The decision log entry of a decision. */
  entry(d: DecisionFields): ConnectionDecision {
    return {
      kind: 'connection',
      mode: this.#mode,
      resource: this.#resource,
      action: this.#action,
      ...d
    }
  }

  /** Append an acceptance before the target is connected; throws when it cannot be written (fail closed). */
  accept(d: DecisionFields): Promise<unknown> {
    return recordOrRefuse(this.#decisionLog, this.entry(d))
  }

  /**
   * Count and log a decision; refusals are also appended to the decision log (they refuse
   * whether or not the append succeeds). Acceptances were appended by the gate before the
   * target was connected (`logged`).
   */
  record(d: DecisionFields, logged = false): void {
    const entry = this.entry(d)
    if (d.event === 'accepted') this.accepted++
    else this.refused++
    this.#log.info(`proxy ${d.event}`, { code: d.code, peer: d.peer?.peerId, address: d.peer?.address })
    if (d.event === 'refused' && d.peer?.peerId === undefined && this.#refusals !== undefined) {
      // nobody authenticated: count it, so a flood of bad handshakes cannot grow the log
      this.#refusals.refused(hostOfAddress(d.peer?.address), d.code)
      return
    }
    if (logged) return
    recordOrRefuse(this.#decisionLog, entry).catch((err: unknown) => {
      this.#log.error('decision log append failed', { error: (err as Error).message })
    })
  }

  /**
   * The one outcome entry of a relayed connection, after it closed: `ok` when both directions
   * ended or the target closed, else `failed` with the code (an idle timeout, an abort, a reload
   * that closed it); bytes each way and how long. A failure to write is logged, not thrown: the
   * connection is over and its acceptance is on the record.
   */
  async outcome(
    open: { readonly peer: PeerInfo; readonly since: number; readonly dropped?: ConnectionRefusal | undefined },
    stats: SplicedStats,
    seq: number | undefined
  ): Promise<void> {
    if (this.#decisionLog === undefined) return
    const record = connectionOutcome(
      {
        peer: logPeer(open.peer),
        resource: this.#resource,
        since: open.since,
        ...(open.dropped === undefined ? {} : { dropped: open.dropped }),
        ...(seq === undefined ? {} : { acceptedSeq: seq })
      },
      stats
    )
    try {
      await recordOrRefuse(this.#decisionLog, record)
    } catch (e) {
      this.#log.error('decision log append failed', { error: (e as Error).message })
    }
  }

  /** Flush the refusal summaries. */
  async close(): Promise<void> {
    await this.#refusals?.close()
  }
}
