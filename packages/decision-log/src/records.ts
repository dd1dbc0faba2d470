import { assertInteger, assertString, type DecisionRecord, InvalidArgumentError } from '@peerguard/interface'

// The record types are a contract every enforcement point shares: declared once in interface.
export type {
  ConnectionRecord,
  DecisionRecord,
  LogPeer,
  OperationRecord,
  RefusalSummaryRecord,
  ReloadRecord
} from '@peerguard/interface'

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
