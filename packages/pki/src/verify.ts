import { createHash } from 'node:crypto'
import { peerIdFromString } from '@peerguard/identity'
import { type Clock, InvalidArgumentError } from '@peerguard/interface'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import {
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
  CertificateWrongUsageError,
  CrlMissingError,
  UnsupportedAlgorithmError
} from './errors.js'
import { EKU, KEY_USAGE } from './fields.js'
import { currentCrl } from './revocation.js'
import { describe, iso, label } from './verify-messages.js'
import { peerUrisOf } from './peer-uri.js'
import { publicKeyObject, verifySignature } from './signature.js'
import { type TrustAnchor, TrustStore, VERIFY_CACHE_SIZE } from './trust-store.js'

/** A peer whose certificate chain verified. */
export interface VerifiedPeer {
  /** Peer ID (text form) named by the certificate and, for Ed25519 certificates, derived from its key. */
  peerId: string
  /** The peer's Ed25519 identity public key (raw 32 bytes). */
  publicKey: Uint8Array
  /** Subject CN ('' when absent). */
  name: string
  /** Subject OU values. */
  groups: string[]
  /** The leaf certificate DER. */
  certificate: Uint8Array
  /** The verified path, leaf first, ending with the trusted root (DER). */
  chain: Uint8Array[]
  notAfter: Date
  /** Leaf serial number, lowercase hex. */
  serial: string
}

export type Purpose = 'clientAuth' | 'serverAuth'

export interface VerifyPeerChainOptions {
  trust: TrustStore
  /** Required extended key usage. Default: clientAuth or serverAuth. */
  purpose?: Purpose
  /** Refuse unless the certificate names this peer ID. Default: any peer. */
  expectedPeerId?: string
  /** Time source. Default: the trust store's clock. */
  clock?: Clock
  /** Use and fill the trust store's cache of verified chains. Default true. */
  cache?: boolean
}

/** Longest chain accepted (leaf + intermediates), a guard against path-building loops. */
export const MAX_CHAIN_LENGTH = 8
/** Largest certificate accepted, bytes: peerguard certificates are under 1 KiB; this bounds the work per chain. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024

/** Cache key: SHA-256 over the chain with length prefixes, plus the purpose. */
function chainKey(chain: readonly Uint8Array[], purpose: Purpose | undefined): string {
  const h = createHash('sha256')
  const len = Buffer.alloc(4)
  for (const der of chain) {
    len.writeUInt32BE(der.length)
    h.update(len)
    h.update(der)
  }
  h.update(purpose ?? '*')
  return h.digest('base64')
}

function checkArgs(chain: unknown, options: unknown): asserts options is VerifyPeerChainOptions {
  if (!Array.isArray(chain)) throw new InvalidArgumentError(`chain: expected an array of DER certificates, got ${typeof chain}`)
  if (chain.length === 0) throw new InvalidArgumentError('chain: expected at least the leaf certificate')
  if (chain.length > MAX_CHAIN_LENGTH + 1)
    throw new InvalidArgumentError(`chain: at most ${MAX_CHAIN_LENGTH + 1} certificates, got ${chain.length}`)
  for (const [i, c] of chain.entries()) {
    if (!(c instanceof Uint8Array))
      throw new InvalidArgumentError(`chain[${i}]: expected Uint8Array (DER), got ${c === null ? 'null' : typeof c}`)
    if (c.length > MAX_CERTIFICATE_BYTES) {
      throw new CertificateMalformedError(`chain[${i}]: ${c.length} bytes is larger than ${MAX_CERTIFICATE_BYTES}`)
    }
  }
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected { trust }')
  const o = options as Record<string, unknown>
  if (!(o.trust instanceof TrustStore))
    throw new InvalidArgumentError('options.trust: expected a TrustStore (createTrustStore or loadTrustStore)')
  if (o.purpose !== undefined && o.purpose !== 'clientAuth' && o.purpose !== 'serverAuth') {
    throw new InvalidArgumentError(`options.purpose: expected 'clientAuth' or 'serverAuth', got ${JSON.stringify(o.purpose)}`)
  }
  if (o.expectedPeerId !== undefined && typeof o.expectedPeerId !== 'string')
    throw new InvalidArgumentError('options.expectedPeerId: expected string')
  if (o.cache !== undefined && typeof o.cache !== 'boolean') throw new InvalidArgumentError('options.cache: expected boolean')
  if (o.clock !== undefined && (o.clock === null || typeof (o.clock as Clock).now !== 'function')) {
    throw new InvalidArgumentError('options.clock: expected { now(): number }')
  }
}

