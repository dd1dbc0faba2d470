/**
 * Steps 2–5 of chain verification, each on a built path (`all` = leaf, intermediates, root):
 * validity windows, CA constraints, the leaf's usage, the key ↔ peer ID binding, and revocation.
 * Each throws its own error class (errors.ts) and narrows the window in which the result holds.
 */
import { peerIdFromString } from '@peerguard/identity'
import type { ParsedCertificate } from './certificate.js'
import {
  CertificateExpiredError,
  CertificateNotACaError,
  CertificateNotYetValidError,
  CertificatePathTooLongError,
  CertificatePeerMismatchError,
  CertificateRevokedError,
  CertificateUnknownCriticalExtensionError,
  CertificateWrongUsageError,
  CrlMissingError,
  UnsupportedAlgorithmError
} from './errors.js'
import { EKU, KEY_USAGE } from './fields.js'
import { peerUrisOf } from './peer-uri.js'
import { currentCrl } from './revocation.js'
import type { TrustStore } from './trust-store.js'
import { describe, iso, label } from './verify-messages.js'

export type Purpose = 'clientAuth' | 'serverAuth'

/** When a verified result holds (ms since the epoch, clock skew included); a cache entry lives this long. */
export interface ValidityWindow {
  validFrom: number
  validUntil: number
}

function allowsPurpose(ekus: readonly string[], purpose: Purpose | undefined): boolean {
  if (ekus.includes(EKU.any)) return true
  if (purpose === undefined) return ekus.includes(EKU.clientAuth) || ekus.includes(EKU.serverAuth)
  return ekus.includes(EKU[purpose])
}

/** Every certificate of the path, the root's too (as OpenSSL does), is within its validity window at `now` ± skew. */
export function checkValidity(all: readonly ParsedCertificate[], now: number, skew: number): ValidityWindow {
  let validFrom = Number.NEGATIVE_INFINITY
  let validUntil = Number.POSITIVE_INFINITY
  for (const [i, c] of all.entries()) {
    if (now + skew < c.notBefore) {
      throw new CertificateNotYetValidError(`certificate ${label(c)}: not valid before ${iso(c.notBefore)} (now ${iso(now)})`, {
        details: describe(c, i)
      })
    }
    if (now - skew > c.notAfter) {
      throw new CertificateExpiredError(`certificate ${label(c)}: expired at ${iso(c.notAfter)} (now ${iso(now)})`, {
        details: describe(c, i)
      })
    }
    validFrom = Math.max(validFrom, c.notBefore - skew)
    validUntil = Math.min(validUntil, c.notAfter + skew)
  }
  return { validFrom, validUntil }
}

/** No unknown critical extension anywhere; every issuer is a CA allowed to sign, within its pathLen and EKU. */
export function checkIssuerConstraints(all: readonly ParsedCertificate[], purpose: Purpose | undefined): void {
  for (const [i, c] of all.entries()) {
    if (c.unknownCritical.length > 0) {
      throw new CertificateUnknownCriticalExtensionError(
        `certificate ${label(c)}: critical extension ${c.unknownCritical.join(', ')} is not understood`,
        { details: describe(c, i) }
      )
    }
  }
  for (let i = 1; i < all.length; i++) {
    const c = all[i] as ParsedCertificate
    if (!c.ca) {
      throw new CertificateNotACaError(
        `certificate ${label(c)}: issued ${label(all[i - 1] as ParsedCertificate)} but is not a CA (basicConstraints cA is not set)`,
        { details: describe(c, i) }
      )
    }
    if (c.keyUsage !== undefined && (c.keyUsage & KEY_USAGE.keyCertSign) === 0) {
      throw new CertificateWrongUsageError(`certificate ${label(c)}: key usage does not include keyCertSign`, {
        details: describe(c, i)
      })
    }
    // Intermediates below c: all[1..i-1] (RFC 5280 §6.1.4 (l)/(m); no self-issued exceptions here).
    if (c.pathLen !== undefined && i - 1 > c.pathLen) {
      throw new CertificatePathTooLongError(
        `certificate ${label(c)}: pathLen ${c.pathLen} allows ${c.pathLen} intermediate CA(s) below it, the chain has ${i - 1}`,
        { details: describe(c, i) }
      )
    }
    if (c.extKeyUsage !== undefined && !allowsPurpose(c.extKeyUsage, purpose)) {
      throw new CertificateWrongUsageError(
        `certificate ${label(c)}: extended key usage does not allow ${purpose ?? 'peer authentication'}`,
        { details: describe(c, i) }
      )
    }
  }
}

