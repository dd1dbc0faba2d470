import { contents, DerError, DerReader, element, oidKey, oidToString, readString, TAG, type Tlv } from './der.js'

/**
 * Pieces shared by certificates, CRLs and CSRs (RFC 5280 §4.1.1.2, §4.1.2.4, §4.1.2.7):
 * AlgorithmIdentifier, Name and SubjectPublicKeyInfo, for the two algorithms peerguard uses.
 */

/** OID contents in hex (X.690 §8.19), the form `oidKey` returns. */
export const OID = {
  /** id-Ed25519, RFC 8410 §3. */
  ed25519: '2b6570',
  /** id-ecPublicKey, RFC 5480 §2.1.1. */
  ecPublicKey: '2a8648ce3d0201',
  /** secp256r1 / prime256v1, RFC 5480 §2.1.1.1. */
  p256: '2a8648ce3d030107',
  /** ecdsa-with-SHA256, RFC 5758 §3.2. */
  ecdsaWithSha256: '2a8648ce3d040302',
  /** X.520 attribute types: commonName 2.5.4.3, organizationName 2.5.4.10, organizationalUnitName 2.5.4.11. */
  commonName: '550403',
  organization: '55040a',
  organizationalUnit: '55040b',
  /** RFC 5280 §4.2.1 certificate extensions (2.5.29.x). */
  subjectKeyIdentifier: '551d0e',
  keyUsage: '551d0f',
  subjectAltName: '551d11',
  basicConstraints: '551d13',
  crlNumber: '551d14',
  crlReason: '551d15',
  authorityKeyIdentifier: '551d23',
  extKeyUsage: '551d25',
  /** cRLDistributionPoints 2.5.29.31 (RFC 5280 §4.2.1.13). */
  crlDistributionPoints: '551d1f',
  /** nameConstraints 2.5.29.30 (RFC 5280 §4.2.1.10): not implemented, so refused whatever its criticality. */
  nameConstraints: '551d1e',
  /** deltaCRLIndicator 2.5.29.27 and issuingDistributionPoint 2.5.29.28 (RFC 5280 §5.2.4, §5.2.5): CRL scope. */
  deltaCrlIndicator: '551d1b',
  issuingDistributionPoint: '551d1c',
  /** PKCS#9 extensionRequest 1.2.840.113549.1.9.14 (RFC 2985 §5.4.2), for CSRs. */
  extensionRequest: '2a864886f70d01090e'
} as const

/** Dotted extended key usage OIDs (RFC 5280 §4.2.1.12). */
export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  any: '2.5.29.37.0'
} as const

/** keyUsage named bits as flags (RFC 5280 §4.2.1.3): bit n → 1 << n. */
export const KEY_USAGE = {
  digitalSignature: 1 << 0,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6
} as const

export type SignatureAlgorithm = 'ed25519' | 'ecdsa-sha256'
export type KeyType = 'ed25519' | 'p256'

const ATTRIBUTE_NAMES: Record<string, string> = {
  '550403': 'CN',
  '550406': 'C',
  '550407': 'L',
  '550408': 'ST',
  '55040a': 'O',
  '55040b': 'OU'
}

/** Read an AlgorithmIdentifier and return the signature algorithm it names. */
export function readSignatureAlgorithm(
  bytes: Uint8Array,
  tlv: Tlv
): { algorithm: SignatureAlgorithm | undefined; raw: Uint8Array } {
  const r = DerReader.inside(bytes, tlv)
  const oid = oidKey(bytes, r.read(TAG.OID))
  // RFC 8410 §3 and RFC 5758 §3.2: parameters MUST be absent for both.
  const hasParams = !r.done
  if (hasParams) r.read()
  r.end()
  const raw = element(bytes, tlv)
  if (hasParams) return { algorithm: undefined, raw }
  if (oid === OID.ed25519) return { algorithm: 'ed25519', raw }
  if (oid === OID.ecdsaWithSha256) return { algorithm: 'ecdsa-sha256', raw }
  return { algorithm: undefined, raw }
}

/** A parsed Name: its exact DER (compared byte for byte), display text, CN and OU values. */
export interface ParsedName {
  readonly raw: Uint8Array
  readonly text: string
  readonly commonName: string | undefined
  readonly organizationalUnits: string[]
}

export function readName(bytes: Uint8Array, tlv: Tlv): ParsedName {
  if (tlv.tag !== TAG.SEQUENCE) throw new DerError('Name: expected SEQUENCE')
  const rdns = DerReader.inside(bytes, tlv)
  const parts: string[] = []
  const organizationalUnits: string[] = []
  let commonName: string | undefined
  while (!rdns.done) {
    const set = DerReader.inside(bytes, rdns.read(TAG.SET))
    if (set.done) throw new DerError('Name: empty RDN')
    while (!set.done) {
      const atv = DerReader.inside(bytes, set.read(TAG.SEQUENCE))
      const typeTlv = atv.read(TAG.OID)
      const type = oidKey(bytes, typeTlv)
      const value = readString(bytes, atv.read())
      atv.end()
      if (type === OID.commonName) {
        if (commonName !== undefined) throw new DerError('Name: more than one CN')
        commonName = value
      } else if (type === OID.organizationalUnit) {
        organizationalUnits.push(value)
      }
      const label = ATTRIBUTE_NAMES[type] ?? oidToString(contents(bytes, typeTlv))
      parts.push(`${label}=${value.replace(/([\\,+"<>;=])/g, '\\$1')}`)
    }
  }
  return { raw: element(bytes, tlv), text: parts.join(', '), commonName, organizationalUnits }
}

/** A parsed SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). */
export interface ParsedPublicKey {
  /** The whole SPKI DER: what node's createPublicKey takes. */
  readonly spki: Uint8Array
  /** ed25519, p256, or undefined for anything else. */
  readonly keyType: KeyType | undefined
  /** The BIT STRING contents: the raw 32-byte Ed25519 key or the uncompressed EC point. */
  readonly raw: Uint8Array
}

export function readPublicKeyInfo(bytes: Uint8Array, tlv: Tlv): ParsedPublicKey {
  if (tlv.tag !== TAG.SEQUENCE) throw new DerError('SubjectPublicKeyInfo: expected SEQUENCE')
  const r = DerReader.inside(bytes, tlv)
  const alg = DerReader.inside(bytes, r.read(TAG.SEQUENCE))
  const oid = oidKey(bytes, alg.read(TAG.OID))
  let keyType: KeyType | undefined
  if (oid === OID.ed25519) {
    alg.end()
    keyType = 'ed25519'
  } else if (oid === OID.ecPublicKey) {
    const param = alg.read()
    alg.end()
    if (param.tag === TAG.OID && oidKey(bytes, param) === OID.p256) keyType = 'p256'
  } else {
    if (!alg.done) alg.read()
    alg.end()
  }
  const keyTlv = r.read(TAG.BIT_STRING)
  r.end()
  if (bytes[keyTlv.contentStart] !== 0) throw new DerError('public key BIT STRING with unused bits')
  const raw = bytes.subarray(keyTlv.contentStart + 1, keyTlv.end)
  if (keyType === 'ed25519' && raw.length !== 32) throw new DerError('Ed25519 public key must be 32 bytes')
  if (keyType === 'p256' && (raw.length !== 65 || raw[0] !== 0x04))
    throw new DerError('P-256 public key must be an uncompressed point')
  return { spki: element(bytes, tlv), keyType, raw }
}

/** SPKI DER for a raw Ed25519 public key (RFC 8410 §4). */
export function ed25519Spki(publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(44)
  out.set([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00], 0)
  out.set(publicKey, 12)
  return out
}