/**
 * Verify a peer's certificate chain (leaf first, DER) against a trust store: build the path to a
 * trusted root and check every signature, validity window (with the store's clock skew), CA flag,
 * pathLen, key usage and extended key usage, revocation against verified, current CRLs, and the
 * binding between the certificate key and the peer ID it names. Each failed check throws its own
 * error class (see errors.ts); success returns the peer. Results are cached by chain hash.
 */
export async function verifyPeerChain(chain: readonly Uint8Array[], options: VerifyPeerChainOptions): Promise<VerifiedPeer> {
  return verifyPeerChainSync(chain, options)
}

/** The same as verifyPeerChain, synchronously (node:crypto's checks are synchronous). */
export function verifyPeerChainSync(chain: readonly Uint8Array[], options: VerifyPeerChainOptions): VerifiedPeer {
  checkArgs(chain, options)
  const trust = options.trust
  const now = (options.clock ?? trust.clock).now()
  let expected: string | undefined
  if (options.expectedPeerId !== undefined) expected = peerIdFromString(options.expectedPeerId).toString()

  const useCache = options.cache !== false
  const key = useCache ? chainKey(chain, options.purpose) : ''
  const hit = useCache ? trust._cache.get(key) : undefined
  if (hit !== undefined && now >= hit.validFrom && now <= hit.validUntil) {
    const peer = hit.value as VerifiedPeer
    if (expected !== undefined && peer.peerId !== expected) {
      throw new CertificatePeerMismatchError(`certificate is for peer ${peer.peerId}, expected ${expected}`)
    }
    return clonePeer(peer)
  }

  const skew = trust.clockSkewMs
  const certs = chain.map((der, i) => {
    try {
      return parseCertificate(der)
    } catch (err) {
      if (err instanceof CertificateMalformedError)
        throw new CertificateMalformedError(`chain[${i}]: ${err.message}`, { cause: err })
      throw err
    }
  })

  // ---- 1. build the path: leaf → intermediates from the chain → a trusted root ----
  const leaf = certs[0] as ParsedCertificate
  const path: ParsedCertificate[] = [leaf]
  let anchor: TrustAnchor | undefined
  const used = new Set<number>([0])
  for (;;) {
    const current = path[path.length - 1] as ParsedCertificate
    let badSignature: ParsedCertificate | undefined
    for (const a of trust._anchorsNamed(current.issuer.raw)) {
      if (!keyIdsMatch(current, a.cert)) continue
      if (verifySignature(current.signatureAlgorithm, current.tbs, current.signature, a.key, a.cert.publicKey.keyType)) {
        anchor = a
        break
      }
      badSignature = a.cert
    }
    if (anchor !== undefined) break
    let next: ParsedCertificate | undefined
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
        next = c
        used.add(i)
        break
      }
      badSignature ??= c
    }
    if (next === undefined) {
      const index = path.length - 1
      if (current.signatureAlgorithm === undefined) {
        throw new UnsupportedAlgorithmError(
          `certificate ${label(current)}: signature algorithm is neither Ed25519 nor ECDSA with SHA-256`,
          { details: describe(current, index) }
        )
      }
      if (badSignature !== undefined) {
        throw new CertificateBadSignatureError(
          `certificate ${label(current)}: signature does not verify with the key of its issuer ${label(badSignature)}`,
          { details: describe(current, index) }
        )
      }
      throw new CertificateUnknownIssuerError(
        `certificate ${label(current)}: issuer (${current.issuer.text}) is not a trusted root or a CA in the chain`,
        { details: describe(current, index) }
      )
    }
    path.push(next)
    if (path.length > MAX_CHAIN_LENGTH)
      throw new CertificatePathTooLongError(`chain: more than ${MAX_CHAIN_LENGTH} certificates before a trusted root`)
  }
  const anchorCert = anchor.cert
  const all = [...path, anchorCert]

  // ---- 2. validity windows (the root's too, as OpenSSL does) ----
  let validFrom = Number.NEGATIVE_INFINITY
  let validUntil = Number.POSITIVE_INFINITY
  for (const [i, c] of all.entries()) {
    if (now + skew < c.notBefore) {
      throw new CertificateNotYetValidError(`certificate ${label(c)}: not valid before ${iso(c.notBefore)} (now ${iso(now)})`, {
        details: describe(c, i)
      })
    }
    if (now - skew > c.notAfter) {
      throw new CertificateExpiredError(`certificate ${label(c)}: expired at ${iso(c.notAfter)} (now ${iso(now)})`, {
        details: describe(c, i)
      })
    }
    validFrom = Math.max(validFrom, c.notBefore - skew)
    validUntil = Math.min(validUntil, c.notAfter + skew)
  }

  // ---- 3. critical extensions, CA flags, key usage and pathLen of the issuers ----
  for (const [i, c] of all.entries()) {
    if (c.unknownCritical.length > 0) {
      throw new CertificateUnknownCriticalExtensionError(
        `certificate ${label(c)}: critical extension ${c.unknownCritical.join(', ')} is not understood`,
        { details: describe(c, i) }
      )
    }
  }
  for (let i = 1; i < all.length; i++) {
    const c = all[i] as ParsedCertificate
    if (!c.ca) {
      throw new CertificateNotACaError(
        `certificate ${label(c)}: issued ${label(all[i - 1] as ParsedCertificate)} but is not a CA (basicConstraints cA is not set)`,
        { details: describe(c, i) }
      )
    }
    if (c.keyUsage !== undefined && (c.keyUsage & KEY_USAGE.keyCertSign) === 0) {
      throw new CertificateWrongUsageError(`certificate ${label(c)}: key usage does not include keyCertSign`, {
        details: describe(c, i)
      })
    }
    // Intermediates below c: all[1..i-1] (RFC 5280 §6.1.4 (l)/(m); no self-issued exceptions here).
    if (c.pathLen !== undefined && i - 1 > c.pathLen) {
      throw new CertificatePathTooLongError(
        `certificate ${label(c)}: pathLen ${c.pathLen} allows ${c.pathLen} intermediate CA(s) below it, the chain has ${i - 1}`,
        { details: describe(c, i) }
      )
    }
    if (c.extKeyUsage !== undefined && !allowsPurpose(c.extKeyUsage, options.purpose)) {
      throw new CertificateWrongUsageError(
        `certificate ${label(c)}: extended key usage does not allow ${options.purpose ?? 'peer authentication'}`,
        { details: describe(c, i) }
      )
    }
  }

  // The intermediates chain to a root: their CRLs can now be verified (TrustStore.addCrl).
  for (let i = 1; i < path.length; i++) trust._noteIntermediate(path[i] as ParsedCertificate)

  // ---- 4. the leaf: a peer certificate for this purpose ----
  if (leaf.ca)
    throw new CertificateWrongUsageError(`certificate ${label(leaf)}: is a CA certificate, not a peer certificate`, {
      details: describe(leaf, 0)
    })
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & KEY_USAGE.digitalSignature) === 0) {
    throw new CertificateWrongUsageError(`certificate ${label(leaf)}: key usage does not include digitalSignature`, {
      details: describe(leaf, 0)
    })
  }
  if (leaf.extKeyUsage === undefined || !allowsPurpose(leaf.extKeyUsage, options.purpose)) {
    throw new CertificateWrongUsageError(
      `certificate ${label(leaf)}: extended key usage does not allow ${options.purpose ?? 'clientAuth or serverAuth'}`,
      { details: describe(leaf, 0) }
    )
  }

  // ---- 5. the binding: key ↔ peer ID SAN ↔ expected peer ----
  const ids = peerUrisOf(leaf.uris)
  if (ids.length !== 1) {
    throw new CertificatePeerMismatchError(
      `certificate ${label(leaf)}: names ${ids.length} peer IDs (peerguard://peer/… SAN), expected exactly one`,
      { details: describe(leaf, 0) }
    )
  }
  let peerId: string
  let identityKey: Uint8Array
  try {
    const named = peerIdFromString(ids[0] as string)
    peerId = named.toString()
    identityKey = named.publicKey
  } catch (err) {
    throw new CertificatePeerMismatchError(`certificate ${label(leaf)}: its peer ID SAN is not a valid peer ID`, {
      cause: err,
      details: describe(leaf, 0)
    })
  }
  if (leaf.publicKey.keyType === 'ed25519') {
    if (!Buffer.from(leaf.publicKey.raw).equals(identityKey)) {
      throw new CertificatePeerMismatchError(
        `certificate ${label(leaf)}: its key is not the key of the peer ID it names (${peerId})`,
        { details: describe(leaf, 0) }
      )
    }
  } else if (leaf.publicKey.keyType !== 'p256') {
    throw new UnsupportedAlgorithmError(`certificate ${label(leaf)}: key is neither Ed25519 nor P-256`, {
      details: describe(leaf, 0)
    })
  }

  // ---- 6. revocation: each certificate below the root against its issuer's CRL, from the top ----
  for (let i = path.length - 1; i >= 0; i--) {
    const c = path[i] as ParsedCertificate
    const issuer = all[i + 1] as ParsedCertificate
    const crl = currentCrl(trust, issuer, now, skew)
    if (crl === undefined) {
      if (trust.requireCrl)
        throw new CrlMissingError(
          `no CRL from ${label(issuer)} (${issuer.subject.text}) is loaded, so the revocation of ${label(c)} cannot be checked`,
          {
            details: {
              ...describe(c, i),
              issuer: issuer.subject.text,
              distributionPoints: [...c.crlDistributionPoints],
              hint: 'sign one with `peerguard ca crl` and pass it with --crl (or put it in the trust folder)'
            }
          }
        )
      continue
    }
    if (crl.nextUpdate !== undefined) validUntil = Math.min(validUntil, crl.nextUpdate + skew)
    validFrom = Math.max(validFrom, crl.thisUpdate - skew)
    const entry = crl.revoked.get(c.serial)
    if (entry !== undefined) {
      throw new CertificateRevokedError(
        `certificate ${label(c)} (serial ${c.serial}) was revoked at ${iso(entry.revokedAt)}${entry.reason === undefined ? '' : ` (${entry.reason})`}`,
        { details: { ...describe(c, i), revokedAt: iso(entry.revokedAt), reason: entry.reason } }
      )
    }
  }

  const peer: VerifiedPeer = {
    peerId,
    publicKey: identityKey,
    name: leaf.subject.commonName ?? '',
    groups: [...leaf.subject.organizationalUnits],
    certificate: leaf.der,
    chain: all.map((c) => c.der),
    notAfter: new Date(leaf.notAfter),
    serial: leaf.serial
  }
  if (useCache) {
    if (trust._cache.size >= VERIFY_CACHE_SIZE) trust._cache.delete(trust._cache.keys().next().value as string)
    trust._cache.set(key, { value: clonePeer(peer), validFrom, validUntil })
  }
  if (expected !== undefined && peerId !== expected) {
    throw new CertificatePeerMismatchError(`certificate is for peer ${peerId}, expected ${expected}`, {
      details: describe(leaf, 0)
    })
  }
  return peer
}

function clonePeer(p: VerifiedPeer): VerifiedPeer {
  return { ...p, publicKey: Uint8Array.from(p.publicKey), groups: [...p.groups], chain: [...p.chain] }
}

/** AKI of the child and SKI of the candidate issuer must agree when both are present. */
function keyIdsMatch(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return child.authorityKeyId === undefined || issuer.subjectKeyId === undefined || child.authorityKeyId === issuer.subjectKeyId
}

function allowsPurpose(ekus: readonly string[], purpose: Purpose | undefined): boolean {
  if (ekus.includes(EKU.any)) return true
  if (purpose === undefined) return ekus.includes(EKU.clientAuth) || ekus.includes(EKU.serverAuth)
  return ekus.includes(EKU[purpose])
}
