/**
 * @packageDocumentation
 * `@peerguard/decision-log/format`: the decision log's line format (README "Format"), for readers
 * that work entry by entry, such as the traffic auditor: the format version, the genesis hash and
 * signature domains, `openEntry` (one line parsed and checked against its own hash) and
 * `parseHead` (a signed head file). Whole-log checks (chain, MACs, checkpoints) are
 * `verifyDecisionLog` in `@peerguard/decision-log`.
 *
 * @example
 * ```ts
 * import { openEntry } from '@peerguard/decision-log/format'
 * const entry = openEntry(line) // { ok: true, fields, hash } or { ok: false, reason, message }
 * ```
 */
export { CHECKPOINT_DOMAIN, GENESIS_HASH, HEAD_DOMAIN, LOG_FORMAT_VERSION, openEntry } from '../entry.js'
export type { OpenedEntry } from '../entry.js'
export { parseHead } from '../head.js'
export type { ParsedHead, SignedHead } from '../head.js'
