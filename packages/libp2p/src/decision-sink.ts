/**
 * A connection decision as written to the decision log; the same shape as `ConnectionRecord` of
 * `@peerguard/decision-log`'s DecisionLog, so a DecisionLog can be passed as a `DecisionSink`.
 */
export interface Libp2pConnectionRecord {
  readonly kind: 'connection'
  readonly event: 'accepted' | 'refused'
  /** `allow`, a policy decision code, or the error code that refused (`cert-revoked`, …). */
  readonly code: string
  readonly reason: string
  readonly peer?: {
    readonly peerId?: string
    readonly name?: string
    readonly groups?: readonly string[]
    readonly address?: string
  }
  /** `hardened` (secured by peerguard) or `plain` (another encrypter). */
  readonly mode?: string
}

/** Where decisions go: a DecisionLog from `@peerguard/decision-log`, or anything with `append`. */
export interface DecisionSink {
  append(record: Libp2pConnectionRecord): unknown
}

export function isDecisionSink(value: unknown): value is DecisionSink {
  return typeof value === 'object' && value !== null && typeof (value as DecisionSink).append === 'function'
}
