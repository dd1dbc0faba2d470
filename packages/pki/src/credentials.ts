import { type KeyPair, keyPairFromSeed, peerIdFromString, SEED_LENGTH } from '@peerguard/identity'
import { assertBytes, equalBytes, InvalidArgumentError, wipe } from '@peerguard/interface'
import type { TrustStore } from './trust-store.js'

/**
 * What a peer authenticates with and what it accepts from the other end: its identity, its
 * certificate chain from the LAN CA, the trust store the other end's chain must verify to, and
 * optionally the peer ID(s) it expects. Every channel (Noise, TLS), the share, the swarm, the proxy
 * and the libp2p encrypter take these and check them with `checkCredentials`.
 */
export interface Credentials {
  /** This peer's Ed25519 identity (`@peerguard/identity` key pair). */
  identity?: KeyPair
  /** This peer's certificate chain, leaf first, DER. */
  chain?: readonly Uint8Array[]
  /** Roots and CRLs the remote's chain is checked against. */
  trust?: TrustStore
  /** Refuse unless the remote has this peer ID (or one of these). */
  expectedPeerId?: string | readonly string[]
}

/** What a caller requires of its credentials. */
export interface CredentialRules {
  /** Prefix of every message: `options.` (default), `config.` or `` for top-level arguments. */
  readonly prefix?: string
  /** The identity may be absent (the caller has a default). Default false. */
  readonly identityOptional?: boolean
  /** Refuse an empty or absent chain; the text says why (`TLS needs a certificate`). Default: a chain may be empty. */
  readonly chainRequired?: string
  /** Most certificates in the chain. Default 8. */
  readonly maxCertificates?: number
  /** Largest certificate, bytes. Default 65535. */
  readonly maxCertificateBytes?: number
  /** Refuse an absent trust store. Default false. */
  readonly trustRequired?: boolean
}

/** Credentials after `checkCredentials`: chain copied, expected peer IDs in canonical text form. */
export interface CheckedCredentials {
  readonly identity: KeyPair | undefined
  readonly chain: Uint8Array[]
  readonly trust: TrustStore | undefined
  readonly expectedPeerIds: ReadonlySet<string> | undefined
}

/** Public keys of key pairs already found consistent, by secret key (deriving one costs a scalar multiplication). */
const consistent = new WeakMap<Uint8Array, Uint8Array>()

/**
 * Check a key pair: 32-byte public key, 64-byte secret key (seed ‖ public key), and the public key
 * is the one the seed derives. InvalidArgumentError naming `name` otherwise.
 */
export function checkKeyPair(name: string, keyPair: KeyPair): void {
  if (typeof keyPair !== 'object' || keyPair === null)
    throw new InvalidArgumentError(`${name}: expected a key pair { publicKey, secretKey }`)
  assertBytes(`${name}.publicKey`, keyPair.publicKey, 32)
  assertBytes(`${name}.secretKey`, keyPair.secretKey, 64)
  const known = consistent.get(keyPair.secretKey)
  if (known !== undefined && equalBytes(known, keyPair.publicKey) && equalBytes(known, keyPair.secretKey.subarray(SEED_LENGTH)))
    return
  const derived = keyPairFromSeed(keyPair.secretKey.subarray(0, SEED_LENGTH))
  try {
    if (
      !equalBytes(derived.publicKey, keyPair.publicKey) ||
      !equalBytes(derived.publicKey, keyPair.secretKey.subarray(SEED_LENGTH))
    )
      throw new InvalidArgumentError(`${name}: the public key is not the public key of the secret key's seed`)
  } finally {
    wipe(derived.secretKey)
  }
  consistent.set(keyPair.secretKey, Uint8Array.from(keyPair.publicKey))
}

/** True for a TrustStore of this package (or one shaped like it: `roots` and `reload()`). */
function isTrustStore(value: unknown): value is TrustStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TrustStore).roots === 'object' &&
    typeof (value as TrustStore).reload === 'function'
  )
}

/**
 * Peer ID texts already parsed, to their canonical form: an application that reconnects passes the
 * same `expectedPeerId` every time, and parsing it (base32, checksum) costs more than a look-up.
 * Only successes are kept; bounded, oldest dropped first.
 */
const normalizedPeerIds = new Map<string, string>()
const NORMALIZED_PEER_IDS_MAX = 1024

/** The canonical text form of a peer ID given as an argument; InvalidArgumentError naming `name` otherwise. */
export function normalizePeerId(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${name}: expected a peer ID string, got ${typeof value}`)
  const hit = normalizedPeerIds.get(value)
  if (hit !== undefined) return hit
  let normalized: string
  try {
    normalized = peerIdFromString(value).toString()
  } catch (err) {
    throw new InvalidArgumentError(`${name}: ${(err as Error).message}`, { cause: err })
  }
  if (normalizedPeerIds.size >= NORMALIZED_PEER_IDS_MAX) normalizedPeerIds.delete(normalizedPeerIds.keys().next().value as string)
  normalizedPeerIds.set(value, normalized)
  return normalized
}

/**
 * The one check of credentials (identity, chain, trust, expected peers), with the exact messages
 * every package gives: InvalidArgumentError naming the field (`options.chain[1]: …`).
 */
export function checkCredentials(credentials: Credentials, rules: CredentialRules = {}): CheckedCredentials {
  const p = rules.prefix ?? 'options.'
  if (typeof credentials !== 'object' || credentials === null)
    throw new InvalidArgumentError(`${p === '' ? 'options' : p.slice(0, -1)}: expected an object`)
  const id = credentials.identity
  if (id !== undefined || rules.identityOptional !== true) checkKeyPair(`${p}identity`, id as KeyPair)
  const chain = credentials.chain ?? []
  if (!Array.isArray(chain)) throw new InvalidArgumentError(`${p}chain: expected an array of DER certificates`)
  if (rules.chainRequired !== undefined && chain.length === 0)
    throw new InvalidArgumentError(`${p}chain: expected at least one DER certificate (${rules.chainRequired})`)
  const maxCertificates = rules.maxCertificates ?? 8
  const maxBytes = rules.maxCertificateBytes ?? 65_535
  if (chain.length > maxCertificates) throw new InvalidArgumentError(`${p}chain: at most ${maxCertificates} certificates`)
  chain.forEach((c, i) => {
    assertBytes(`${p}chain[${i}]`, c)
    if (c.length < 1 || c.length > maxBytes) throw new InvalidArgumentError(`${p}chain[${i}]: expected 1..${maxBytes} bytes`)
  })
  const trust = credentials.trust
  if ((trust !== undefined || rules.trustRequired === true) && !isTrustStore(trust))
    throw new InvalidArgumentError(`${p}trust: expected a TrustStore from @peerguard/pki`)
  const expected = credentials.expectedPeerId
  let expectedPeerIds: Set<string> | undefined
  if (expected !== undefined) {
    if (!Array.isArray(expected)) expectedPeerIds = new Set([normalizePeerId(`${p}expectedPeerId`, expected)])
    else if (expected.length === 0) throw new InvalidArgumentError(`${p}expectedPeerId: expected at least one peer ID`)
    else expectedPeerIds = new Set(expected.map((e, i) => normalizePeerId(`${p}expectedPeerId[${i}]`, e)))
  }
  return { identity: id, chain: chain.map((c) => Uint8Array.from(c)), trust, expectedPeerIds }
}
