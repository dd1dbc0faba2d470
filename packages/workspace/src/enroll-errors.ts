/**
 * The enrollment's typed error (SPEC.md §6): one class, each instance carrying one stable
 * `enroll-*` code from `@peerguard/interface`'s table. Refusals the CA sends travel as that code,
 * so the joiner throws the same code the CA logged.
 */
import { type PeerguardCode, PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** The enroll-* codes. */
export type EnrollCode = Extract<PeerguardCode, `enroll-${string}`>

const ENROLL_CODES: ReadonlySet<string> = new Set<EnrollCode>([
  'enroll-token-malformed',
  'enroll-token-unknown',
  'enroll-token-expired',
  'enroll-token-used',
  'enroll-token-mac',
  'enroll-widening',
  'enroll-csr-mismatch',
  'enroll-ca-mismatch',
  'enroll-malformed',
  'enroll-failed'
])

/** True when `value` is one of the enroll-* codes (a refusal code read from the wire). */
export function isEnrollCode(value: unknown): value is EnrollCode {
  return typeof value === 'string' && ENROLL_CODES.has(value)
}

/** Enrollment refused or failed: token malformed, unknown, expired, used, bad proof, widening, impostor CA, bad message. */
export class EnrollError extends PeerguardError {
  constructor(code: EnrollCode, message?: string, options?: PeerguardErrorOptions) {
    super(code, message, options)
  }
}
