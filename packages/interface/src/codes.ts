/**
 * The one table of stable codes. Every code that leaves a process — CLI `--json` output and exit
 * codes, wire alerts, audit findings, decision-log entries — is a key of this table.
 *
 * Rules: codes are lowercase kebab-case, unique across packages, never renamed and never reused
 * for another meaning. Add new codes to the section of the package that throws them.
 * `exit` is the CLI exit code for an error carrying this code (see `EXIT_CODES`).
 */
export interface CodeInfo {
  /** One line: what happened, for documentation and `--json` output. */
  readonly summary: string
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exit: number
}

/** Exit codes of the `peerguard` command (documented in the CLI README). */
export const EXIT_CODES = {
  /** Success. */
  OK: 0,
  /** A finding, a denial or an invalid certificate the user asked about. */
  FINDING: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** The command failed: bad input file, crypto failure, I/O error. */
  FAILURE: 3,
  /** An internal error (a bug): please report it. */
  INTERNAL: 4
} as const

const code = (summary: string, exit: number = EXIT_CODES.FAILURE): CodeInfo => ({ summary, exit })

export const CODES = {
  // ---- interface: generic ----
  'invalid-argument': code('an argument has the wrong type, length or encoding', EXIT_CODES.USAGE),
  usage: code('the command line could not be understood', EXIT_CODES.USAGE),
  'io-error': code('a file or socket operation failed'),
  'not-found': code('a file or object does not exist'),
  'already-exists': code('refusing to overwrite an existing file'),
  internal: code('an unexpected internal error', EXIT_CODES.INTERNAL),
  aborted: code('the operation was aborted'),
  timeout: code('the operation timed out'),

  // ---- identity ----
  'invalid-key': code('a key has the wrong length or is not a valid Ed25519 key'),
  'invalid-signature': code('a signature did not verify', EXIT_CODES.FINDING),
  'invalid-peer-id': code('a peer ID could not be parsed'),
  'peer-id-check-failed': code('a peer ID check character is wrong (a typo?)'),
  'keystore-bad-passphrase': code('the keystore passphrase is wrong'),
  'keystore-passphrase-required': code('the keystore is encrypted and no passphrase was given'),
  'keystore-corrupt': code('the keystore file is damaged or was tampered with'),
  'keystore-truncated': code('the keystore file is truncated'),
  'keystore-unsupported-version': code('the keystore file has a version this peerguard cannot read'),
  'keystore-invalid-format': code('the file is not a peerguard keystore')

  // ---- pki ----

  // ---- policy ----

  // ---- channel ----

  // ---- audit ----

  // ---- share ----

  // ---- cli ----
} as const satisfies Record<string, CodeInfo>

/** A stable error or result code from the table in `CODES`. */
export type PeerguardCode = keyof typeof CODES

/** True when `value` is a code of the table. */
export function isPeerguardCode(value: unknown): value is PeerguardCode {
  return typeof value === 'string' && Object.hasOwn(CODES, value)
}
