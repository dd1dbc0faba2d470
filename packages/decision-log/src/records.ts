import { assertInteger, assertString, InvalidArgumentError } from '@peerguard/interface'

/** Who a decision was about, as written in the log. */
export interface LogPeer {
  readonly peerId?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly address?: string
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

export type DecisionRecord = ConnectionRecord | OperationRecord | ReloadRecord | RefusalSummaryRecord

/** Field names the log itself writes; a record may not use them. */
const RESERVED = new Set(['v', 'seq', 'ts', 'prev', 'hash', 'mac', 'count', 'head', 'signer', 'sig'])

/** Check a record at the boundary (exact messages); throws InvalidArgumentError. */
export function checkRecord(record: DecisionRecord): void {
  if (typeof record !== 'object' || record === null) throw new InvalidArgumentError('record: expected an object')
  if (!RECORD_KINDS.has(record.kind)) {
    throw new InvalidArgumentError(
      `record.kind: expected one of ${[...RECORD_KINDS].join(', ')}, got ${JSON.stringify((record as { kind?: unknown }).kind)}`
    )
  }
  assertString('record.code', record.code, { nonEmpty: true, maxLength: 128 })
  assertString('record.reason', record.reason, { maxLength: 4096 })
  for (const key of Object.keys(record)) {
    // `count` is a checkpoint's field, and a refusal summary's (a record is never a checkpoint)
    if (RESERVED.has(key) && !(key === 'count' && record.kind === 'refusal-summary'))
      throw new InvalidArgumentError(`record.${key}: reserved field name`)
  }
  if (record.kind === 'operation') {
    if (typeof record.allowed !== 'boolean') throw new InvalidArgumentError('record.allowed: expected boolean')
    assertString('record.action', record.action, { nonEmpty: true })
    assertString('record.verb', record.verb, { nonEmpty: true })
    assertString('record.resource', record.resource, { maxLength: 8192 })
  } else if (record.kind === 'connection') {
    if (record.event !== 'accepted' && record.event !== 'refused')
      throw new InvalidArgumentError(`record.event: expected 'accepted' or 'refused', got ${JSON.stringify(record.event)}`)
  } else if (record.kind === 'reload') {
    if (record.event !== 'applied' && record.event !== 'rejected')
      throw new InvalidArgumentError(`record.event: expected 'applied' or 'rejected', got ${JSON.stringify(record.event)}`)
    assertString('record.what', record.what, { nonEmpty: true, maxLength: 256 })
    if (record.policySha256 !== undefined && !/^[0-9a-f]{64}$/.test(record.policySha256))
      throw new InvalidArgumentError('record.policySha256: expected 64 lowercase hex digits')
  } else {
    assertString('record.address', record.address, { nonEmpty: true, maxLength: 256 })
    assertInteger('record.count', record.count, 1)
    if (typeof record.codes !== 'object' || record.codes === null)
      throw new InvalidArgumentError('record.codes: expected an object')
    assertString('record.since', record.since, { nonEmpty: true, maxLength: 64 })
    assertString('record.until', record.until, { nonEmpty: true, maxLength: 64 })
  }
}

const RECORD_KINDS = new Set<string>(['connection', 'operation', 'reload', 'refusal-summary'])
