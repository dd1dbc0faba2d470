import { randomBytes } from 'node:crypto'
import { peerIdFromPublicKey, peerIdFromString } from '@peerguard/identity'
import { assertBytes, assertInteger, type Clock, InvalidArgumentError, systemClock } from '@peerguard/interface'
import {
  canonicalSerialHex,
  derInteger,
  floorSeconds,
  keyIdentifier,
  normalizeSerial,
  REASON_UNSPECIFIED,
  serialContentHex
} from './ca-encoding.js'
import {
  BACKDATE_MS,
  type BeforeCommit,
  type CertificateAuthorityFromKeyOptions,
  type CreateCertificateAuthorityOptions,
  type CrlOptions,
  DEFAULT_CRL_DAYS,
  DEFAULT_INTERMEDIATE_DAYS,
  DEFAULT_PEER_DAYS,
  DEFAULT_ROOT_DAYS,
  type IssuedCertificate,
  type IssueIntermediateOptions,
  type IssuePeerOptions,
  SERIAL_BYTES,
  type SignCsrOptions,
  type SignedCrl
} from './ca-options.js'
import type { CaDatabase, CaRecord, CaStore, RevocationReason } from './ca-store.js'
import { memoryCaStore, REVOCATION_REASONS } from './ca-store.js'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { type ParsedCsr, parseCsr } from './csr.js'
import { acceptCsr } from './csr-acceptance.js'
import { checkCrlUrls } from './distribution-points.js'
import { CaCertificateRevokedError, CaUnknownSerialError, CaWrongIssuerError } from './errors.js'
import { DerReader } from './der.js'
import { ed25519Spki, type KeyType, readPublicKeyInfo } from './fields.js'
import {
  assertKeyEntry,
  assertKeyType,
  type CaKeyEntry,
  entrySpki,
  generateCaKey,
  webSigningAlgorithm,
  webSigningKey
} from './keys.js'
import { assertName, checkDays, checkGroups, PEER_DAYS_MAX } from './names.js'
import { peerUri, peerUrisOf } from './peer-uri.js'
import { pemEncode } from './pem.js'
import { publicKeyObject, verifySignature } from './signature.js'
import {
  checkDnsNames,
  checkIpAddresses,
  SAN_MAX,
  type SubjectAltNames,
  subjectAltNameExtension,
  subjectAltNamesOf
} from './subject-alt-names.js'
import { x509 } from './x509.js'

/**
 * A certificate authority: its certificate, its key, and a store of what it issued.
 * Make one with `createCertificateAuthority` (a new root) or `CertificateAuthority.fromKey`.
 */
export class CertificateAuthority {
  /** The CA certificate, DER. */
  readonly certificate: Uint8Array
  readonly certificatePem: string
  /** The CA key in the identity keystore's entry form (secret: keep it wiped and encrypted at rest). */
  readonly keyEntry: CaKeyEntry
  readonly keyType: KeyType
  /** The CA name (subject CN). */
  readonly name: string
  /** This CA's certificate and its issuers up to the root, nearest first (DER). */
  readonly chain: Uint8Array[]
  readonly parsed: ParsedCertificate
  readonly store: CaStore
  readonly #clock: Clock
  #signingKey: Promise<import('node:crypto').webcrypto.CryptoKey> | undefined
  readonly #skiHex: string

  private constructor(parsed: ParsedCertificate, keyEntry: CaKeyEntry, issuers: Uint8Array[], clock: Clock, store: CaStore) {
    this.parsed = parsed
    this.certificate = parsed.der
    this.certificatePem = pemEncode(parsed.der, 'CERTIFICATE')
    this.keyEntry = keyEntry
    this.keyType = keyEntry.type
    this.name = parsed.subject.commonName ?? parsed.subject.text
    this.chain = [parsed.der, ...issuers]
    this.store = store
    this.#clock = clock
    this.#skiHex = parsed.subjectKeyId ?? keyIdentifier(parsed.publicKey.spki)
  }

