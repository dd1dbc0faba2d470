import type { ParsedCertificate } from './certificate.js'
import type { ParsedCrl } from './crl.js'
import { crlNamesIssuer, crlSignatureProblem } from './crl-set.js'
import { CrlBadSignatureError, CrlStaleError } from './errors.js'
import { type TrustStore, trustInternals } from './trust-store.js'
import { iso, label } from './verify-messages.js'

/**
 * The newest CRL the store holds for `issuer`, after checking its signature with the issuer's
 * key (once per CRL, cached) and that it is current. Undefined when the store has none.
 */
export function currentCrl(trust: TrustStore, issuer: ParsedCertificate, now: number, skew: number): ParsedCrl | undefined {
  const named = trustInternals(trust).crlsFor(issuer.subject.raw)
  const crl = named.find((c) => crlNamesIssuer(c, issuer))
  if (crl === undefined) {
    // A CRL under the issuer's name with another key identifier: someone else's CRL, or a forgery.
    if (named.length > 0)
      throw new CrlBadSignatureError(`CRL for ${label(issuer)}: its authority key identifier is not the issuer's key`, {
        details: { issuer: issuer.subject.text }
      })
    return undefined
  }
  // The signature is checked once per CRL object and issuer key; the result lives with the CRL.
  const checks = trustInternals(trust).crlChecks
  let byKey = checks.get(crl)
  if (byKey === undefined) {
    byKey = new Map()
    checks.set(crl, byKey)
  }
  const issuerKey = Buffer.from(issuer.publicKey.spki).toString('base64')
  let problem = byKey.get(issuerKey) === true ? '' : undefined
  if (problem === undefined) {
    problem = crlSignatureProblem(crl, issuer)
    byKey.set(issuerKey, problem === '')
  }
  if (problem !== '')
    throw new CrlBadSignatureError(`CRL for ${label(issuer)}: ${problem}`, { details: { issuer: issuer.subject.text } })
  const details = { issuer: issuer.subject.text, hint: 'sign a fresh CRL with `peerguard ca crl` and reload the trust store' }
  if (crl.thisUpdate - skew > now)
    throw new CrlStaleError(`CRL for ${label(issuer)}: thisUpdate ${iso(crl.thisUpdate)} is in the future (check the clocks)`, {
      details
    })
  if (crl.nextUpdate === undefined)
    throw new CrlStaleError(`CRL for ${label(issuer)}: has no nextUpdate, so it cannot be known to be current`, { details })
  if (crl.nextUpdate + skew < now) {
    throw new CrlStaleError(`CRL for ${label(issuer)}: stale since ${iso(crl.nextUpdate)} (now ${iso(now)})`, { details })
  }
  return crl
}
