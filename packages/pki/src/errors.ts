import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/**
 * One class per failed check. Each carries a stable code from `@peerguard/interface`'s table;
 * match on the class or on `code`, never on the message.
 */

/** Base of the verification failures: `peerguard cert verify` exits 1 for these. */
export class CertificateVerificationError extends PeerguardError {}

/** A certificate of the chain is past its notAfter (plus the allowed clock skew). */
export class CertificateExpiredError extends CertificateVerificationError {
  constructor(message = 'certificate has expired', options?: PeerguardErrorOptions) {
    super('cert-expired', message, options)
  }
}

/** A certificate of the chain is before its notBefore (minus the allowed clock skew). */
export class CertificateNotYetValidError extends CertificateVerificationError {
  constructor(message = 'certificate is not valid yet', options?: PeerguardErrorOptions) {
    super('cert-not-yet-valid', message, options)
  }
}

/** A signature does not verify with the issuer's key. */
export class CertificateBadSignatureError extends CertificateVerificationError {
  constructor(message = 'certificate signature does not verify', options?: PeerguardErrorOptions) {
    super('cert-bad-signature', message, options)
  }
}

/** No trusted root (or given intermediate) issued this certificate. */
export class CertificateUnknownIssuerError extends CertificateVerificationError {
  constructor(message = 'certificate issuer is not trusted', options?: PeerguardErrorOptions) {
    super('cert-unknown-issuer', message, options)
  }
}

/** An issuing certificate is not a CA. */
export class CertificateNotACaError extends CertificateVerificationError {
  constructor(message = 'issuing certificate is not a CA', options?: PeerguardErrorOptions) {
    super('cert-not-a-ca', message, options)
  }
}

/** The chain is longer than a pathLen constraint allows. */
export class CertificatePathTooLongError extends CertificateVerificationError {
  constructor(message = 'certificate path is longer than pathLen allows', options?: PeerguardErrorOptions) {
    super('cert-path-too-long', message, options)
  }
}

/** keyUsage / extKeyUsage does not allow the use. */
export class CertificateWrongUsageError extends CertificateVerificationError {
  constructor(message = 'certificate key usage does not allow this use', options?: PeerguardErrorOptions) {
    super('cert-wrong-usage', message, options)
  }
}

/** The certificate's serial is on its issuer's CRL. */
export class CertificateRevokedError extends CertificateVerificationError {
  constructor(message = 'certificate is revoked', options?: PeerguardErrorOptions) {
    super('cert-revoked', message, options)
  }
}

/** The certificate's key, its peer ID SAN and the expected peer ID do not agree. */
export class CertificatePeerMismatchError extends CertificateVerificationError {
  constructor(message = 'certificate is not bound to the expected peer', options?: PeerguardErrorOptions) {
    super('cert-peer-mismatch', message, options)
  }
}

/** A critical extension we do not implement: RFC 5280 §4.2 says reject. */
export class CertificateUnknownCriticalExtensionError extends CertificateVerificationError {
  constructor(message = 'certificate has an unknown critical extension', options?: PeerguardErrorOptions) {
    super('cert-unknown-critical-extension', message, options)
  }
}

/** The CRL is past its nextUpdate (plus skew): revocation status is unknown, so refuse. */
export class CrlStaleError extends CertificateVerificationError {
  constructor(message = 'CRL is stale', options?: PeerguardErrorOptions) {
    super('crl-stale', message, options)
  }
}

/** The CRL signature does not verify with its issuing CA's key. */
export class CrlBadSignatureError extends CertificateVerificationError {
  constructor(message = 'CRL signature does not verify', options?: PeerguardErrorOptions) {
    super('crl-bad-signature', message, options)
  }
}

/**
 * No CRL from a CA of the chain is loaded and the trust store requires one (the default): the
 * certificate's revocation status is unknown, so refuse. `details.issuer` names the CA.
 */
export class CrlMissingError extends CertificateVerificationError {
  constructor(message = 'no CRL from the issuing CA is loaded', options?: PeerguardErrorOptions) {
    super('crl-missing', message, options)
  }
}

/** `TrustStore.addCrl`: the CRL is not signed by a root of the store or an intermediate it has verified. */
export class CrlUnknownIssuerError extends PeerguardError {
  constructor(message = 'CRL issuer is not a CA the trust store knows', options?: PeerguardErrorOptions) {
    super('crl-unknown-issuer', message, options)
  }
}

/** A CRL older than the one in force for the same CA (lower CRL number or earlier thisUpdate). */
export class CrlOlderError extends PeerguardError {
  constructor(message = 'CRL is older than the one in force', options?: PeerguardErrorOptions) {
    super('crl-older', message, options)
  }
}