/** The leaf is a peer certificate (not a CA) whose key usage and EKU allow this purpose. */
export function checkLeafUsage(leaf: ParsedCertificate, purpose: Purpose | undefined): void {
  if (leaf.ca)
    throw new CertificateWrongUsageError(`certificate ${label(leaf)}: is a CA certificate, not a peer certificate`, {
      details: describe(leaf, 0)
    })
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & KEY_USAGE.digitalSignature) === 0) {
    throw new CertificateWrongUsageError(`certificate ${label(leaf)}: key usage does not include digitalSignature`, {
      details: describe(leaf, 0)
    })
  }
  if (leaf.extKeyUsage === undefined || !allowsPurpose(leaf.extKeyUsage, purpose)) {
    throw new CertificateWrongUsageError(
      `certificate ${label(leaf)}: extended key usage does not allow ${purpose ?? 'clientAuth or serverAuth'}`,
      { details: describe(leaf, 0) }
    )
  }
}

/**
 * The binding: the leaf names exactly one peer ID (peerguard://peer/… SAN), and an Ed25519 leaf
 * key is that peer's key (a P-256 leaf is bound by its CSR proof). Returns the peer and its key.
 */
export function bindPeerId(leaf: ParsedCertificate): { peerId: string; identityKey: Uint8Array } {
  const ids = peerUrisOf(leaf.uris)
  if (ids.length !== 1) {
    throw new CertificatePeerMismatchError(
      `certificate ${label(leaf)}: names ${ids.length} peer IDs (peerguard://peer/… SAN), expected exactly one`,
      { details: describe(leaf, 0) }
    )
  }
  let peerId: string
  let identityKey: Uint8Array
  try {
    const named = peerIdFromString(ids[0] as string)
    peerId = named.toString()
    identityKey = named.publicKey
  } catch (err) {
    throw new CertificatePeerMismatchError(`certificate ${label(leaf)}: its peer ID SAN is not a valid peer ID`, {
      cause: err,
      details: describe(leaf, 0)
    })
  }
  if (leaf.publicKey.keyType === 'ed25519') {
    if (!Buffer.from(leaf.publicKey.raw).equals(identityKey)) {
      throw new CertificatePeerMismatchError(
        `certificate ${label(leaf)}: its key is not the key of the peer ID it names (${peerId})`,
        { details: describe(leaf, 0) }
      )
    }
  } else if (leaf.publicKey.keyType !== 'p256') {
    throw new UnsupportedAlgorithmError(`certificate ${label(leaf)}: key is neither Ed25519 nor P-256`, {
      details: describe(leaf, 0)
    })
  }
  return { peerId, identityKey }
}

/**
 * Revocation: each certificate below the root against its issuer's current CRL, from the top.
 * A CA without a CRL refuses (CrlMissingError) unless the store was built without `requireCrl`.
 * Returns `window` narrowed to the CRLs' thisUpdate … nextUpdate.
 */
export function checkRevocation(
  trust: TrustStore,
  all: readonly ParsedCertificate[],
  now: number,
  window: ValidityWindow
): ValidityWindow {
  const skew = trust.clockSkewMs
  let { validFrom, validUntil } = window
  for (let i = all.length - 2; i >= 0; i--) {
    const c = all[i] as ParsedCertificate
    const issuer = all[i + 1] as ParsedCertificate
    const crl = currentCrl(trust, issuer, now, skew)
    if (crl === undefined) {
      if (trust.requireCrl)
        throw new CrlMissingError(
          `no CRL from ${label(issuer)} (${issuer.subject.text}) is loaded, so the revocation of ${label(c)} cannot be checked`,
          {
            details: {
              ...describe(c, i),
              issuer: issuer.subject.text,
              distributionPoints: [...c.crlDistributionPoints],
              hint: 'sign one with `peerguard ca crl` and pass it with --crl (or put it in the trust folder)'
            }
          }
        )
      continue
    }
    if (crl.nextUpdate !== undefined) validUntil = Math.min(validUntil, crl.nextUpdate + skew)
    validFrom = Math.max(validFrom, crl.thisUpdate - skew)
    const entry = crl.revoked.get(c.serial)
    if (entry !== undefined) {
      throw new CertificateRevokedError(
        `certificate ${label(c)} (serial ${c.serial}) was revoked at ${iso(entry.revokedAt)}${entry.reason === undefined ? '' : ` (${entry.reason})`}`,
        { details: { ...describe(c, i), revokedAt: iso(entry.revokedAt), reason: entry.reason } }
      )
    }
  }
  return { validFrom, validUntil }
}
