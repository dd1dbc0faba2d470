import type { ParsedCertificate } from './certificate.js'
import type { ParsedCrl } from './crl.js'
import { CrlBadSignatureError, CrlStaleError } from './errors.js'
import { KEY_USAGE } from './fields.js'
import { publicKeyObject, verifySignature } from './signature.js'
import type { TrustStore } from './trust-store.js'
import { iso, label } from './verify-messages.js'

/**
 * The newest CRL the store holds for `issuer`, after checking its signature with the issuer's
 * key (once per CRL, cached) and that it is current. Undefined when the store has none.
 */
export function currentCrl(trust: TrustStore, issuer: ParsedCertificate, now: number, skew: number): ParsedCrl | undefined {
  const crls = trust
    ._crlsFor(issuer.subject.raw)
    .filter(
      (c) => c.authorityKeyId === undefined || issuer.subjectKeyId === undefined || c.authorityKeyId === issuer.subjectKeyId
    )
  const crl = crls[0]
  if (crl === undefined) {
    // A CRL under the issuer's name with another key identifier: someone else's CRL, or a forgery.
    const other = trust._crlsFor(issuer.subject.raw)[0]
    if (other !== undefined)
      throw new CrlBadSignatureError(`CRL for ${label(issuer)}: its authority key identifier is not the issuer's key`)
    return undefined
  }
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.cRLSign) === 0) {
    throw new CrlBadSignatureError(`CRL for ${label(issuer)}: the issuer's key usage does not include cRLSign`)
  }
  // The signature is checked once per CRL object and issuer key; the result lives with the CRL.
  let byKey = trust._crlChecks.get(crl)
  if (byKey === undefined) {
    byKey = new Map()
    trust._crlChecks.set(crl, byKey)
  }
  const issuerKey = Buffer.from(issuer.publicKey.spki).toString('base64')
  let ok = byKey.get(issuerKey)
  if (ok === undefined) {
    ok =
      issuer.publicKey.keyType !== undefined &&
      verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, publicKeyObject(issuer.publicKey), issuer.publicKey.keyType)
    byKey.set(issuerKey, ok)
  }
  if (!ok) throw new CrlBadSignatureError(`CRL for ${label(issuer)}: signature does not verify with the issuer's key`)
  if (crl.thisUpdate - skew > now)
    throw new CrlStaleError(`CRL for ${label(issuer)}: thisUpdate ${iso(crl.thisUpdate)} is in the future (check the clocks)`)
  if (crl.nextUpdate === undefined)
    throw new CrlStaleError(`CRL for ${label(issuer)}: has no nextUpdate, so it cannot be known to be current`)
  if (crl.nextUpdate + skew < now) {
    throw new CrlStaleError(`CRL for ${label(issuer)}: stale since ${iso(crl.nextUpdate)} (now ${iso(now)})`, {
      details: { hint: 'sign a fresh CRL with `peerguard ca crl` and reload the trust store' }
    })
  }
  return crl
}
