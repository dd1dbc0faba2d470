import { InvalidArgumentError } from '@peerguard/interface'
import { DerError, DerReader, TAG, type Tlv } from './der.js'

/**
 * CRL distribution points (RFC 5280 §4.2.1.13): where a relying party fetches the CRL that covers a
 * certificate. peerguard writes and reads only the common form, one `fullName` URI per point:
 *
 *   CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
 *   DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL,
 *                                    reasons [1] ReasonFlags OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }
 *   DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN }
 *
 * Points limited to some reasons or naming another CRL issuer (indirect CRLs) are skipped: a
 * peerguard CA signs one full CRL itself.
 */

/** Longest distribution point URL accepted, characters. */
export const MAX_CRL_URL_LENGTH = 2048
/** Most distribution points a CA setting may hold. */
export const MAX_CRL_URLS = 4

/** `[0]` constructed (the DistributionPointName CHOICE and its fullName GeneralNames). */
const CONTEXT_0 = 0xa0
/** GeneralName uniformResourceIdentifier [6] IMPLICIT IA5String. */
const GENERAL_NAME_URI = 0x86

/** Read the extension value (the OCTET STRING contents); returns the URIs of the full-name points. */
export function readDistributionPoints(der: Uint8Array, value: DerReader): string[] {
  const urls: string[] = []
  const points = DerReader.inside(der, value.read(TAG.SEQUENCE))
  if (points.done) throw new DerError('empty cRLDistributionPoints')
  while (!points.done) {
    const point = DerReader.inside(der, points.read(TAG.SEQUENCE))
    const name = point.peekTag() === CONTEXT_0 ? point.read(CONTEXT_0) : undefined
    let other = false
    while (!point.done) {
      const t = point.read()
      if (t.tag !== 0x81 && t.tag !== 0xa2) throw new DerError('bad DistributionPoint field')
      other = true
    }
    if (name === undefined || other) continue
    const choice = DerReader.inside(der, name)
    const full = choice.read()
    choice.end()
    if (full.tag !== CONTEXT_0) continue // nameRelativeToCRLIssuer
    const names = DerReader.inside(der, full)
    if (names.done) throw new DerError('empty fullName')
    while (!names.done) {
      const gn = names.read()
      if (gn.tag === GENERAL_NAME_URI) urls.push(ia5(der, gn))
    }
  }
  return urls
}

function ia5(der: Uint8Array, tlv: Tlv): string {
  let s = ''
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const c = der[i] as number
    if (c > 0x7e || c < 0x20) throw new DerError('non-printable character in a distribution point URI')
    s += String.fromCharCode(c)
  }
  return s
}

/**
 * Check a distribution point URL a CA will write into certificates: absolute `http:` (RFC 5280
 * §4.2.1.13: HTTP, and CRLs are signed so TLS adds nothing), printable ASCII, no credentials.
 */
export function assertCrlUrl(name: string, url: unknown): asserts url is string {
  if (typeof url !== 'string')
    throw new InvalidArgumentError(`${name}: expected an http:// URL string, got ${url === null ? 'null' : typeof url}`)
  if (url.length === 0 || url.length > MAX_CRL_URL_LENGTH || !/^[\x21-\x7e]+$/.test(url))
    throw new InvalidArgumentError(`${name}: expected an http:// URL of printable ASCII up to ${MAX_CRL_URL_LENGTH} characters`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new InvalidArgumentError(`${name}: not a URL: ${JSON.stringify(url)}`, { cause: err })
  }
  if (parsed.protocol !== 'http:')
    throw new InvalidArgumentError(
      `${name}: expected an http:// URL (CRLs are signed; https is not needed), got ${parsed.protocol}`
    )
  if (parsed.username !== '' || parsed.password !== '')
    throw new InvalidArgumentError(`${name}: a distribution point URL must not carry credentials`)
  if (parsed.hash !== '') throw new InvalidArgumentError(`${name}: a distribution point URL has no #fragment`)
}

/** Check a list of distribution point URLs (deduplicated, at most MAX_CRL_URLS). */
export function checkCrlUrls(name: string, urls: unknown): string[] {
  if (!Array.isArray(urls)) throw new InvalidArgumentError(`${name}: expected an array of http:// URLs`)
  if (urls.length > MAX_CRL_URLS) throw new InvalidArgumentError(`${name}: at most ${MAX_CRL_URLS} URLs, got ${urls.length}`)
  for (const [i, u] of urls.entries()) assertCrlUrl(`${name}[${i}]`, u)
  return [...new Set(urls as string[])]
}
