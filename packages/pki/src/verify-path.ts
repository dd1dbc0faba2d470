/**
 * Step 1 of chain verification: build the certification path from the leaf through the
 * intermediates the peer sent to a trusted root, checking each signature on the way.
 */
import type { ParsedCertificate } from './certificate.js'
import {
  CertificateBadSignatureError,
  CertificatePathTooLongError,
  CertificateUnknownIssuerError,
  UnsupportedAlgorithmError
} from './errors.js'
import { publicKeyObject, verifySignature } from './signature.js'
import { type TrustAnchor, type TrustStore, trustInternals } from './trust-store.js'
import { describe, label } from './verify-messages.js'

/** Longest chain accepted (leaf + intermediates), a guard against path-building loops. */
export const MAX_CHAIN_LENGTH = 8

/** A built path: leaf first, then the intermediates used, and the trusted root it ends at. */
export interface CertificationPath {
  /** Leaf, then intermediates (the root is not included). */
  path: ParsedCertificate[]
  anchor: TrustAnchor
}

/** AKI of the child and SKI of the candidate issuer must agree when both are present. */
function keyIdsMatch(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return child.authorityKeyId === undefined || issuer.subjectKeyId === undefined || child.authorityKeyId === issuer.subjectKeyId
}

/** The trusted root that signed `current`, if any; a root that matches by name but not by signature goes to `bad`. */
function anchorFor(trust: TrustStore, current: ParsedCertificate, bad: { cert?: ParsedCertificate }): TrustAnchor | undefined {
  for (const a of trustInternals(trust).anchorsNamed(current.issuer.raw)) {
    if (!keyIdsMatch(current, a.cert)) continue
    if (verifySignature(current.signatureAlgorithm, current.tbs, current.signature, a.key, a.cert.publicKey.keyType)) return a
    bad.cert = a.cert
  }
  return undefined
}

/** The unused certificate of the chain that signed `current`, if any (marked used). */
function issuerInChain(
  certs: readonly ParsedCertificate[],
  used: Set<number>,
  current: ParsedCertificate,
  bad: { cert?: ParsedCertificate }
): ParsedCertificate | undefined {
  for (let i = 1; i < certs.length; i++) {
    const c = certs[i] as ParsedCertificate
    if (used.has(i) || !Buffer.from(c.subject.raw).equals(current.issuer.raw) || !keyIdsMatch(current, c)) continue
    if (c.publicKey.keyType === undefined) continue
    if (
      verifySignature(
        current.signatureAlgorithm,
        current.tbs,
        current.signature,
        publicKeyObject(c.publicKey),
        c.publicKey.keyType
      )
    ) {
      used.add(i)
      return c
    }
    bad.cert ??= c
  }
  return undefined
}

/** Why `current` (at `index` in the path) has no issuer: its algorithm, a bad signature, or an unknown issuer. */
function noIssuerError(current: ParsedCertificate, index: number, badSignature: ParsedCertificate | undefined): Error {
  if (current.signatureAlgorithm === undefined) {
    return new UnsupportedAlgorithmError(
      `certificate ${label(current)}: signature algorithm is neither Ed25519 nor ECDSA with SHA-256`,
      { details: describe(current, index) }
    )
  }
  if (badSignature !== undefined) {
    return new CertificateBadSignatureError(
      `certificate ${label(current)}: signature does not verify with the key of its issuer ${label(badSignature)}`,
      { details: describe(current, index) }
    )
  }
  return new CertificateUnknownIssuerError(
    `certificate ${label(current)}: issuer (${current.issuer.text}) is not a trusted root or a CA in the chain`,
    { details: describe(current, index) }
  )
}

/**
 * Build the path leaf → intermediates from the chain → a trusted root. At each step a trusted root
 * is preferred to a certificate of the chain; each link's signature is verified. Throws
 * UnsupportedAlgorithmError, CertificateBadSignatureError, CertificateUnknownIssuerError or
 * CertificatePathTooLongError.
 */
export function buildCertificationPath(certs: readonly ParsedCertificate[], trust: TrustStore): CertificationPath {
  const path: ParsedCertificate[] = [certs[0] as ParsedCertificate]
  const used = new Set<number>([0])
  for (;;) {
    const current = path[path.length - 1] as ParsedCertificate
    const bad: { cert?: ParsedCertificate } = {}
    const anchor = anchorFor(trust, current, bad)
    if (anchor !== undefined) return { path, anchor }
    const next = issuerInChain(certs, used, current, bad)
    if (next === undefined) throw noIssuerError(current, path.length - 1, bad.cert)
    path.push(next)
    if (path.length > MAX_CHAIN_LENGTH)
      throw new CertificatePathTooLongError(`chain: more than ${MAX_CHAIN_LENGTH} certificates before a trusted root`)
  }
}
