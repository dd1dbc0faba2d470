import type { Clock } from '@peerguard/interface'
import type { CaStore } from './ca-store.js'
import type { KeyType } from './fields.js'
import type { CaKeyEntry } from './keys.js'

/** Default lifetimes in days. */
export const DEFAULT_ROOT_DAYS = 3650
export const DEFAULT_INTERMEDIATE_DAYS = 1825
export const DEFAULT_PEER_DAYS = 30
export const DEFAULT_CRL_DAYS = 7
/** notBefore is set this far in the past so a peer whose clock is a little behind accepts a fresh certificate. */
export const BACKDATE_MS = 60_000
/** Random serial length: 128 bits (CA/B Forum asks ≥ 64; RFC 5280 §4.1.2.2 allows ≤ 20 octets). */
export const SERIAL_BYTES = 16

export interface CreateCertificateAuthorityOptions {
  /** The CA's name (subject CN). */
  name: string
  /** Key type of the CA. Default 'ed25519'; 'p256' for tools without Ed25519. */
  keyType?: KeyType
  /** Lifetime in days. Default 3650. */
  days?: number
  /** Time source. Default the system clock. */
  clock?: Clock
  /** basicConstraints pathLenConstraint: how many intermediate CAs may follow. Default 1. */
  pathLen?: number
  /** Where issued and revoked certificates are recorded. Default: in memory. */
  store?: CaStore
  /**
   * CRL distribution point URLs (http://, where `peerguard ca publish` serves this CA's CRL) that
   * every certificate the CA issues carries; kept in the CA database. Default none.
   */
  crlDistributionPoints?: string[]
}

/**
 * Runs inside the CA database transaction, after signing and before the record is committed:
 * when it throws (say, the output file cannot be written), nothing is recorded.
 */
export type BeforeCommit<T> = (result: T) => Promise<void> | void

export interface IssuePeerOptions {
  /** The peer's Ed25519 identity public key (raw 32 bytes); the certificate names its peer ID. */
  publicKey: Uint8Array
  /** Peer name (subject CN). */
  name: string
  /** Groups (one subject OU each) the policy can match. Default none. */
  groups?: string[]
  /** Lifetime in days. Default 30. */
  days?: number
  /**
   * Certify this P-256 key (SPKI DER) instead of the Ed25519 key, for tools without Ed25519.
   * The peer ID still names `publicKey`; the binding is then the CA's word, not the key's.
   * Default: certify `publicKey` itself.
   */
  subjectPublicKey?: Uint8Array
  /** DNS names (dNSName SANs) standard TLS clients check the host against. Default none. */
  dnsNames?: string[]
  /** IP addresses (iPAddress SANs) standard TLS clients check the host against. Default none. */
  ipAddresses?: string[]
  /** CRL distribution point URLs for this certificate (`[]`: none). Default: the CA's setting. */
  crlDistributionPoints?: string[]
  /** See BeforeCommit. Default none. */
  beforeCommit?: BeforeCommit<IssuedCertificate>
}

export interface IssuedCertificate {
  /** Leaf certificate DER. */
  der: Uint8Array
  pem: string
  /** Serial number: lowercase hex. */
  serial: string
  /** The peer ID the certificate names (text form). */
  peerId: string
  name: string
  groups: string[]
  /** dNSName SANs (for standard TLS clients' hostname check). */
  dnsNames: string[]
  /** iPAddress SANs (for standard TLS clients' hostname check). */
  ipAddresses: string[]
  notBefore: Date
  notAfter: Date
  /** What to present: the leaf and any intermediate CAs (not the root), leaf first. */
  chain: Uint8Array[]
  /** `chain` as concatenated PEM. */
  chainPem: string
}

export interface IssueIntermediateOptions {
  name: string
  /** Default: the issuing CA's key type. */
  keyType?: KeyType
  /** Default 1825. */
  days?: number
  /** Default 0: the intermediate issues peers only. */
  pathLen?: number
  /** Where the intermediate records what it issues. Default: in memory. */
  store?: CaStore
  /** CRL distribution points of the intermediate's certificate (the issuing CA's CRL). Default: the issuing CA's setting. */
  crlDistributionPoints?: string[]
}

export interface CrlOptions {
  /** nextUpdate = thisUpdate + days. Default 7. */
  days?: number
  /** See BeforeCommit. Default none. */
  beforeCommit?: BeforeCommit<SignedCrl>
}

export interface SignedCrl {
  der: Uint8Array
  pem: string
  /** The CRL number (RFC 5280 §5.2.3). */
  number: number
  thisUpdate: Date
  nextUpdate: Date
  /** Serials on the list. */
  revoked: string[]
}

export interface SignCsrOptions {
  /** The name the CA operator approves; the CSR's CN must match it when both are present. */
  name?: string
  groups?: string[]
  days?: number
  /** The peer ID the operator expects; refuse a CSR for any other key. */
  peerId?: string
  /** DNS names to certify (from the operator; SANs a CSR asks for are ignored). Default none. */
  dnsNames?: string[]
  /** IP addresses to certify (from the operator; SANs a CSR asks for are ignored). Default none. */
  ipAddresses?: string[]
  /** CRL distribution point URLs for this certificate (`[]`: none). Default: the CA's setting. */
  crlDistributionPoints?: string[]
  /** See BeforeCommit. Default none. */
  beforeCommit?: BeforeCommit<IssuedCertificate>
}

export interface CertificateAuthorityFromKeyOptions {
  /** The CA certificate (DER or PEM). */
  certificate: Uint8Array | string
  /** The CA key, as loaded from its keystore. */
  keyEntry: CaKeyEntry
  /** Issuer certificates above this CA, up to the root (DER), nearest first. Default none (a root). */
  issuers?: Uint8Array[]
  clock?: Clock
  store?: CaStore
}
