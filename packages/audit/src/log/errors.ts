import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** Refusing to append to a decision log whose existing entries do not verify. */
export class LogCorruptError extends PeerguardError {
  constructor(message = 'the decision log does not verify; refusing to append', options?: PeerguardErrorOptions) {
    super('log-corrupt', message, options)
  }
}

/** A write to the decision log failed; the log refuses further appends (fail closed). */
export class LogWriteError extends PeerguardError {
  constructor(message = 'writing the decision log failed', options?: PeerguardErrorOptions) {
    super('io-error', message, options)
  }
}
