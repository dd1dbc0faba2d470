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

/**
 * The log file is no longer the one this writer opened and extends: renamed away, deleted or
 * replaced at its path, or written by another process (a second writer on the same log). Nothing
 * more is written — neither into an inode the path no longer names nor after another writer's
 * entries — and every later append is refused: the node refuses its operations until it restarts
 * and re-opens (and re-verifies) the log.
 */
export class LogFileChangedError extends PeerguardError {
  constructor(message = 'the decision log file changed under its writer; operation refused', options?: PeerguardErrorOptions) {
    super('log-file-changed', message, options)
  }
}
