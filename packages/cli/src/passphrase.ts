/**
 * Where a key's passphrase comes from: a file (`--passphrase-file`), a systemd credential
 * (`--passphrase-credential NAME`, read from `$CREDENTIALS_DIRECTORY/NAME`), or, when neither is
 * given and the key turns out to be encrypted, a prompt on the terminal without echo. Never argv,
 * never an environment variable: both are visible to other processes (`ps`, /proc/PID/environ).
 */
import { join } from 'node:path'
import { type KeyPair, loadIdentity } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, PeerguardError } from '@peerguard/interface'
import { readPassphraseFile } from './common.js'
import type { CliIO } from './io.js'

/** The flags of every command that opens an encrypted key. */
export interface PassphraseFlags {
  /** `--passphrase-file FILE`: the first line of FILE. */
  passphraseFile?: string
  /** `--passphrase-credential NAME`: the systemd credential NAME (`LoadCredential=NAME:…`). */
  passphraseCredential?: string
}

/** How many times a wrong passphrase typed at the prompt is asked again (as sudo does). */
export const PROMPT_ATTEMPTS = 3

/** systemd credential names: no slash, not `.` or `..` (systemd.exec(5), "Credentials"). */
const CREDENTIAL_NAME = /^[A-Za-z0-9_@:.+-]{1,255}$/

/** The file of systemd credential `name`; refused when the service has no credentials. */
export function credentialPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof name !== 'string' || !CREDENTIAL_NAME.test(name) || name === '.' || name === '..') {
    throw new InvalidArgumentError(
      `--passphrase-credential: expected a systemd credential name (letters, digits, _@:.+-), got ${JSON.stringify(name)}`
    )
  }
  const dir = env.CREDENTIALS_DIRECTORY
  if (dir === undefined || dir === '') {
    throw new PeerguardError('usage', `--passphrase-credential ${name}: $CREDENTIALS_DIRECTORY is not set`, {
      details: { hint: `run under systemd with LoadCredential=${name}:/path/to/passphrase, or use --passphrase-file` }
    })
  }
  return join(dir, name)
}

/** The passphrase named by the flags, or undefined when neither flag is given. */
export async function passphraseFromFlags(
  flags: PassphraseFlags,
  env: NodeJS.ProcessEnv = process.env
): Promise<string | undefined> {
  if (flags.passphraseFile !== undefined && flags.passphraseCredential !== undefined) {
    throw new PeerguardError('usage', 'give either --passphrase-file or --passphrase-credential, not both')
  }
  if (flags.passphraseFile !== undefined) return readPassphraseFile(flags.passphraseFile)
  if (flags.passphraseCredential !== undefined) return readPassphraseFile(credentialPath(flags.passphraseCredential, env))
  return undefined
}

/**
 * Open something that may need a passphrase. With a flag, `open` gets that passphrase. Without
 * one, `open` is tried without; if the key is encrypted and stdin is a terminal, the passphrase is
 * asked for (no echo, up to PROMPT_ATTEMPTS tries); otherwise the keystore's own error stands.
 */
export async function withPassphrase<T>(
  what: string,
  flags: PassphraseFlags,
  io: CliIO,
  open: (passphrase: string | undefined) => Promise<T>
): Promise<T> {
  const given = await passphraseFromFlags(flags)
  if (given !== undefined) return open(given)
  try {
    return await open(undefined)
  } catch (err) {
    if (!needsPassphrase(err) || io.promptSecret === undefined) throw err
    for (let attempt = 1; ; attempt++) {
      const typed = await io.promptSecret(`Passphrase for ${what}: `)
      try {
        return await open(typed)
      } catch (retry) {
        if (!wrongPassphrase(retry) || attempt >= PROMPT_ATTEMPTS) throw retry
        io.err('peerguard: wrong passphrase, try again')
      }
    }
  }
}

function needsPassphrase(err: unknown): boolean {
  return isPeerguardError(err) && err.code === 'keystore-passphrase-required'
}

function wrongPassphrase(err: unknown): boolean {
  return isPeerguardError(err) && (err.code === 'keystore-bad-passphrase' || err.code === 'ca-bad-passphrase')
}

/** The key pair of an identity key file, its passphrase from the flags or the terminal. */
export async function openKey(path: string, flags: PassphraseFlags, io: CliIO): Promise<KeyPair> {
  return withPassphrase(
    path,
    flags,
    io,
    async (passphrase) => (await loadIdentity(path, passphrase === undefined ? {} : { passphrase })).keyPair
  )
}
