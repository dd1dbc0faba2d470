import { assertInteger, assertString, type DecisionRecord, InvalidArgumentError } from '@peerguard/interface'

// The record types are a contract every enforcement point shares: declared once in interface.
export type {
  ConnectionRecord,
  DecisionRecord,
  LogPeer,
  NodeRecord,
  OperationRecord,
  OutcomeRecord,
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
    if (record.op !== undefined) assertString('record.op', record.op, { nonEmpty: true, maxLength: 32 })
    if (record.to !== undefined) assertString('record.to', record.to, { maxLength: 8192 })
  } else if (record.kind === 'outcome') {
    if (record.outcome !== 'ok' && record.outcome !== 'failed')
      throw new InvalidArgumentError(`record.outcome: expected 'ok' or 'failed', got ${JSON.stringify(record.outcome)}`)
    assertString('record.op', record.op, { nonEmpty: true, maxLength: 32 })
    assertString('record.resource', record.resource, { maxLength: 8192 })
    if (record.to !== undefined) assertString('record.to', record.to, { maxLength: 8192 })
    if (record.bytes !== undefined) assertInteger('record.bytes', record.bytes, 0)
    if (record.bytesIn !== undefined) assertInteger('record.bytesIn', record.bytesIn, 0)
    if (record.bytesOut !== undefined) assertInteger('record.bytesOut', record.bytesOut, 0)
    if (record.durationMs !== undefined) assertInteger('record.durationMs', record.durationMs, 0)
    if (record.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(record.sha256))
      throw new InvalidArgumentError('record.sha256: expected 64 lowercase hex digits')
    if (record.decisions !== undefined) {
      if (!Array.isArray(record.decisions) || record.decisions.length > 64)
        throw new InvalidArgumentError('record.decisions: expected an array of at most 64 sequence numbers')
      for (const [i, n] of record.decisions.entries()) assertInteger(`record.decisions[${i}]`, n, 0)
    }
  } else if (record.kind === 'node') {
    if (record.event !== 'start' && record.event !== 'stop')
      throw new InvalidArgumentError(`record.event: expected 'start' or 'stop', got ${JSON.stringify(record.event)}`)
    if (record.policySha256 !== undefined && !/^[0-9a-f]{64}$/.test(record.policySha256))
      throw new InvalidArgumentError('record.policySha256: expected 64 lowercase hex digits')
    if (record.services !== undefined) {
      if (!Array.isArray(record.services) || record.services.length > 256)
        throw new InvalidArgumentError('record.services: expected an array of at most 256 names')
      for (const [i, n] of record.services.entries()) assertString(`record.services[${i}]`, n, { nonEmpty: true, maxLength: 256 })
    }
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

const RECORD_KINDS = new Set<string>(['connection', 'operation', 'outcome', 'node', 'reload', 'refusal-summary'])
