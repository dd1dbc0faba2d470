import type { ParsedCertificate } from './certificate.js'
import type { ParsedCrl } from './crl.js'
import { KEY_USAGE } from './fields.js'
import { publicKeyObject, verifySignature } from './signature.js'

/**
 * How CRLs of one CA are ordered and reported. "Newer" is the higher cRLNumber (RFC 5280 §5.2.3:
 * monotonically increasing per CA), then the later thisUpdate; a trust store keeps the newest per
 * CA and never goes back to an older one.
 */

/** Warn when a CRL has this long left (ms): 24 h. */
export const DEFAULT_CRL_WARNING_MS = 24 * 3_600_000
/** …or when this fraction of its lifetime (thisUpdate → nextUpdate) has passed, whichever comes first. */
export const DEFAULT_CRL_WARNING_FRACTION = 0.5

/** One CA's CRL in force, as `TrustStore.crlStatus()` reports it. */
export interface CrlStatus {
  /** The issuing CA's name (RFC 4514-like text, e.g. `CN=Home LAN CA`). */
  issuer: string
  thisUpdate: Date
  /** When the CRL goes stale. A CRL without nextUpdate reports its thisUpdate here and is stale. */
  nextUpdate: Date
  /** True when verification would refuse it now: past nextUpdate (plus the clock skew), no nextUpdate, or thisUpdate in the future. */
  stale: boolean
  /** Where it came from: a file path, a URL, or undefined for bytes given in memory. */
  source?: string
  /** The cRLNumber in hex, when present. */
  number?: string
}

/** A CRL status with the moment a warning is due. */
export interface CrlWarning extends CrlStatus {
  /** From this moment on the CRL should be renewed (see `crlWarnings`). */
  warnAt: Date
}

export interface CrlWarningOptions {
  /** Warn when this little time is left, ms. Default 86400000 (24 h). */
  windowMs?: number
  /** Warn once this fraction of the lifetime has passed (0..1). Default 0.5. */
  lifetimeFraction?: number
}

/** >0 when `a` is newer than `b`, <0 when older, 0 when neither (same number and thisUpdate). */
export function compareCrls(a: ParsedCrl, b: ParsedCrl): number {
  if (a.number !== undefined && b.number !== undefined) {
    const na = BigInt(`0x${a.number}`)
    const nb = BigInt(`0x${b.number}`)
    if (na !== nb) return na > nb ? 1 : -1
  }
  return Math.sign(a.thisUpdate - b.thisUpdate)
}

/** The CRL may have been signed by this CA: same name, and key identifiers agree when both are present. */
export function crlNamesIssuer(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  return (
    Buffer.from(crl.issuer.raw).equals(issuer.subject.raw) &&
    (crl.authorityKeyId === undefined || issuer.subjectKeyId === undefined || crl.authorityKeyId === issuer.subjectKeyId)
  )
}

/** Two CRLs come from the same CA key (same issuer name and authority key identifier). */
export function sameCrlIssuer(a: ParsedCrl, b: ParsedCrl): boolean {
  return Buffer.from(a.issuer.raw).equals(b.issuer.raw) && a.authorityKeyId === b.authorityKeyId
}

/** Why `issuer` did not sign `crl` ('' when it did): missing cRLSign, or a signature that does not verify. */
export function crlSignatureProblem(crl: ParsedCrl, issuer: ParsedCertificate): string {
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.cRLSign) === 0)
    return "the issuer's key usage does not include cRLSign"
  const ok =
    issuer.publicKey.keyType !== undefined &&
    verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, publicKeyObject(issuer.publicKey), issuer.publicKey.keyType)
  return ok ? '' : "signature does not verify with the issuer's key"
}

/** The status of one CRL at `now`. */
export function statusOf(crl: ParsedCrl, now: number, skewMs: number, source: string | undefined): CrlStatus {
  const stale = crl.nextUpdate === undefined || crl.nextUpdate + skewMs < now || crl.thisUpdate - skewMs > now
  return {
    issuer: crl.issuer.text,
    thisUpdate: new Date(crl.thisUpdate),
    nextUpdate: new Date(crl.nextUpdate ?? crl.thisUpdate),
    stale,
    ...(source === undefined ? {} : { source }),
    ...(crl.number === undefined ? {} : { number: crl.number })
  }
}

/**
 * When a warning about this CRL is due: at `lifetimeFraction` of its lifetime or `windowMs` before
 * nextUpdate, whichever comes first.
 */
export function warnAtOf(status: CrlStatus, windowMs: number, lifetimeFraction: number): number {
  const start = status.thisUpdate.getTime()
  const end = status.nextUpdate.getTime()
  return Math.min(end - windowMs, start + Math.floor((end - start) * lifetimeFraction))
}
