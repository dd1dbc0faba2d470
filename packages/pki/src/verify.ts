import { createHash } from 'node:crypto'
import { peerIdFromString } from '@peerguard/identity'
import { type Clock, InvalidArgumentError } from '@peerguard/interface'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { CertificateMalformedError, CertificatePeerMismatchError } from './errors.js'
import { describe } from './verify-messages.js'
import {
  bindPeerId,
  checkIssuerConstraints,
  checkLeafUsage,
  checkRevocation,
  checkValidity,
  type Purpose,
  type ValidityWindow
} from './verify-checks.js'
import { buildCertificationPath, MAX_CHAIN_LENGTH } from './verify-path.js'
import { TrustStore, trustInternals, VERIFY_CACHE_SIZE } from './trust-store.js'

export { MAX_CHAIN_LENGTH } from './verify-path.js'
export type { Purpose } from './verify-checks.js'

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

/** Parse every certificate of the chain; a malformed one is named by its index. */
function parseChain(chain: readonly Uint8Array[]): ParsedCertificate[] {
  return chain.map((der, i) => {
    try {
      return parseCertificate(der)
    } catch (err) {
      if (err instanceof CertificateMalformedError)
        throw new CertificateMalformedError(`chain[${i}]: ${err.message}`, { cause: err })
      throw err
    }
  })
}

/** A cached result still valid at `now`, checked against the expected peer; undefined on a miss. */
function fromCache(trust: TrustStore, key: string, now: number, expected: string | undefined): VerifiedPeer | undefined {
  const hit = trustInternals(trust).cache.get(key)
  if (hit === undefined || now < hit.validFrom || now > hit.validUntil) return undefined
  const peer = hit.value as VerifiedPeer
  if (expected !== undefined && peer.peerId !== expected) {
    throw new CertificatePeerMismatchError(`certificate is for peer ${peer.peerId}, expected ${expected}`)
  }
  return clonePeer(peer)
}

function toCache(trust: TrustStore, key: string, peer: VerifiedPeer, window: ValidityWindow): void {
  const cache = trustInternals(trust).cache
  if (cache.size >= VERIFY_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(key, { value: clonePeer(peer), ...window })
}

/**
 * The same as verifyPeerChain, synchronously (node:crypto's checks are synchronous). The steps, in
 * this order (the first failure decides the error): path building, validity, CA constraints, the
 * leaf's usage, the peer ID binding, revocation, then the expected peer.
 */
export function verifyPeerChainSync(chain: readonly Uint8Array[], options: VerifyPeerChainOptions): VerifiedPeer {
  checkArgs(chain, options)
  const trust = options.trust
  const now = (options.clock ?? trust.clock).now()
  const expected = options.expectedPeerId === undefined ? undefined : peerIdFromString(options.expectedPeerId).toString()

  const useCache = options.cache !== false
  const key = useCache ? chainKey(chain, options.purpose) : ''
  const cached = useCache ? fromCache(trust, key, now, expected) : undefined
  if (cached !== undefined) return cached

  const { path, anchor } = buildCertificationPath(parseChain(chain), trust)
  const leaf = path[0] as ParsedCertificate
  const all = [...path, anchor.cert]
  const validity = checkValidity(all, now, trust.clockSkewMs)
  checkIssuerConstraints(all, options.purpose)
  // The intermediates chain to a root: their CRLs can now be verified (TrustStore.addCrl).
  for (let i = 1; i < path.length; i++) trustInternals(trust).noteIntermediate(path[i] as ParsedCertificate)
  checkLeafUsage(leaf, options.purpose)
  const { peerId, identityKey } = bindPeerId(leaf)
  const window = checkRevocation(trust, all, now, validity)

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
  if (useCache) toCache(trust, key, peer, window)
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