  /** Open a CA from its certificate and key; checks that they belong together and that it is a CA. */
  static fromKey(options: CertificateAuthorityFromKeyOptions): CertificateAuthority {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    assertKeyEntry('keyEntry', options.keyEntry)
    const parsed = parseCertificate(options.certificate)
    if (!parsed.ca) throw new InvalidArgumentError('certificate: not a CA certificate (basicConstraints cA is false)')
    if (!Buffer.from(parsed.publicKey.spki).equals(entrySpki(options.keyEntry))) {
      throw new InvalidArgumentError('keyEntry: the key does not belong to the CA certificate')
    }
    const issuers = options.issuers ?? []
    for (const [i, c] of issuers.entries()) assertBytes(`issuers[${i}]`, c)
    return new CertificateAuthority(
      parsed,
      options.keyEntry,
      issuers,
      options.clock ?? systemClock,
      options.store ?? memoryCaStore()
    )
  }

  /** @internal used by createCertificateAuthority and issueIntermediate. */
  static _create(
    parsed: ParsedCertificate,
    keyEntry: CaKeyEntry,
    issuers: Uint8Array[],
    clock: Clock,
    store: CaStore
  ): CertificateAuthority {
    return new CertificateAuthority(parsed, keyEntry, issuers, clock, store)
  }

  #key(): Promise<import('node:crypto').webcrypto.CryptoKey> {
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

