/**
 * @packageDocumentation
 * Tamper-evident, append-only decision log of a hardened node: every connection and operation
 * decision, hash-chained, HMAC-keyed and signed at checkpoints; its verifier; the refusal
 * summarizer; and the node's way of opening its log (recovery of a torn tail, temp-file sweep).
 * The entry and head format itself (domains, genesis hash, `openEntry`, `parseHead`), for readers
 * that work line by line, is `@peerguard/decision-log/format`.
 *
 * @example
 * ```ts
 * import { openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
 * const log = await openDecisionLog({ path: 'decisions.jsonl', identity: keyPair })
 * const report = await verifyDecisionLogFile('decisions.jsonl')
 * ```
 */
export { DecisionLog } from './decision-log.js'
export type { AppendResult, DecisionLogOptions, LogSyncPolicy } from './decision-log.js'
export { openDecisionLog } from './open-log.js'
export type {
  ConnectionRecord,
  DecisionRecord,
  LogPeer,
  NodeRecord,
  OperationRecord,
  OutcomeRecord,
  RefusalSummaryRecord,
  ReloadRecord
} from './records.js'
export { verifyDecisionLog, verifyDecisionLogFile } from './verify.js'
export { decisionLogRows } from './rows.js'
export type { LogRow, LogRows, RowIntegrity } from './rows.js'
export type { LogProblem, LogVerifyOptions, LogVerifyReport } from './verify.js'
export { LogCorruptError, LogFileChangedError, LogWriteError } from './errors.js'
export { OVERFLOW_ADDRESS, RefusalSummarizer } from './refusal-summarizer.js'
export type { RefusalSummarizerOptions, RefusalSummarySink } from './refusal-summarizer.js'
export { checkpointTargetFrom, createCheckpointShipper, SYSLOG_TAG } from './checkpoint-shipper.js'
export type { CheckpointTarget } from './checkpoint-shipper.js'
export type { LogFileHandle, LogFileOpener } from './append-file.js'
