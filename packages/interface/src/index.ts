/**
 * @packageDocumentation
 * Shared ground of every peerguard package: the types that cross package lines, the error base
 * class with the one table of stable codes, argument checks for bytes and strings, constant-time
 * comparison and atomic file writes.
 *
 * @example
 * ```ts
 * import { assertBytes, equalBytes, PeerguardError } from '@peerguard/interface'
 * assertBytes('publicKey', key, 32)
 * if (!equalBytes(mac, expected)) throw new PeerguardError('invalid-signature')
 * ```
 */
export { CODES, EXIT_CODES, isPeerguardCode } from './codes.js'
export type { CodeInfo, PeerguardCode } from './codes.js'
export { InvalidArgumentError, PeerguardError, isPeerguardError } from './errors.js'
export type { PeerguardErrorOptions } from './errors.js'
export {
  assertBytes,
  assertBytesRange,
  assertInteger,
  assertString,
  concatBytes,
  describeValue,
  equalBytes,
  wipe
} from './bytes.js'
export { writeFileAtomic } from './atomic-file.js'
export { ChunkQueue } from './chunk-queue.js'
export { luhnMod32, peerIdTextFromBase32 } from './peer-id-text.js'
export type { WriteFileAtomicOptions } from './atomic-file.js'
export { silentLogger, systemClock } from './types.js'
export { runConnectionCheck } from './connection-check.js'
export { hostOfAddress } from './address.js'
export { isDecisionSink, logPeer, recordOrRefuse } from './decision.js'
export { isPolicyDecider } from './decider.js'
export { policyPeerOf } from './policy-peer.js'
export type { DecideRequest, PolicyDecider, PolicyPeer, RequestContext } from './decider.js'
export type {
  ConnectionRecord,
  DecisionRecord,
  DecisionSink,
  LogPeer,
  NodeRecord,
  OperationRecord,
  OutcomeRecord,
  RefusalSummaryRecord,
  ReloadRecord
} from './decision.js'
export type { ConnectionCheck, ConnectionRefusal } from './connection-check.js'
export type { Clock, Decision, Finding, FlowKey, Logger, PeerInfo, SecureChannel, Severity, SourceLocation } from './types.js'
