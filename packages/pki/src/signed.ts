import { equalBytes } from '@peerguard/interface'
import { bitStringBytes, DerError, DerReader, element, TAG, type Tlv } from './der.js'
import { readSignatureAlgorithm, type SignatureAlgorithm } from './fields.js'

/** The outer SIGNED{…} of a certificate or CRL: what is signed, how, and the signature. */
export interface SignedEnvelope {
  /** The to-be-signed SEQUENCE (tbsCertificate, tbsCertList), unread. */
  readonly tbsTlv: Tlv
  readonly sigAlg: { readonly algorithm: SignatureAlgorithm | undefined; readonly raw: Uint8Array }
  readonly signature: Uint8Array
}

/**
 * Read `SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING }` filling all of `der`
 * (RFC 5280 §4.1.1 and §5.1.1). Throws DerError for anything else.
 */
export function readSignedEnvelope(der: Uint8Array): SignedEnvelope {
  const outer = new DerReader(der)
  const signedTlv = outer.read(TAG.SEQUENCE)
  outer.end()
  const signed = DerReader.inside(der, signedTlv)
  const tbsTlv = signed.read(TAG.SEQUENCE)
  const sigAlg = readSignatureAlgorithm(der, signed.read(TAG.SEQUENCE))
  const signature = bitStringBytes(der, signed.read(TAG.BIT_STRING))
  signed.end()
  return { tbsTlv, sigAlg, signature }
}

/**
 * Read the signature AlgorithmIdentifier inside the tbs part and require it to be, byte for byte,
 * the outer one (RFC 5280 §4.1.1.2, §5.1.1.2). `part` names the tbs part in the error.
 */
export function readInnerSignatureAlgorithm(der: Uint8Array, tbs: DerReader, outer: Uint8Array, part: string): void {
  const inner = element(der, tbs.read(TAG.SEQUENCE))
  if (!equalBytes(inner, outer)) throw new DerError(`signature algorithm differs inside and outside ${part}`)
}
