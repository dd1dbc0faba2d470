/**
 * @packageDocumentation
 * A small LAN certificate authority (RFC 5280 profile): root and intermediate CAs with Ed25519
 * or ECDSA P-256 keys, peer certificates bound to Ed25519 identities (a `peerguard://peer/<ID>`
 * URI SAN), CSRs, revocation and CRLs, and full path validation with one error class per failed
 * check, on node:crypto's native signature path.
 *
 * @example
 * ```ts
 * import { createCertificateAuthority, createTrustStore, verifyPeerChain } from '@peerguard/pki'
 * const ca = await createCertificateAuthority({ name: 'Home LAN CA' })
 * const cert = await ca.issuePeer({ publicKey: alice.publicKey, name: 'alice', groups: ['family'] })
 * const peer = await verifyPeerChain(cert.chain, { trust: createTrustStore({ roots: [ca.certificate] }) })
 * peer.peerId // 'D6MKF66-…', peer.groups // ['family']
 * ```
 */
export { CertificateAuthority } from './certificate-authority.js'
export { createCertificateAuthority } from './create-certificate-authority.js'
export { normalizeSerial } from './ca-encoding.js'
export type {
  BeforeCommit,
  CertificateAuthorityFromKeyOptions,
  CreateCertificateAuthorityOptions,
  CrlOptions,
  IssuedCertificate,
  IssueIntermediateOptions,
  IssuePeerOptions,
  SignCsrOptions,
  SignedCrl
} from './ca-options.js'
export { CA_FILES, initCaDirectory, initIntermediateDirectory, openCaDirectory, readCaDirectory } from './ca-directory.js'
export type { CaDirectoryKeyOptions, InitCaDirectoryOptions, OpenCaDirectoryOptions } from './ca-directory.js'
export { fileCaStore, memoryCaStore, parseDatabase, REVOCATION_REASONS } from './ca-store.js'
export type { CaDatabase, CaRecord, CaStore, FileCaStoreOptions, RevocationReason } from './ca-store.js'
export { createTrustStore, TrustStore } from './trust-store.js'
export { loadTrustStore } from './trust-directory.js'
export type { CrlInput, LoadTrustStoreOptions, TrustReloadResult, TrustStoreOptions } from './trust-store.js'
export { compareCrls, sameCrlIssuer } from './crl-set.js'
export type { CrlStatus, CrlWarning, CrlWarningOptions } from './crl-set.js'
export { fetchCrl } from './crl-fetch.js'
export type { FetchCrlOptions } from './crl-fetch.js'
export { verifyPeerChain, verifyPeerChainSync } from './verify.js'
export { checkCredentials, checkKeyPair, normalizePeerId } from './credentials.js'
export type { CheckedCredentials, CredentialRules, Credentials } from './credentials.js'
export type { Purpose, VerifiedPeer, VerifyPeerChainOptions } from './verify.js'
export { crlDistributionPoints, parseCertificate } from './certificate.js'
export type { ParsedCertificate } from './certificate.js'
export { parseCrl } from './crl.js'
export type { ParsedCrl, RevokedEntry } from './crl.js'
export { createCsr, parseCsr, verifyBinding } from './csr.js'
export type { CreateCsrOptions, CreatedCsr, ParsedCsr } from './csr.js'
export { generateCaKey } from './keys.js'
export type { CaKeyEntry } from './keys.js'
export type { KeyType, ParsedName, ParsedPublicKey } from './fields.js'
export { exportPkcs12 } from './pkcs12.js'
export type { ExportPkcs12Options, Pkcs12Target } from './pkcs12.js'
export { identityKeyPem, p256KeyPem, peerChainOf, tlsCredentials, verifyTlsPeer } from './tls.js'
export type { TlsCredentialsOptions } from './tls.js'
export { pemDecode, pemDecodeAll, pemEncode } from './pem.js'
export type { PemLabel } from './pem.js'
export { PEER_URI_PREFIX, peerUri } from './peer-uri.js'
export { checkDnsNames, checkIpAddresses, SAN_MAX, subjectAltNamesOf } from './subject-alt-names.js'
export type { SubjectAltNames } from './subject-alt-names.js'
// Every error class (by name, for `instanceof`) is at `@peerguard/pki/errors`; the codes are the contract.
export { CertificateMalformedError, CertificateVerificationError, CrlMalformedError } from './errors.js'
