/**
 * A serving session of the swarm (one admitted peer on one connection) as status displays show it
 * and as its one outcome entry records it when it ends: bytes each way, blocks and pieces served,
 * how long, and how it ended (SWARM.md §5, decision-log README "Sessions").
 */
import { logPeer } from '@peerguard/interface'
import type { OutcomeRecord, PeerInfo } from '@peerguard/interface'
import type { ServeConnection } from './serve.js'

/** One serving connection now. */
export interface ServingSession {
  readonly peer: PeerInfo
  /** When the channel was accepted (ms since the epoch). */
  readonly since: number
  readonly bytesIn: number
  readonly bytesOut: number
  /** `swarm:<name>` once the peer's HELLO was admitted. */
  readonly resource?: string
  /** What it is doing: `fetch swarm:<name>` (with the requests pending), or `hello` before admission. */
  readonly operations: readonly string[]
}

export function sessionOf(conn: ServeConnection): ServingSession {
  const st = conn.stats
  const name = conn.store?.manifest.name
  return {
    peer: conn.peer,
    since: st.since,
    bytesIn: st.bytesIn,
    bytesOut: st.bytesOut,
    ...(name === undefined ? {} : { resource: `swarm:${name}` }),
    operations: name === undefined ? ['hello'] : [`fetch swarm:${name} (${st.pending} requests pending)`]
  }
}

/**
 * The outcome entry of a closed session, or undefined for a connection that was never admitted
 * (its refusal, or its missing HELLO, is on the record already or was nobody's operation).
 */
export function sessionOutcome(conn: ServeConnection, now = Date.now()): OutcomeRecord | undefined {
  const store = conn.store
  const end = conn.end
  if (store === undefined || end === undefined) return undefined
  const st = conn.stats
  const ok = end.code === 'ok'
  return {
    kind: 'outcome',
    outcome: ok ? 'ok' : 'failed',
    code: end.code.slice(0, 128),
    reason: `${ok ? 'session ended' : end.reason.slice(0, 900)}: served ${st.blocks} blocks of ${st.pieces} pieces`,
    peer: logPeer(conn.peer),
    op: 'fetch',
    resource: `swarm:${store.manifest.name}`,
    bytes: st.served,
    bytesIn: st.bytesIn,
    bytesOut: st.bytesOut,
    durationMs: Math.max(0, now - st.since),
    ...(conn.admittedSeq === undefined ? {} : { decisions: [conn.admittedSeq] })
  }
}
