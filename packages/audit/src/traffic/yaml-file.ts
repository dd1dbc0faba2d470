import { readFileSync } from 'node:fs'
import { InvalidArgumentError, type PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'
import { parseYamlText } from './yaml-text.js'

/** The typed error of the file being read (AuditProfileError, AuditInventoryError). */
type FileError = new (message: string, options: PeerguardErrorOptions) => PeerguardError

/**
 * Read and parse a YAML (or JSON) file of the auditor. `what` names it in the message (`the
 * profile`), `format` says what it must be (`YAML`, `YAML or JSON`); a file that cannot be read or
 * parsed throws `Err` with `details.file`.
 */
export function readYamlFile(path: string, what: string, format: string, Err: FileError): unknown {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('path: expected a non-empty string')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Err(`${path}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
      details: { file: path }
    })
  }
  try {
    return parseYamlText(text)
  } catch (err) {
    throw new Err(`${path}: not valid ${format}: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
      details: { file: path }
    })
  }
}