  async #sign(params: {
    db: CaDatabase
    subject: x509.JsonName
    spki: Uint8Array
    days: number
    extensions: x509.Extension[]
  }): Promise<{ cert: ParsedCertificate; serial: string }> {
    const now = floorSeconds(this.#clock.now())
    const notBefore = now - BACKDATE_MS
    // A certificate never outlives its issuer: the chain would be invalid past that date anyway.
    const notAfter = Math.min(now + params.days * 86_400_000, this.parsed.notAfter)
    const serial = CertificateAuthority.#newSerial(params.db)
    const created = await x509.X509CertificateGenerator.create({
      serialNumber: serialContentHex(serial),
      subject: params.subject,
      issuer: this.#issuerName(),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: Uint8Array.from(params.spki),
      signingKey: await this.#key(),
      signingAlgorithm: webSigningAlgorithm(this.keyType),
      extensions: [
        ...params.extensions,
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(params.spki)),
        new x509.AuthorityKeyIdentifierExtension(this.#skiHex)
      ]
    })
    const cert = parseCertificate(new Uint8Array(created.rawData))
    if (cert.serial !== serial) throw new Error(`internal: serial ${cert.serial} != ${serial}`)
    return { cert, serial }
  }

  #record(cert: ParsedCertificate, kind: CaRecord['kind'], name: string, groups: string[], peerId?: string): CaRecord {
    return {
      serial: cert.serial,
      kind,
      name,
      groups,
      ...(peerId === undefined ? {} : { peerId }),
      notBefore: new Date(cert.notBefore).toISOString(),
      notAfter: new Date(cert.notAfter).toISOString(),
      issuedAt: new Date(this.#clock.now()).toISOString(),
      certificate: Buffer.from(cert.der).toString('base64')
    }
  }

  #issued(cert: ParsedCertificate, peerId: string, name: string, groups: string[], sans: SubjectAltNames): IssuedCertificate {
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
  static #distributionPoints(db: CaDatabase, urls: string[] | undefined): x509.Extension[] {
    const points = urls ?? db.crlDistributionPoints ?? []
    return points.length === 0 ? [] : [new x509.CRLDistributionPointsExtension(points, false)]
  }

  async #issueLeaf(params: {
    identityKey: Uint8Array
    name: string
    groups: string[]
    days: number
    spki: Uint8Array
    /** DNS names and IP addresses (checked) beside the peer URI. */
    sans: SubjectAltNames
    crlUrls?: string[] | undefined
    /** Serial of the certificate being renewed: refused when the CA has revoked it. */
    renewOf?: string | undefined
    beforeCommit?: BeforeCommit<IssuedCertificate> | undefined
  }): Promise<IssuedCertificate> {
    const peerId = peerIdFromPublicKey(params.identityKey).toString()
    const subject: x509.JsonName = [{ CN: [params.name] }, ...params.groups.map((g) => ({ OU: [g] }))]
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth], false),
      subjectAltNameExtension(peerUri(peerId), params.sans)
    ]
    return this.store.transaction(async (db) => {
      if (params.renewOf !== undefined) {
        const old = db.certificates.find((c) => c.serial === params.renewOf)
        if (old?.revokedAt !== undefined)
          throw new CaCertificateRevokedError(
            `certificate ${params.renewOf} (${old.name}) was revoked at ${old.revokedAt} (${old.reason ?? 'unspecified'}); refusing to renew it`,
            {
              details: {
                serial: params.renewOf,
                revokedAt: old.revokedAt,
                reason: old.reason ?? 'unspecified',
                hint: 'a revoked certificate stays revoked: issue a new one after review (`peerguard ca issue`)'
              }
            }
          )
      }
      extensions.push(...CertificateAuthority.#distributionPoints(db, params.crlUrls))
      const { cert } = await this.#sign({ db, subject, spki: params.spki, days: params.days, extensions })
      db.certificates.push(this.#record(cert, 'peer', params.name, params.groups, peerId))
      const issued = this.#issued(cert, peerId, params.name, params.groups, params.sans)
      await params.beforeCommit?.(issued)
      return issued
    })
  }

  /** The checked DNS names and IP addresses an operator asked for. */
  static #sans(options: { dnsNames?: unknown; ipAddresses?: unknown }): SubjectAltNames {
    const dnsNames = checkDnsNames('dnsNames', options.dnsNames)
    const ipAddresses = checkIpAddresses('ipAddresses', options.ipAddresses)
    if (dnsNames.length + ipAddresses.length > SAN_MAX)
      throw new InvalidArgumentError(
        `dnsNames, ipAddresses: at most ${SAN_MAX} together, got ${dnsNames.length + ipAddresses.length}`
      )
    return { dnsNames, ipAddresses }
  }

  /** Issue a peer certificate for an Ed25519 identity key. */
  async issuePeer(options: IssuePeerOptions): Promise<IssuedCertificate> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    assertBytes('publicKey', options.publicKey, 32)
    assertName('name', options.name)
    const groups = checkGroups(options.groups)
    const days = checkDays('days', options.days, DEFAULT_PEER_DAYS, PEER_DAYS_MAX)
    let spki = ed25519Spki(options.publicKey)
    if (options.subjectPublicKey !== undefined) {
      assertBytes('subjectPublicKey', options.subjectPublicKey)
      let keyType: KeyType | undefined
      try {
        keyType = readPublicKeyInfo(options.subjectPublicKey, new DerReader(options.subjectPublicKey).read()).keyType
      } catch (err) {
        throw new InvalidArgumentError('subjectPublicKey: not an SPKI DER public key', { cause: err })
      }
      if (keyType !== 'p256') throw new InvalidArgumentError('subjectPublicKey: expected a P-256 SPKI')
      spki = options.subjectPublicKey
    }
    if (options.beforeCommit !== undefined && typeof options.beforeCommit !== 'function')
      throw new InvalidArgumentError('beforeCommit: expected a function')
    const crlUrls =
      options.crlDistributionPoints === undefined
        ? undefined
        : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
    const sans = CertificateAuthority.#sans(options)
    return this.#issueLeaf({
      identityKey: options.publicKey,
      name: options.name,
      groups,
      days,
      spki,
      sans,
      crlUrls,
      beforeCommit: options.beforeCommit
    })
  }

  /** Issue an intermediate CA below this one (its key is generated here). */
  async issueIntermediate(options: IssueIntermediateOptions): Promise<CertificateAuthority> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    assertName('name', options.name)
    const keyType = options.keyType ?? this.keyType
    assertKeyType('keyType', keyType)
    const days = checkDays('days', options.days, DEFAULT_INTERMEDIATE_DAYS, 36500)
    const pathLen = options.pathLen ?? 0
    assertInteger('pathLen', pathLen, 0, 8)
    if (this.parsed.pathLen !== undefined && pathLen >= this.parsed.pathLen) {
      throw new InvalidArgumentError(`pathLen: this CA allows pathLen < ${this.parsed.pathLen} below it, got ${pathLen}`)
    }
    const crlUrls =
      options.crlDistributionPoints === undefined
        ? undefined
        : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
    const keyEntry = generateCaKey(keyType, options.name)
    const spki = entrySpki(keyEntry)
    const cert = await this.store.transaction(async (db) => {
      const { cert } = await this.#sign({
        db,
        subject: [{ CN: [options.name] }],
        spki,
        days,
        extensions: [
          new x509.BasicConstraintsExtension(true, pathLen, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          ...CertificateAuthority.#distributionPoints(db, crlUrls)
        ]
      })
      db.certificates.push(this.#record(cert, 'intermediate', options.name, []))
      return cert
    })
    return new CertificateAuthority(cert, keyEntry, this.chain, this.#clock, options.store ?? memoryCaStore())
  }

  /** Check that a certificate was issued by this CA (name, key identifier and signature). */
  assertIssued(cert: ParsedCertificate): void {
    if (cert === null || typeof cert !== 'object' || !(cert.der instanceof Uint8Array)) {
      throw new InvalidArgumentError('cert: expected a parsed certificate (parseCertificate)')
    }
    const sameName = Buffer.from(cert.issuer.raw).equals(this.parsed.subject.raw)
    const ok =
      sameName &&
      (cert.authorityKeyId === undefined || cert.authorityKeyId === this.#skiHex) &&
      verifySignature(
        cert.signatureAlgorithm,
        cert.tbs,
        cert.signature,
        publicKeyObject(this.parsed.publicKey),
        this.parsed.publicKey.keyType
      )
    if (!ok) throw new CaWrongIssuerError(`certificate ${cert.serial} (${cert.subject.text}) was not issued by ${this.name}`)
  }

  /** Issue a fresh certificate (new serial, new validity) for the same peer, name and groups. */
  async renew(
    certificate: Uint8Array | string,
    options: { days?: number; crlDistributionPoints?: string[]; beforeCommit?: BeforeCommit<IssuedCertificate> } = {}
  ): Promise<IssuedCertificate> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const old = parseCertificate(certificate)
    this.assertIssued(old)
    if (old.ca) throw new InvalidArgumentError('certificate: is a CA certificate; renew peers only')
    const days = checkDays('days', options.days, DEFAULT_PEER_DAYS, PEER_DAYS_MAX)
    const ids = peerUrisOf(old.uris)
    if (ids.length !== 1) throw new InvalidArgumentError('certificate: does not name exactly one peer')
    const identityKey = peerIdFromString(ids[0] as string).publicKey
    const name = old.subject.commonName
    if (name === undefined) throw new InvalidArgumentError('certificate: has no CN')
    const crlUrls =
      options.crlDistributionPoints === undefined
        ? undefined
        : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
    return this.#issueLeaf({
      identityKey,
      name,
      groups: [...old.subject.organizationalUnits],
      days,
      spki: old.publicKey.spki,
      // The renewed certificate names the same hosts as the old one.
      sans: subjectAltNamesOf(old.der),
      crlUrls,
      renewOf: old.serial,
      beforeCommit: options.beforeCommit
    })
  }

  /**
   * Revoke a certificate this CA issued, by serial or certificate. Revoking twice keeps the
   * first time and reason. Returns the record.
   */
  async revoke(serialOrCertificate: string | Uint8Array, reason: RevocationReason = 'unspecified'): Promise<CaRecord> {
    let serial: string
    if (
      serialOrCertificate instanceof Uint8Array ||
      (typeof serialOrCertificate === 'string' && serialOrCertificate.includes('-----BEGIN'))
    ) {
      const cert = parseCertificate(serialOrCertificate)
      this.assertIssued(cert)
      serial = cert.serial
    } else {
      serial = normalizeSerial(serialOrCertificate)
    }
    if (!(REVOCATION_REASONS as readonly string[]).includes(reason)) {
      throw new InvalidArgumentError(`reason: expected one of ${REVOCATION_REASONS.join(', ')}, got ${JSON.stringify(reason)}`)
    }
    return this.store.transaction((db) => {
      const index = db.certificates.findIndex((c) => c.serial === serial)
      const rec = db.certificates[index]
      if (rec === undefined) throw new CaUnknownSerialError(`${this.name} has issued no certificate with serial ${serial}`)
      if (rec.revokedAt !== undefined) return { ...rec }
      const revoked: CaRecord = { ...rec, revokedAt: new Date(floorSeconds(this.#clock.now())).toISOString(), reason }
      db.certificates[index] = revoked
      return { ...revoked }
    })
  }

  /** Sign a CRL of every certificate revoked so far, with the next CRL number. */
  async crl(options: CrlOptions = {}): Promise<SignedCrl> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const days = checkDays('days', options.days, DEFAULT_CRL_DAYS, 366)
    const signingKey = await this.#key()
    return this.store.transaction(async (db) => {
      db.crlNumber += 1
      const thisUpdate = floorSeconds(this.#clock.now())
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
          new x509.AuthorityKeyIdentifierExtension(this.#skiHex)
        ]
      })
      const der = new Uint8Array(crl.rawData)
      const signed: SignedCrl = {
        der,
        pem: pemEncode(der, 'X509 CRL'),
        number: db.crlNumber,
        thisUpdate: new Date(thisUpdate),
        nextUpdate: new Date(nextUpdate),
        revoked: revoked.map((c) => c.serial)
      }
      await options.beforeCommit?.(signed)
      return signed
    })
  }

  /**
   * Sign a peer's CSR after checking its self-signature, that its key is an Ed25519 identity (or
   * a P-256 key with a binding proof from the identity key of the peer it names),
   * that a peer ID it asks for is its own key's, and that the name matches what the operator
   * approved. Groups, DNS names and IP addresses come from the operator only, never from the CSR.
   */
  async signCsr(csr: Uint8Array | string, options: SignCsrOptions = {}): Promise<IssuedCertificate> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const parsedCsr: ParsedCsr = parseCsr(csr)
    const groups = checkGroups(options.groups)
    const days = checkDays('days', options.days, DEFAULT_PEER_DAYS, PEER_DAYS_MAX)
    if (options.name !== undefined) assertName('name', options.name)
    const crlUrls =
      options.crlDistributionPoints === undefined
        ? undefined
        : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
    const sans = CertificateAuthority.#sans(options)
    const { identityKey, name, spki } = acceptCsr(parsedCsr, options)
    return this.#issueLeaf({ identityKey, name, groups, days, spki, sans, crlUrls, beforeCommit: options.beforeCommit })
  }

  /**
   * Set the CRL distribution point URLs (http://) every later certificate of this CA carries
   * (recorded in the CA database; `[]` removes them). Certificates already issued keep theirs.
   */
  async setCrlDistributionPoints(urls: string[]): Promise<string[]> {
    const points = checkCrlUrls('urls', urls)
    return this.store.transaction((db) => {
      if (points.length === 0) delete db.crlDistributionPoints
      else db.crlDistributionPoints = points
      return [...points]
    })
  }

  /** The CRL distribution point URLs later certificates carry ([] when none is set). */
  async getCrlDistributionPoints(): Promise<string[]> {
    return [...((await this.store.read()).crlDistributionPoints ?? [])]
  }

  /** Everything this CA issued, with revocation state. */
  async list(): Promise<CaRecord[]> {
    return (await this.store.read()).certificates
  }
}

