/**
 * The `enrollment:` section of a node config (issue #13): the node is the CA node and redeems
 * `peerguard ca token` tokens — which CA directory, the passphrase of its key, where to listen,
 * and the lifetime of the certificates it issues.
 */

import type { ConfigChecker as Checker } from './config-checker.js'

/** The checked `enrollment:` section, paths absolute. */
export interface EnrollmentConfig {
  /** The CA directory (`peerguard ca init --dir`). */
  readonly ca: string
  /** Passphrase file of the CA key. */
  readonly passphraseFile: string | undefined
  readonly listen: { host: string; port: number }
  /** Lifetime of the issued certificates in days. */
  readonly days: number
}

export const ENROLLMENT_KEYS = ['ca', 'passphrase-file', 'listen', 'days']
export const DEFAULT_ENROLLMENT_LISTEN = { host: '0.0.0.0', port: 47180 }

/** Check the `enrollment:` value (undefined when the section is absent). */
export function enrollmentOf(c: Checker, value: unknown, at: (p: string) => string): EnrollmentConfig | undefined {
  if (value === undefined || value === null) return undefined
  const path = ['enrollment']
  const o = c.object(value, path, ENROLLMENT_KEYS)
  if (o === undefined) return undefined
  const ca = c.string(o, path, 'ca', true)
  const passphraseFile = c.string(o, path, 'passphrase-file', false)
  const listen = o.listen === undefined ? DEFAULT_ENROLLMENT_LISTEN : c.hostPort(o, path, 'listen', true)
  const days = c.int(o, path, 'days', 1, 3650, 30)
  return {
    ca: at(ca ?? '.'),
    passphraseFile: passphraseFile === undefined ? undefined : at(passphraseFile),
    listen,
    days
  }
}
