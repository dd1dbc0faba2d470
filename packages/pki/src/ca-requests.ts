import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import type { CaRecord } from './ca-store.js'
import { DerReader } from './der.js'
import { checkCrlUrls } from './distribution-points.js'
import { CaCertificateRevokedError } from './errors.js'
import { type KeyType, readPublicKeyInfo } from './fields.js'
import { checkDnsNames, checkIpAddresses, SAN_MAX, type SubjectAltNames } from './subject-alt-names.js'

/*
 * The checks a CertificateAuthority runs on what an operator asks for (host names,
 * CRL URLs, a P-256 key to certify) and on a renewal, with the exact boundary messages.
 */
/** The checked DNS names and IP addresses an operator asked for. */
export function checkSans(options: { dnsNames?: unknown; ipAddresses?: unknown }): SubjectAltNames {
  const dnsNames = checkDnsNames('dnsNames', options.dnsNames)
  const ipAddresses = checkIpAddresses('ipAddresses', options.ipAddresses)
  if (dnsNames.length + ipAddresses.length > SAN_MAX)
    throw new InvalidArgumentError(
      `dnsNames, ipAddresses: at most ${SAN_MAX} together, got ${dnsNames.length + ipAddresses.length}`
    )
  return { dnsNames, ipAddresses }
}

/** The checked `crlDistributionPoints` option; undefined (the CA's setting) when not given. */
export function checkCrlOption(crlDistributionPoints: string[] | undefined): string[] | undefined {
  return crlDistributionPoints === undefined ? undefined : checkCrlUrls('crlDistributionPoints', crlDistributionPoints)
}

/** The P-256 SPKI (DER) an operator asked to certify instead of the Ed25519 identity key. */
export function checkSubjectPublicKey(spki: unknown): Uint8Array {
  assertBytes('subjectPublicKey', spki)
  let keyType: KeyType | undefined
  try {
    keyType = readPublicKeyInfo(spki, new DerReader(spki).read()).keyType
  } catch (err) {
    throw new InvalidArgumentError('subjectPublicKey: not an SPKI DER public key', { cause: err })
  }
  if (keyType !== 'p256') throw new InvalidArgumentError('subjectPublicKey: expected a P-256 SPKI')
  return spki
}

/** Refuse to renew `serial` when its record says the CA revoked it. */
export function assertRenewable(serial: string, old: CaRecord | undefined): void {
  if (old?.revokedAt === undefined) return
  throw new CaCertificateRevokedError(
    `certificate ${serial} (${old.name}) was revoked at ${old.revokedAt} (${old.reason ?? 'unspecified'}); refusing to renew it`,
    {
      details: {
        serial,
        revokedAt: old.revokedAt,
        reason: old.reason ?? 'unspecified',
        hint: 'a revoked certificate stays revoked: issue a new one after review (`peerguard ca issue`)'
      }
    }
  )
}
