import {
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
  type Tlv,
  toHex,
  unsignedIntegerHex
} from './der.js'
import { CrlMalformedError } from './errors.js'
import { OID, type ParsedName, readName, type SignatureAlgorithm } from './fields.js'
import { toDer } from './pem.js'
import { readInnerSignatureAlgorithm, readSignedEnvelope } from './signed.js'

/** RFC 5280 §5.3.1 reason codes, by number. */
const REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise'
]

export interface RevokedEntry {
  /** ms since the epoch. */
  readonly revokedAt: number
  readonly reason: string | undefined
}

/** What the verifier needs from a CRL (RFC 5280 §5.1). */
export interface ParsedCrl {
  readonly der: Uint8Array
  /** The signed part (tbsCertList), exactly as in `der`. */
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: SignatureAlgorithm | undefined
  readonly signature: Uint8Array
  readonly issuer: ParsedName
  /** ms since the epoch. */
  readonly thisUpdate: number
  readonly nextUpdate: number | undefined
  /** CRL number (RFC 5280 §5.2.3) in hex, when present. */
  readonly number: string | undefined
  readonly authorityKeyId: string | undefined
  /** Revoked serials (lowercase hex, no leading zeros). */
  readonly revoked: ReadonlyMap<string, RevokedEntry>
}

/** CRL extensions we understand; any other critical one makes the CRL unusable (RFC 5280 §5.2). */
const CRL_EXTENSIONS = new Set<string>([OID.crlNumber, OID.authorityKeyIdentifier])
/**
 * A delta CRL or one with an issuing distribution point covers only part of a CA's certificates;
 * read as a complete CRL it would miss revocations. RFC 5280 makes both critical; a CRL that marks
 * them non-critical is refused all the same (OpenSSL does not use it either).
 */
const SCOPE_EXTENSIONS = new Set<string>([OID.deltaCrlIndicator, OID.issuingDistributionPoint])

/** Parse a CRL from DER or PEM. Throws CrlMalformedError, never anything else for bad input. */
export function parseCrl(input: Uint8Array | string): ParsedCrl {
  let der: Uint8Array
  try {
    der = toDer('crl', input, 'X509 CRL')
  } catch (err) {
    if ((err as { code?: string }).code === 'invalid-argument') throw err
    throw new CrlMalformedError(`malformed CRL: ${(err as Error).message}`, { cause: err })
  }
  try {
    return parseCrlDer(der)
  } catch (err) {
    if (err instanceof DerError) throw new CrlMalformedError(`malformed CRL: ${err.message}`, { cause: err })
    throw err
  }
}

function parseCrlDer(der: Uint8Array): ParsedCrl {
  const { tbsTlv, sigAlg, signature } = readSignedEnvelope(der)

  const tbs = DerReader.inside(der, tbsTlv)
  const versionTlv = tbs.optional(TAG.INTEGER)
  if (versionTlv !== undefined && smallInteger(der, versionTlv) !== 1) throw new DerError('CRL version must be v2')
  readInnerSignatureAlgorithm(der, tbs, sigAlg.raw, 'tbsCertList')
  const issuer = readName(der, tbs.read(TAG.SEQUENCE))
  const thisUpdate = readTime(der, tbs.read())
  let nextUpdate: number | undefined
  const next = tbs.peekTag()
  if (next === TAG.UTC_TIME || next === TAG.GENERALIZED_TIME) nextUpdate = readTime(der, tbs.read())
  const revoked = new Map<string, RevokedEntry>()
  const entriesTlv = tbs.optional(TAG.SEQUENCE)
  if (entriesTlv !== undefined) {
    const entries = DerReader.inside(der, entriesTlv)
    while (!entries.done) {
      const entry = DerReader.inside(der, entries.read(TAG.SEQUENCE))
      const serial = unsignedIntegerHex(der, entry.read(TAG.INTEGER))
      const revokedAt = readTime(der, entry.read())
      let reason: string | undefined
      const extsTlv = entry.optional(TAG.SEQUENCE)
      entry.end()
      if (extsTlv !== undefined) {
        const exts = DerReader.inside(der, extsTlv)
        while (!exts.done) {
          const { oidTlv, oid, critical, value } = readExtension(der, exts)
          if (oid === OID.crlReason) {
            const r = new DerReader(der, value.contentStart, value.end)
            const t = r.read(0x0a) // ENUMERATED
            const n = der[t.contentStart] as number
            if (t.end - t.contentStart !== 1) throw new DerError('bad CRL reason')
            reason = REASONS[n] ?? `reason-${n}`
          } else if (critical) {
            throw new DerError(
              `CRL entry has critical extension ${oidToString(contents(der, oidTlv))} peerguard does not implement`
            )
          }
        }
      }
      revoked.set(serial, { revokedAt, reason })
    }
  }
  let number: string | undefined
  let authorityKeyId: string | undefined
  const extsWrapper = tbs.optional(0xa0)
  tbs.end()
  if (extsWrapper !== undefined) {
    const w = DerReader.inside(der, extsWrapper)
    const exts = DerReader.inside(der, w.read(TAG.SEQUENCE))
    w.end()
    while (!exts.done) {
      const { oidTlv, oid, critical, value } = readExtension(der, exts)
      const v = new DerReader(der, value.contentStart, value.end)
      if (oid === OID.crlNumber) number = unsignedIntegerHex(der, v.read(TAG.INTEGER))
      else if (oid === OID.authorityKeyIdentifier) {
        const aki = DerReader.inside(der, v.read(TAG.SEQUENCE))
        const keyId = aki.optional(0x80)
        if (keyId !== undefined) authorityKeyId = toHex(contents(der, keyId))
      } else if ((critical || SCOPE_EXTENSIONS.has(oid)) && !CRL_EXTENSIONS.has(oid)) {
        throw new DerError(
          `CRL has ${critical ? 'critical' : 'scope'} extension ${oidToString(contents(der, oidTlv))} peerguard does not implement`
        )
      }
    }
  }
  return {
    der,
    tbs: element(der, tbsTlv),
    signatureAlgorithm: sigAlg.algorithm,
    signature,
    issuer,
    thisUpdate,
    nextUpdate,
    number,
    authorityKeyId,
    revoked
  }
}

/** One `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`. */
function readExtension(
  der: Uint8Array,
  exts: DerReader
): { readonly oidTlv: Tlv; readonly oid: string; readonly critical: boolean; readonly value: Tlv } {
  const ext = DerReader.inside(der, exts.read(TAG.SEQUENCE))
  const oidTlv = ext.read(TAG.OID)
  const oid = oidKey(der, oidTlv)
  const critTlv = ext.optional(TAG.BOOLEAN)
  const critical = critTlv !== undefined && readBoolean(der, critTlv)
  const value = ext.read(TAG.OCTET_STRING)
  ext.end()
  return { oidTlv, oid, critical, value }
}
