import { peerIdFromPublicKey, peerIdFromString } from '@peerguard/identity'
import { assertBytes, assertInteger, type Clock, InvalidArgumentError, systemClock } from '@peerguard/interface'
import { floorSeconds, normalizeSerial } from './ca-encoding.js'
import {
  type BeforeCommit,
  type CertificateAuthorityFromKeyOptions,
  type CrlOptions,
  DEFAULT_CRL_DAYS,
  DEFAULT_INTERMEDIATE_DAYS,
  DEFAULT_PEER_DAYS,
  type IssuedCertificate,
  type IssueIntermediateOptions,
  type IssuePeerOptions,
  type SignCsrOptions,
  type SignedCrl
} from './ca-options.js'
import { assertRenewable, checkCrlOption, checkSans, checkSubjectPublicKey } from './ca-requests.js'
import { CaSigner } from './ca-signer.js'
import type { CaRecord, CaStore, RevocationReason } from './ca-store.js'
import { memoryCaStore, REVOCATION_REASONS } from './ca-store.js'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { type ParsedCsr, parseCsr } from './csr.js'
import { acceptCsr } from './csr-acceptance.js'
import { checkCrlUrls } from './distribution-points.js'
import { CaUnknownSerialError, CaWrongIssuerError } from './errors.js'
import { ed25519Spki, type KeyType } from './fields.js'
import { assertKeyEntry, assertKeyType, type CaKeyEntry, entrySpki, generateCaKey } from './keys.js'
import { assertName, checkDays, checkGroups, PEER_DAYS_MAX } from './names.js'
import { peerUri, peerUrisOf } from './peer-uri.js'
import { pemEncode } from './pem.js'
import { publicKeyObject, verifySignature } from './signature.js'
import { type SubjectAltNames, subjectAltNameExtension, subjectAltNamesOf } from './subject-alt-names.js'
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
  readonly #signer: CaSigner

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
    this.#signer = new CaSigner(parsed, keyEntry, this.chain, clock)
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
      if (params.renewOf !== undefined)
        assertRenewable(
          params.renewOf,
          db.certificates.find((c) => c.serial === params.renewOf)
        )
      extensions.push(...CaSigner.distributionPoints(db, params.crlUrls))
      const { cert } = await this.#signer.sign({ db, subject, spki: params.spki, days: params.days, extensions })
      db.certificates.push(this.#signer.record(cert, 'peer', params.name, params.groups, peerId))
      const issued = this.#signer.issued(cert, peerId, params.name, params.groups, params.sans)
      await params.beforeCommit?.(issued)
      return issued
    })
  }

  /** Issue a peer certificate for an Ed25519 identity key. */
  async issuePeer(options: IssuePeerOptions): Promise<IssuedCertificate> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    assertBytes('publicKey', options.publicKey, 32)
    assertName('name', options.name)
    const groups = checkGroups(options.groups)
    const days = checkDays('days', options.days, DEFAULT_PEER_DAYS, PEER_DAYS_MAX)
    let spki = ed25519Spki(options.publicKey)
    if (options.subjectPublicKey !== undefined) spki = checkSubjectPublicKey(options.subjectPublicKey)
    if (options.beforeCommit !== undefined && typeof options.beforeCommit !== 'function')
      throw new InvalidArgumentError('beforeCommit: expected a function')
    const crlUrls = checkCrlOption(options.crlDistributionPoints)
    const sans = checkSans(options)
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
    const crlUrls = checkCrlOption(options.crlDistributionPoints)
    const keyEntry = generateCaKey(keyType, options.name)
    const spki = entrySpki(keyEntry)
    const cert = await this.store.transaction(async (db) => {
      const { cert } = await this.#signer.sign({
        db,
        subject: [{ CN: [options.name] }],
        spki,
        days,
        extensions: [
          new x509.BasicConstraintsExtension(true, pathLen, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          ...CaSigner.distributionPoints(db, crlUrls)
        ]
      })
      db.certificates.push(this.#signer.record(cert, 'intermediate', options.name, []))
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
      (cert.authorityKeyId === undefined || cert.authorityKeyId === this.#signer.skiHex) &&
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
    const crlUrls = checkCrlOption(options.crlDistributionPoints)
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
    const signingKey = await this.#signer.key()
    return this.store.transaction(async (db) => {
      const signed = await this.#signer.signCrl(db, days, signingKey)
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
    const crlUrls = checkCrlOption(options.crlDistributionPoints)
    const sans = checkSans(options)
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
