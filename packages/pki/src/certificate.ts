import { InvalidArgumentError } from '@peerguard/interface'
import {
  bitStringFlags,
  contents,
  DerError,
  DerReader,
  element,
  oidKey,
  oidToString,
  readBoolean,
  readTime,
  smallInteger,
  TAG,
  toHex,
  unsignedIntegerHex
} from './der.js'
import { readDistributionPoints } from './distribution-points.js'
import { CertificateMalformedError, PemMalformedError } from './errors.js'
import { OID, type ParsedName, type ParsedPublicKey, readName, readPublicKeyInfo, type SignatureAlgorithm } from './fields.js'
import { toDer } from './pem.js'
import { readInnerSignatureAlgorithm, readSignedEnvelope } from './signed.js'

/** What the verifier needs from one X.509 v3 certificate (RFC 5280 §4.1). */
export interface ParsedCertificate {
  /** The whole certificate DER. */
  readonly der: Uint8Array
  /** The signed part (tbsCertificate), exactly as in `der`. */
  readonly tbs: Uint8Array
  /** ed25519 or ecdsa-sha256; undefined for an algorithm peerguard does not verify. */
  readonly signatureAlgorithm: SignatureAlgorithm | undefined
  readonly signature: Uint8Array
  /** Serial number: lowercase hex, no leading zero bytes. */
  readonly serial: string
  readonly issuer: ParsedName
  readonly subject: ParsedName
  /** Validity window, ms since the epoch. */
  readonly notBefore: number
  readonly notAfter: number
  readonly publicKey: ParsedPublicKey
  /** basicConstraints cA (false when the extension is absent). */
  readonly ca: boolean
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLen: number | undefined
  /** keyUsage flags (see KEY_USAGE), undefined when the extension is absent. */
  readonly keyUsage: number | undefined
  /** extKeyUsage purposes (dotted OIDs), undefined when absent. */
  readonly extKeyUsage: readonly string[] | undefined
  /** uniformResourceIdentifier entries of subjectAltName. */
  readonly uris: readonly string[]
  /** dNSName entries of subjectAltName. */
  readonly dnsNames: readonly string[]
  /** Key identifiers in hex, when present. */
  readonly subjectKeyId: string | undefined
  readonly authorityKeyId: string | undefined
  /** URIs of the CRL distribution points (RFC 5280 §4.2.1.13), full-name points only; [] when absent. */
  readonly crlDistributionPoints: readonly string[]
  /** Critical extensions this parser does not implement, and nameConstraints however marked (dotted OIDs): the verifier refuses them. */
  readonly unknownCritical: readonly string[]
}

const CRITICAL_OK = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier
])

/**
 * Parse a certificate from DER, PEM text or PEM bytes. Throws CertificateMalformedError for
 * anything that is not a well-formed DER certificate; never anything else for bad input.
 */
export function parseCertificate(input: Uint8Array | string): ParsedCertificate {
  let der: Uint8Array
  try {
    der = toDer('certificate', input, 'CERTIFICATE')
  } catch (err) {
    if (err instanceof PemMalformedError)
      throw new CertificateMalformedError(`malformed certificate: ${err.message}`, { cause: err })
    throw err
  }
  try {
    return parseCertificateDer(der)
  } catch (err) {
    if (err instanceof DerError) throw new CertificateMalformedError(`malformed certificate: ${err.message}`, { cause: err })
    throw err
  }
}

