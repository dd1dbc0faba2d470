import { CODES, type PeerguardCode } from './codes.js'

export interface PeerguardErrorOptions {
  /** The underlying error, kept for debugging; never shown to users with secrets. */
  cause?: unknown
  /** Extra machine-readable facts (file, line, field) that go into `--json` output. */
  details?: Record<string, unknown>
}

/**
 * Base class of every error peerguard throws on purpose. It carries a stable `code` from the
 * table in `codes.ts`; callers match on the class or on `code`, never on the message.
 */
export class PeerguardError extends Error {
  readonly code: PeerguardCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: PeerguardCode, message: string = CODES[code].summary, options: PeerguardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.details = options.details
  }

  /** CLI exit code for this error. */
  get exitCode(): number {
    return CODES[this.code].exit
  }

  toJSON(): { name: string; code: PeerguardCode; message: string; details?: Record<string, unknown> } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details })
    }
  }
}

/** An argument has the wrong type, size or encoding. */
export class InvalidArgumentError extends PeerguardError {
  constructor(message: string, options?: PeerguardErrorOptions) {
    super('invalid-argument', message, options)
  }
}

/** True when `err` is a PeerguardError (also across duplicated module copies). */
export function isPeerguardError(err: unknown): err is PeerguardError {
  return (
    err instanceof PeerguardError ||
    (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && 'details' in err && 'exitCode' in err)
  )
}
