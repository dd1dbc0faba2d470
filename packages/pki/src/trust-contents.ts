import { createHash, type KeyObject } from 'node:crypto'
import { InvalidArgumentError } from '@peerguard/interface'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { type ParsedCrl, parseCrl } from './crl.js'
import { CertificateMalformedError, TrustStoreEmptyError, UnsupportedAlgorithmError } from './errors.js'
import { looksLikePem, pemDecodeAll } from './pem.js'
import { publicKeyObject } from './signature.js'

/** What a trust store holds (roots and CRLs), parsed and checked from DER or PEM input. */

/** SHA-256 of DER, hex. */
export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}

/** A trusted root: its certificate and its node:crypto key, ready to check signatures. */
export interface TrustAnchor {
  readonly cert: ParsedCertificate
  readonly key: KeyObject
  /** SHA-256 of the DER, hex. */
  readonly sha256: string
}

/** A CRL as DER or PEM, optionally with where it came from (shown by `crlStatus`). */
export type CrlInput = Uint8Array | string | { crl: Uint8Array | string; source: string }

/** What a store holds; swapped as a whole (internal: not exported from the index). */
export interface Contents {
  anchors: TrustAnchor[]
  crls: ParsedCrl[]
  sources: Map<ParsedCrl, string>
}

/** @internal */
export function build(roots: Array<Uint8Array | string>, crls: CrlInput[]): Contents {
  return { anchors: buildAnchors(roots), ...buildCrls(crls) }
}

/** @internal */
export function buildAnchors(roots: Array<Uint8Array | string>): TrustAnchor[] {
  if (!Array.isArray(roots)) throw new InvalidArgumentError('roots: expected an array of DER or PEM certificates')
  const anchors: TrustAnchor[] = []
  const seen = new Set<string>()
  for (const [i, r] of roots.entries()) {
    let ders: unknown[]
    try {
      ders =
        typeof r === 'string'
          ? pemDecodeAll(r, 'CERTIFICATE')
          : r instanceof Uint8Array && r[0] !== 0x30 && looksLikePem(r)
            ? pemDecodeAll(Buffer.from(r).toString('latin1'), 'CERTIFICATE')
            : [r]
    } catch (err) {
      throw new CertificateMalformedError(`roots[${i}]: ${(err as Error).message}`, { cause: err })
    }
    for (const der of ders) {
      if (!(der instanceof Uint8Array)) throw new InvalidArgumentError(`roots[${i}]: expected Uint8Array (DER) or string (PEM)`)
      const cert = parseCertificate(der)
      if (cert.publicKey.keyType === undefined)
        throw new UnsupportedAlgorithmError(`roots[${i}] (${cert.subject.text}): key is neither Ed25519 nor P-256`)
      const sha256 = sha256Hex(cert.der)
      if (seen.has(sha256)) continue
      seen.add(sha256)
      anchors.push({ cert, key: publicKeyObject(cert.publicKey), sha256 })
    }
  }
  if (anchors.length === 0) throw new TrustStoreEmptyError('trust store: no root certificate given')
  return anchors
}

/** @internal */
export function buildCrls(crls: CrlInput[]): { crls: ParsedCrl[]; sources: Map<ParsedCrl, string> } {
  if (!Array.isArray(crls)) throw new InvalidArgumentError('crls: expected an array of DER or PEM CRLs')
  const parsed: ParsedCrl[] = []
  const sources = new Map<ParsedCrl, string>()
  for (const [i, c] of crls.entries()) {
    if (c !== null && typeof c === 'object' && !(c instanceof Uint8Array)) {
      if (typeof c.source !== 'string') throw new InvalidArgumentError(`crls[${i}].source: expected string`)
      const crl = parseCrl(c.crl)
      parsed.push(crl)
      sources.set(crl, c.source)
    } else {
      parsed.push(parseCrl(c))
    }
  }
  return { crls: parsed, sources }
}
