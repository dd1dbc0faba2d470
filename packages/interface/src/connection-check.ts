import { isPeerguardError } from './errors.js'
import type { PeerInfo } from './types.js'

/** Why an open connection must close: a stable code (`cert-revoked`, `deny-rule`…) and one readable line. */
export interface ConnectionRefusal {
  readonly code: string
  readonly reason: string
}

/**
 * Re-decides whether an already authenticated peer may keep its connection, after the node's
 * trust store (CRLs, roots) or policy changed. Returns a refusal to close the connection,
 * undefined to keep it. Synchronous on purpose: the servers run it over every open connection
 * in one turn of the event loop, so no connection can register between the check and the close.
 */
export type ConnectionCheck = (peer: PeerInfo) => ConnectionRefusal | undefined

/** Run a check; a check that throws refuses (fail closed), with the error's code when it has one. */
export function runConnectionCheck(check: ConnectionCheck, peer: PeerInfo): ConnectionRefusal | undefined {
  try {
    const r = check(peer)
    if (r === undefined) return undefined
    if (typeof r !== 'object' || r === null || typeof r.code !== 'string' || typeof r.reason !== 'string')
      return { code: 'internal', reason: 'the connection check returned no refusal object' }
    return r
  } catch (err) {
    return {
      code: isPeerguardError(err) ? err.code : 'internal',
      reason: `the connection check failed: ${err instanceof Error ? err.message : String(err)}`
    }
  }
}
