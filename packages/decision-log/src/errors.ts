import { PeerguardError, type PeerguardCode, type PeerguardErrorOptions } from '@peerguard/interface'

/**
 * Refusing to open a decision log for appending: it does not verify, or it does not match its
 * signed head. `code` is the specific problem (`log-truncated`, `log-head-missing`,
 * `log-head-invalid`, `log-tail-forged`, `log-wrong-signer`, `log-chain-broken`, …), or
 * `log-corrupt` when there is none more specific.
 */
export class LogCorruptError extends PeerguardError {
  constructor(
    message = 'the decision log does not verify; refusing to append',
    options?: PeerguardErrorOptions & { code?: PeerguardCode }
  ) {
    super(options?.code ?? 'log-corrupt', message, options)
  }
}

/**
 * The decision log cannot be written now (disk full, I/O error). The entry was not written (any
 * partial write was cut back); the operation it was for must be refused (fail closed). The next
 * append tries again, so the log resumes by itself once the disk can be written.
 */
export class LogWriteError extends PeerguardError {
  constructor(message = 'the decision log cannot be written; operation refused', options?: PeerguardErrorOptions) {
    super('log-unavailable', message, options)
  }
}
