/**
 * @packageDocumentation
 * `@peerguard/pki/errors`: every error class of the pki, for `instanceof` checks. Each carries a
 * stable `code` (packages/interface/src/codes.ts); matching on `code` needs no import at all. The
 * main entry point exports only the bases the CLI maps to exit codes.
 */
export {
  CaBadPassphraseError,
  CaCertificateRevokedError,
  CaDatabaseCorruptError,
  CaExistsError,
  CaLockedError,
  CaNotFoundError,
  CaUnknownSerialError,
  CaWrongIssuerError,
  CertificateBadSignatureError,
  CertificateExpiredError,
  CertificateMalformedError,
  CertificateNotACaError,
  CertificateNotYetValidError,
  CertificatePathTooLongError,
  CertificatePeerMismatchError,
  CertificateRevokedError,
  CertificateUnknownCriticalExtensionError,
  CertificateUnknownIssuerError,
  CertificateVerificationError,
  CertificateWrongUsageError,
  CrlBadSignatureError,
  CrlFetchError,
  CrlMalformedError,
  CrlMissingError,
  CrlOlderError,
  CrlStaleError,
  CrlUnknownIssuerError,
  CsrBadSignatureError,
  CsrInvalidError,
  CsrMalformedError,
  PemMalformedError,
  Pkcs12UnsupportedKeyError,
  TrustStoreEmptyError,
  UnsupportedAlgorithmError
} from '../errors.js'
