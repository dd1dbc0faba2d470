// decision log
export { DecisionLog, openDecisionLog } from './log/decision-log.js'
export type { AppendResult, ConnectionRecord, DecisionLogOptions, DecisionRecord, LogPeer, LogSyncPolicy, OperationRecord } from './log/decision-log.js'
export { verifyDecisionLog, verifyDecisionLogFile } from './log/verify.js'
export type { LogProblem, LogVerifyOptions, LogVerifyReport } from './log/verify.js'
export { CHECKPOINT_DOMAIN, GENESIS_HASH, LOG_FORMAT_VERSION } from './log/entry.js'
export { LogCorruptError, LogWriteError } from './log/errors.js'
// end decision log