/** Create a new root CA with a fresh key. */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<CertificateAuthority> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  assertName('name', options.name)
  const keyType = options.keyType ?? 'ed25519'
  assertKeyType('keyType', keyType)
  const days = checkDays('days', options.days, DEFAULT_ROOT_DAYS, 36500)
  const pathLen = options.pathLen ?? 1
  assertInteger('pathLen', pathLen, 0, 8)
  const crlUrls =
    options.crlDistributionPoints === undefined ? undefined : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
  const clock = options.clock ?? systemClock
  const keyEntry = generateCaKey(keyType, options.name)
  const spki = entrySpki(keyEntry)
  const ski = keyIdentifier(spki)
  const now = floorSeconds(clock.now())
  const signingKey = await webSigningKey(keyEntry)
  const created = await x509.X509CertificateGenerator.create({
    serialNumber: serialContentHex(canonicalSerialHex(`01${randomBytes(SERIAL_BYTES).toString('hex')}`)),
    subject: [{ CN: [options.name] }],
    issuer: [{ CN: [options.name] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * 86_400_000),
    publicKey: Uint8Array.from(spki),
    signingKey,
    signingAlgorithm: webSigningAlgorithm(keyType),
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLen, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(ski)
    ]
  })
  const parsed = parseCertificate(new Uint8Array(created.rawData))
  const ca = CertificateAuthority._create(parsed, keyEntry, [], clock, options.store ?? memoryCaStore())
  if (crlUrls !== undefined && crlUrls.length > 0) await ca.setCrlDistributionPoints(crlUrls)
  return ca
}
