import { PeerguardError, type PeerguardCode, type SourceLocation } from '@peerguard/interface'

/** Where in a policy file a problem is, and what the language expected there. */
export interface PolicyErrorDetails {
  /** The file, when the policy came from one. */
  readonly file?: string
  /** 1-based line. */
  readonly line: number
  /** 1-based column. */
  readonly column: number
  /** Path inside the document, e.g. `rules[2].allow[0]`. */
  readonly path: string
  /** What the language expected at that place. */
  readonly expected?: string
  /** What to do next (`did you mean "allow"?`). */
  readonly hint?: string
}

/**
 * Base of every error about a policy's text: it carries the file, line, column and path of the
 * problem in `details` and in its message (`office.yaml:12:5: unknown key "alow" …`).
 */
export class PolicyLoadError extends PeerguardError {
  readonly location: SourceLocation
  readonly path: string

  constructor(code: PeerguardCode, what: string, details: PolicyErrorDetails) {
    const where = `${details.file ?? '<policy>'}:${details.line}:${details.column}`
    const expected = details.expected === undefined ? '' : `; expected ${details.expected}`
    super(code, `${where}: ${what}${expected}`, { details: { ...details } })
    this.location = { file: details.file, line: details.line, column: details.column }
    this.path = details.path
  }
}

/** The text is not well-formed YAML or JSON. */
export class PolicyParseError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-parse-error', what, details)
  }
}

/** The document breaks the schema (wrong type, missing key, empty list). */
export class PolicyInvalidError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-invalid', what, details)
  }
}

/** A key the language does not know, usually a typo. */
export class PolicyUnknownKeyError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-unknown-key', what, details)
  }
}

/** An action that is not a verb or a class of verbs. */
export class PolicyUnknownActionError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-unknown-action', what, details)
  }
}

/** A resource pattern that is not a valid or safe glob. */
export class PolicyBadGlobError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-bad-glob', what, details)
  }
}

/** A size, time window, weekday, CIDR or UTC offset that cannot be understood or is absurd. */
export class PolicyBadValueError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-bad-value', what, details)
  }
}

/** Groups that contain each other. */
export class PolicyCyclicGroupError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-cyclic-group', what, details)
  }
}

/** A peer or group name that is not defined. */
export class PolicyUnknownGroupError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-unknown-group', what, details)
  }
}

/** Two rules with one id, or a peer and a group with one name. */
export class PolicyDuplicateIdError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-duplicate-id', what, details)
  }
}

/** The policy text, or a list in it, is larger than the limits. */
export class PolicyTooLargeError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-too-large', what, details)
  }
}

/** A peer ID in the policy that is not a peer ID in either text form. */
export class PolicyBadPeerIdError extends PolicyLoadError {
  constructor(what: string, details: PolicyErrorDetails) {
    super('policy-bad-peer-id', what, details)
  }
}

/** A peer name a question (`explain`) uses that the policy does not define; nothing is guessed. */
export class PolicyUnknownPeerError extends PeerguardError {
  constructor(name: string, hint?: string) {
    super(
      'policy-unknown-peer',
      `unknown peer "${name}": not a name under peers: of the policy, nor a peer ID${hint === undefined ? '' : ` (${hint})`}`,
      { details: { name, ...(hint === undefined ? {} : { hint }) } }
    )
  }
}

/** A policy file could not be read. */
export class PolicyReadError extends PeerguardError {
  constructor(file: string, cause: unknown) {
    const missing = (cause as { code?: unknown } | undefined)?.code === 'ENOENT'
    super(missing ? 'not-found' : 'io-error', `${file}: ${missing ? 'no such policy file' : 'cannot read the policy file'}`, {
      cause,
      details: { file }
    })
  }
}