function parseCertificateDer(der: Uint8Array): ParsedCertificate {
  if (!(der instanceof Uint8Array)) throw new InvalidArgumentError('certificate: expected Uint8Array')
  const { tbsTlv, sigAlg, signature } = readSignedEnvelope(der)

  const tbs = DerReader.inside(der, tbsTlv)
  let version = 0
  const versionTlv = tbs.optional(0xa0)
  if (versionTlv !== undefined) {
    const v = DerReader.inside(der, versionTlv)
    version = smallInteger(der, v.read(TAG.INTEGER))
    v.end()
    if (version === 0) throw new DerError('explicit v1 version (DER forbids the default)')
    if (version > 2) throw new DerError(`unknown certificate version ${version + 1}`)
  }
  const serialTlv = tbs.read(TAG.INTEGER)
  if (serialTlv.end - serialTlv.contentStart > 21) throw new DerError('serial number longer than 20 octets')
  const serial = unsignedIntegerHex(der, serialTlv)
  readInnerSignatureAlgorithm(der, tbs, sigAlg.raw, 'tbsCertificate')
  const issuer = readName(der, tbs.read(TAG.SEQUENCE))
  const validity = DerReader.inside(der, tbs.read(TAG.SEQUENCE))
  const notBefore = readTime(der, validity.read())
  const notAfter = readTime(der, validity.read())
  validity.end()
  const subject = readName(der, tbs.read(TAG.SEQUENCE))
  const publicKey = readPublicKeyInfo(der, tbs.read(TAG.SEQUENCE))
  // issuerUniqueID [1], subjectUniqueID [2]: IMPLICIT BIT STRING, v2 or v3 only (RFC 5280 §4.1.2.8).
  for (const tag of [0x81, 0x82]) {
    const uid = tbs.optional(tag)
    if (uid === undefined) continue
    if (version === 0 || uid.end === uid.contentStart || (der[uid.contentStart] as number) > 7)
      throw new DerError('bad unique identifier')
  }
  const extsTlv = tbs.optional(0xa3)
  tbs.end()

  let ca = false
  let pathLen: number | undefined
  let keyUsage: number | undefined
  let extKeyUsage: string[] | undefined
  const uris: string[] = []
  const dnsNames: string[] = []
  let subjectKeyId: string | undefined
  let authorityKeyId: string | undefined
  let crlDistributionPoints: string[] = []
  const unknownCritical: string[] = []
  if (extsTlv !== undefined) {
    if (version !== 2) throw new DerError('extensions in a certificate that is not v3')
    const wrapper = DerReader.inside(der, extsTlv)
    const exts = DerReader.inside(der, wrapper.read(TAG.SEQUENCE))
    wrapper.end()
    if (exts.done) throw new DerError('empty extensions')
    const seen = new Set<string>()
    while (!exts.done) {
      const ext = DerReader.inside(der, exts.read(TAG.SEQUENCE))
      const oidTlv = ext.read(TAG.OID)
      const oid = oidKey(der, oidTlv)
      if (seen.has(oid)) throw new DerError('duplicate extension')
      seen.add(oid)
      const criticalTlv = ext.optional(TAG.BOOLEAN)
      const critical = criticalTlv === undefined ? false : readBoolean(der, criticalTlv)
      if (criticalTlv !== undefined && !critical) throw new DerError('explicit critical FALSE (DER forbids the default)')
      const valueTlv = ext.read(TAG.OCTET_STRING)
      ext.end()
      const value = new DerReader(der, valueTlv.contentStart, valueTlv.end)
      switch (oid) {
        case OID.basicConstraints: {
          const bc = DerReader.inside(der, value.read(TAG.SEQUENCE))
          const caTlv = bc.optional(TAG.BOOLEAN)
          if (caTlv !== undefined) {
            ca = readBoolean(der, caTlv)
            if (!ca) throw new DerError('explicit cA FALSE (DER forbids the default)')
          }
          const plTlv = bc.optional(TAG.INTEGER)
          if (plTlv !== undefined) pathLen = smallInteger(der, plTlv)
          bc.end()
          break
        }
        case OID.keyUsage:
          keyUsage = bitStringFlags(der, value.read(TAG.BIT_STRING))
          break
        case OID.extKeyUsage: {
          const seq = DerReader.inside(der, value.read(TAG.SEQUENCE))
          extKeyUsage = []
          while (!seq.done) {
            const t = seq.read(TAG.OID)
            oidKey(der, t)
            extKeyUsage.push(oidToString(contents(der, t)))
          }
          if (extKeyUsage.length === 0) throw new DerError('empty extKeyUsage')
          break
        }
        case OID.subjectAltName: {
          const seq = DerReader.inside(der, value.read(TAG.SEQUENCE))
          while (!seq.done) {
            const gn = seq.read()
            // GeneralName choices [6] URI and [2] dNSName are IMPLICIT IA5String (RFC 5280 §4.2.1.6).
            if (gn.tag === 0x86 || gn.tag === 0x82) {
              let s = ''
              for (let i = gn.contentStart; i < gn.end; i++) {
                const c = der[i] as number
                if (c > 0x7e || c < 0x20) throw new DerError('non-printable character in a SAN')
                s += String.fromCharCode(c)
              }
              ;(gn.tag === 0x86 ? uris : dnsNames).push(s)
            }
          }
          break
        }
        case OID.subjectKeyIdentifier:
          subjectKeyId = toHex(contents(der, value.read(TAG.OCTET_STRING)))
          break
        case OID.authorityKeyIdentifier: {
          const aki = DerReader.inside(der, value.read(TAG.SEQUENCE))
          const keyId = aki.optional(0x80)
          if (keyId !== undefined) authorityKeyId = toHex(contents(der, keyId))
          break
        }
        case OID.crlDistributionPoints:
          crlDistributionPoints = readDistributionPoints(der, value)
          break
        default:
          // nameConstraints limits every certificate below its CA; a verifier that does not enforce
          // it must refuse it even when a CA marked it non-critical (OpenSSL enforces it either way).
          if (critical || oid === OID.nameConstraints) unknownCritical.push(oidToString(contents(der, oidTlv)))
          continue
      }
      if (!CRITICAL_OK.has(oid) && critical) unknownCritical.push(oidToString(contents(der, oidTlv)))
      value.end()
    }
  }

  return {
    der,
    tbs: element(der, tbsTlv),
    signatureAlgorithm: sigAlg.algorithm,
    signature,
    serial,
    issuer,
    subject,
    notBefore,
    notAfter,
    publicKey,
    ca,
    pathLen,
    keyUsage,
    extKeyUsage,
    uris,
    dnsNames,
    subjectKeyId,
    authorityKeyId,
    crlDistributionPoints,
    unknownCritical
  }
}

/**
 * The CRL distribution point URLs of a certificate (DER, PEM or already parsed): where the CRL of
 * its issuer can be fetched (`fetchCrl`). Empty when the certificate names none.
 */
export function crlDistributionPoints(cert: ParsedCertificate | Uint8Array | string): string[] {
  if (cert !== null && typeof cert === 'object' && !(cert instanceof Uint8Array)) {
    const points = (cert as { crlDistributionPoints?: unknown }).crlDistributionPoints
    if (!Array.isArray(points) || !((cert as { der?: unknown }).der instanceof Uint8Array))
      throw new InvalidArgumentError('cert: expected Uint8Array (DER), PEM string or a ParsedCertificate')
    return [...(points as string[])]
  }
  if (!(cert instanceof Uint8Array) && typeof cert !== 'string')
    throw new InvalidArgumentError(
      `cert: expected Uint8Array (DER), PEM string or a ParsedCertificate, got ${cert === null ? 'null' : typeof cert}`
    )
  return [...parseCertificate(cert).crlDistributionPoints]
}