/** `fetchCrl`: HTTP failure, wrong status, too large or too slow. */
export class CrlFetchError extends PeerguardError {
  constructor(message = 'CRL could not be fetched', options?: PeerguardErrorOptions) {
    super('crl-fetch-failed', message, options)
  }
}

/** Not a well-formed certificate. */
export class CertificateMalformedError extends PeerguardError {
  constructor(message = 'malformed certificate', options?: PeerguardErrorOptions) {
    super('cert-malformed', message, options)
  }
}

/** A key or signature algorithm other than Ed25519 / ECDSA P-256 with SHA-256. */
export class UnsupportedAlgorithmError extends PeerguardError {
  constructor(message = 'unsupported key or signature algorithm', options?: PeerguardErrorOptions) {
    super('cert-unsupported-algorithm', message, options)
  }
}

/** Not a well-formed CRL. */
export class CrlMalformedError extends PeerguardError {
  constructor(message = 'malformed CRL', options?: PeerguardErrorOptions) {
    super('crl-malformed', message, options)
  }
}

/** Not a well-formed PKCS#10 request. */
export class CsrMalformedError extends PeerguardError {
  constructor(message = 'malformed certificate request', options?: PeerguardErrorOptions) {
    super('csr-malformed', message, options)
  }
}

/** The CSR's self-signature does not verify: whoever sent it may not hold the key. */
export class CsrBadSignatureError extends PeerguardError {
  constructor(message = 'certificate request signature does not verify', options?: PeerguardErrorOptions) {
    super('csr-bad-signature', message, options)
  }
}

/** The CSR asks for something the CA will not certify (name, peer ID, key type). */
export class CsrInvalidError extends PeerguardError {
  constructor(message = 'certificate request is not acceptable', options?: PeerguardErrorOptions) {
    super('csr-invalid', message, options)
  }
}

/** Text is not PEM with the expected label. */
export class PemMalformedError extends PeerguardError {
  constructor(message = 'malformed PEM', options?: PeerguardErrorOptions) {
    super('pem-malformed', message, options)
  }
}

/** The CA key passphrase is wrong. */
export class CaBadPassphraseError extends PeerguardError {
  constructor(message = 'wrong CA key passphrase', options?: PeerguardErrorOptions) {
    super('ca-bad-passphrase', message, options)
  }
}

/** The directory is not a CA directory. */
export class CaNotFoundError extends PeerguardError {
  constructor(message = 'not a peerguard CA directory', options?: PeerguardErrorOptions) {
    super('ca-not-found', message, options)
  }
}

/** `ca init` into a directory that already holds a CA. */
export class CaExistsError extends PeerguardError {
  constructor(message = 'the directory already holds a CA', options?: PeerguardErrorOptions) {
    super('ca-exists', message, options)
  }
}

/** The CA database file is damaged. */
export class CaDatabaseCorruptError extends PeerguardError {
  constructor(message = 'CA database is damaged', options?: PeerguardErrorOptions) {
    super('ca-database-corrupt', message, options)
  }
}

/** The CA database lock could not be taken in time. */
export class CaLockedError extends PeerguardError {
  constructor(message = 'CA database is locked by another process', options?: PeerguardErrorOptions) {
    super('ca-locked', message, options)
  }
}

/** No certificate with this serial was issued by the CA. */
export class CaUnknownSerialError extends PeerguardError {
  constructor(message = 'unknown serial number', options?: PeerguardErrorOptions) {
    super('ca-unknown-serial', message, options)
  }
}

/** The certificate was issued by another CA. */
export class CaWrongIssuerError extends PeerguardError {
  constructor(message = 'certificate was not issued by this CA', options?: PeerguardErrorOptions) {
    super('ca-wrong-issuer', message, options)
  }
}

/** `renew` of a certificate the CA has revoked (whatever the reason): issue a new one after review. */
export class CaCertificateRevokedError extends PeerguardError {
  constructor(message = 'the certificate is revoked; refusing to renew it', options?: PeerguardErrorOptions) {
    super('ca-certificate-revoked', message, options)
  }
}

/** A trust store needs at least one root. */
export class TrustStoreEmptyError extends PeerguardError {
  constructor(message = 'no trusted root certificate', options?: PeerguardErrorOptions) {
    super('trust-store-empty', message, options)
  }
}

/** The key cannot go into a PKCS#12 bundle for the target tool. */
export class Pkcs12UnsupportedKeyError extends PeerguardError {
  constructor(message = 'key type not supported in PKCS#12', options?: PeerguardErrorOptions) {
    super('pkcs12-unsupported-key', message, options)
  }
}
