import { randomBytes } from 'node:crypto'
import type { Clock } from '@peerguard/interface'
import {
  canonicalSerialHex,
  derInteger,
  floorSeconds,
  keyIdentifier,
  REASON_UNSPECIFIED,
  serialContentHex
} from './ca-encoding.js'
import { BACKDATE_MS, type IssuedCertificate, SERIAL_BYTES, type SignedCrl } from './ca-options.js'
import type { CaDatabase, CaRecord } from './ca-store.js'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import type { KeyType } from './fields.js'
import { type CaKeyEntry, webSigningAlgorithm, webSigningKey } from './keys.js'
import { pemEncode } from './pem.js'
import type { SubjectAltNames } from './subject-alt-names.js'
import { x509 } from './x509.js'

/**
 * @internal The signing half of a CertificateAuthority: its certificate, key and clock, and what
 * it signs inside a CA database transaction (certificates with fresh serials, CRLs), with the
 * records and results built from them. Holds no database of its own.
 */
export class CaSigner {
  readonly parsed: ParsedCertificate
  readonly keyEntry: CaKeyEntry
  readonly keyType: KeyType
  /** The CA's certificate and its issuers up to the root, nearest first (DER). */
  readonly chain: Uint8Array[]
  readonly clock: Clock
  /** The CA's subject key identifier (hex): every certificate and CRL it signs names it. */
  readonly skiHex: string
  #signingKey: Promise<import('node:crypto').webcrypto.CryptoKey> | undefined

  constructor(parsed: ParsedCertificate, keyEntry: CaKeyEntry, chain: Uint8Array[], clock: Clock) {
    this.parsed = parsed
    this.keyEntry = keyEntry
    this.keyType = keyEntry.type
    this.chain = chain
    this.clock = clock
    this.skiHex = parsed.subjectKeyId ?? keyIdentifier(parsed.publicKey.spki)
  }

  /** The WebCrypto signing key, imported once. */
  key(): Promise<import('node:crypto').webcrypto.CryptoKey> {
    this.#signingKey ??= webSigningKey(this.keyEntry)
    return this.#signingKey
  }

  #issuerName(): x509.Name {
    return new x509.Name(Uint8Array.from(this.parsed.subject.raw))
  }

  /** A serial no record in `db` has (128 random bits). */
  static #newSerial(db: CaDatabase): string {
    const taken = new Set(db.certificates.map((c) => c.serial))
    for (;;) {
      const serial = canonicalSerialHex(randomBytes(SERIAL_BYTES).toString('hex'))
      if (serial !== '00' && !taken.has(serial)) return serial
    }
  }

  /** Sign a certificate with a serial new to `db`; the caller records it. */
  async sign(params: {
    db: CaDatabase
    subject: x509.JsonName
    spki: Uint8Array
    days: number
    extensions: x509.Extension[]
  }): Promise<{ cert: ParsedCertificate; serial: string }> {
    const now = floorSeconds(this.clock.now())
    const notBefore = now - BACKDATE_MS
    // A certificate never outlives its issuer: the chain would be invalid past that date anyway.
    const notAfter = Math.min(now + params.days * 86_400_000, this.parsed.notAfter)
    const serial = CaSigner.#newSerial(params.db)
    const created = await x509.X509CertificateGenerator.create({
      serialNumber: serialContentHex(serial),
      subject: params.subject,
      issuer: this.#issuerName(),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: Uint8Array.from(params.spki),
      signingKey: await this.key(),
      signingAlgorithm: webSigningAlgorithm(this.keyType),
      extensions: [
        ...params.extensions,
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(params.spki)),
        new x509.AuthorityKeyIdentifierExtension(this.skiHex)
      ]
    })
    const cert = parseCertificate(new Uint8Array(created.rawData))
    if (cert.serial !== serial) throw new Error(`internal: serial ${cert.serial} != ${serial}`)
    return { cert, serial }
  }

  /** The CA database record of a certificate just signed. */
  record(cert: ParsedCertificate, kind: CaRecord['kind'], name: string, groups: string[], peerId?: string): CaRecord {
    return {
      serial: cert.serial,
      kind,
      name,
      groups,
      ...(peerId === undefined ? {} : { peerId }),
      notBefore: new Date(cert.notBefore).toISOString(),
      notAfter: new Date(cert.notAfter).toISOString(),
      issuedAt: new Date(this.clock.now()).toISOString(),
      certificate: Buffer.from(cert.der).toString('base64')
    }
  }

  /** What issuing a peer certificate returns: the leaf and the chain to present with it. */
  issued(cert: ParsedCertificate, peerId: string, name: string, groups: string[], sans: SubjectAltNames): IssuedCertificate {
    // Present the leaf and the CAs between it and the root (the root is the verifier's anchor).
    const presented = [cert.der, ...this.chain.slice(0, -1)]
    return {
      der: cert.der,
      pem: pemEncode(cert.der, 'CERTIFICATE'),
      serial: cert.serial,
      peerId,
      name,
      groups,
      dnsNames: [...sans.dnsNames],
      ipAddresses: [...sans.ipAddresses],
      notBefore: new Date(cert.notBefore),
      notAfter: new Date(cert.notAfter),
      chain: presented,
      chainPem: presented.map((d) => pemEncode(d, 'CERTIFICATE')).join('')
    }
  }

  /** The CRL distribution point extension: the URLs given, else the CA's setting; none when empty. */
  static distributionPoints(db: CaDatabase, urls: string[] | undefined): x509.Extension[] {
    const points = urls ?? db.crlDistributionPoints ?? []
    return points.length === 0 ? [] : [new x509.CRLDistributionPointsExtension(points, false)]
  }

  /** Sign a CRL of every certificate revoked in `db`, with the next CRL number (counted in `db`). */
  async signCrl(db: CaDatabase, days: number, signingKey: import('node:crypto').webcrypto.CryptoKey): Promise<SignedCrl> {
    db.crlNumber += 1
    const thisUpdate = floorSeconds(this.clock.now())
    const nextUpdate = thisUpdate + days * 86_400_000
    const revoked = db.certificates.filter((c) => c.revokedAt !== undefined)
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.#issuerName(),
      thisUpdate: new Date(thisUpdate),
      nextUpdate: new Date(nextUpdate),
      signingAlgorithm: webSigningAlgorithm(this.keyType),
      signingKey,
      entries: revoked.map((c) => {
        const reason = x509.X509CrlReason[(c.reason ?? 'unspecified') as keyof typeof x509.X509CrlReason]
        return {
          serialNumber: serialContentHex(c.serial),
          revocationDate: new Date(c.revokedAt as string),
          // x509 writes a reason only when non-zero and otherwise an empty crlEntryExtensions,
          // which Extensions ::= SEQUENCE SIZE (1..MAX) forbids: spell out unspecified (0) instead.
          ...(reason === 0 ? { extensions: [new x509.Extension('2.5.29.21', false, REASON_UNSPECIFIED)] } : { reason })
        }
      }),
      extensions: [
        // cRLNumber 2.5.29.20 (RFC 5280 §5.2.3), authorityKeyIdentifier (§5.2.1): both required.
        new x509.Extension('2.5.29.20', false, derInteger(db.crlNumber)),
        new x509.AuthorityKeyIdentifierExtension(this.skiHex)
      ]
    })
    const der = new Uint8Array(crl.rawData)
    return {
      der,
      pem: pemEncode(der, 'X509 CRL'),
      number: db.crlNumber,
      thisUpdate: new Date(thisUpdate),
      nextUpdate: new Date(nextUpdate),
      revoked: revoked.map((c) => c.serial)
    }
  }
}
