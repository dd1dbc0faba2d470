import type { KeyPair } from '@peerguard/identity'
import { peerIdFromString } from '@peerguard/identity'
import { assertBytes, assertInteger, type Clock, InvalidArgumentError, type PeerInfo } from '@peerguard/interface'
import type { TrustStore } from '@peerguard/pki'
import { DEFAULT_REKEY_AFTER_BYTES, DEFAULT_REKEY_AFTER_FRAMES, MAX_FRAME_PAYLOAD } from './channel.js'
import { MAX_FRAME_LENGTH } from './frame-decoder.js'
import type { KnownPeers } from './known-peers.js'
import { MAX_CERTIFICATE_LENGTH, MAX_CERTIFICATES, MAX_PROTOCOL_LENGTH, MAX_PROTOCOLS } from './payload.js'

/** What an `authorize` gate answers; a policy `Decision` fits. */
export interface AuthorizeResult {
  readonly allowed: boolean
  /** A stable code for the refusal (e.g. the policy's `deny-rule`); sent to the peer in the alert reason. */
  readonly code?: string
  /** One line a human can read; sent to the peer in the alert. */
  readonly reason?: string
}

/** The gate called after authentication and before any application byte (SPEC.md §2.4, §3.3). */
export type Authorize = (peer: PeerInfo) => AuthorizeResult | boolean | Promise<AuthorizeResult | boolean>

export interface KnownPeersOption {
  /** The known-peers store (see `KnownPeers.load`). */
  store: KnownPeers
  /** The name the peer is reached under (host:port or a label). */
  name: string
  /** Remember a peer seen for the first time. Default true; false only accepts listed peers. */
  trustOnFirstUse?: boolean
  /**
   * Also hold peers whose certificate verified to the file: the entry under `name` must match (or
   * is recorded on first use), so a peer certified by the same CA that later answers under that
   * name is refused with `channel-known-peer-changed`. Clients use it to authenticate the server
   * they reach (like SSH's known_hosts). Default false: the file only admits peers without a
   * certificate.
   */
  certified?: boolean
}

export interface ChannelOptions {
  /** This peer's Ed25519 identity (`@peerguard/identity` key pair). Required. */
  identity: KeyPair
  /** This peer's certificate chain, leaf first, DER. Default: none (the remote must pin this peer). */
  chain?: readonly Uint8Array[]
  /** Trust store for the remote's chain. Default: none (then only pinned or known peers are accepted). */
  trust?: TrustStore
  /** Refuse unless the remote has this peer ID (or one of these). Default: any authenticated peer. */
  expectedPeerId?: string | readonly string[]
  /** Peer IDs accepted without a certificate (explicit pinning). Default: none. */
  pinnedPeers?: readonly string[]
  /** Trust on first use for peers without a certificate (like SSH known_hosts). Default: off. */
  knownPeers?: KnownPeersOption
  /** The gate: called with the authenticated peer; a refusal sends an ALERT and closes. Default: allow. */
  authorize?: Authorize
  /** Application protocols, in order of preference. Default: none. */
  protocols?: readonly string[]
  /** Whole-handshake deadline in milliseconds. Default 10000. */
  handshakeTimeoutMs?: number
  /** Largest handshake message accepted, in bytes. Default 8192, at most 65535. */
  maxHandshakeMessageBytes?: number
  /** Rekey the sending direction after this many plaintext bytes. Default 2^28. */
  rekeyAfterBytes?: number
  /** Rekey the sending direction after this many frames. Default 2^16. */
  rekeyAfterFrames?: number
  /** Time source for certificate checks. Default: the trust store's clock. */
  clock?: Clock
  /**
   * Initiator only: the responder's Noise static key from an earlier channel
   * (`channel.remoteStaticKey`). The handshake then runs IK: two messages and a key-confirmation
   * frame instead of three messages (SPEC.md §2.5). If the responder has a new static key the handshake fails; retry without it.
   * Default: none (XX).
   */
  remoteStaticKey?: Uint8Array
}

export interface ResolvedOptions {
  identity: KeyPair
  chain: Uint8Array[]
  trust: TrustStore | undefined
  expectedPeerId: Set<string> | undefined
  pinnedPeers: Set<string>
  knownPeers: KnownPeersOption | undefined
  authorize: Authorize | undefined
  protocols: string[]
  handshakeTimeoutMs: number
  maxHandshakeMessageBytes: number
  rekeyAfterBytes: number
  rekeyAfterFrames: number
  clock: Clock | undefined
  remoteStaticKey: Uint8Array | undefined
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_HANDSHAKE_MESSAGE = 8192

/**
 * Peer ID texts already parsed, to their canonical form: an application that reconnects passes the
 * same `expectedPeerId` every time, and parsing it (base32, checksum) costs more than a hash look-up.
 * Only successes are kept; bounded, oldest dropped first.
 */
const normalizedPeerIds = new Map<string, string>()
const NORMALIZED_PEER_IDS_MAX = 1024

function normalizePeerId(name: string, value: unknown): string {
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

function expectedPeers(value: unknown): Set<string> | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) return new Set([normalizePeerId('options.expectedPeerId', value)])
  if (value.length === 0) throw new InvalidArgumentError('options.expectedPeerId: expected at least one peer ID')
  return new Set(value.map((p, i) => normalizePeerId(`options.expectedPeerId[${i}]`, p)))
}

/** Check every option (exact messages, InvalidArgumentError) and fill in defaults. */
export function resolveOptions(options: ChannelOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const id = options.identity
  if (typeof id !== 'object' || id === null)
    throw new InvalidArgumentError('options.identity: expected a key pair { publicKey, secretKey }')
  assertBytes('options.identity.publicKey', id.publicKey, 32)
  assertBytes('options.identity.secretKey', id.secretKey, 64)
  const chain = options.chain ?? []
  if (!Array.isArray(chain)) throw new InvalidArgumentError('options.chain: expected an array of DER certificates')
  if (chain.length > MAX_CERTIFICATES) throw new InvalidArgumentError(`options.chain: at most ${MAX_CERTIFICATES} certificates`)
  chain.forEach((c, i) => {
    assertBytes(`options.chain[${i}]`, c)
    if (c.length < 1 || c.length > MAX_CERTIFICATE_LENGTH)
      throw new InvalidArgumentError(`options.chain[${i}]: expected 1..${MAX_CERTIFICATE_LENGTH} bytes`)
  })
  if (options.trust !== undefined && (typeof options.trust !== 'object' || options.trust === null)) {
    throw new InvalidArgumentError('options.trust: expected a TrustStore from @peerguard/pki')
  }
  const pinned = options.pinnedPeers ?? []
  if (!Array.isArray(pinned)) throw new InvalidArgumentError('options.pinnedPeers: expected an array of peer IDs')
  const kp = options.knownPeers
  if (kp !== undefined) {
    if (typeof kp !== 'object' || kp === null || typeof kp.store?.get !== 'function' || typeof kp.name !== 'string') {
      throw new InvalidArgumentError('options.knownPeers: expected { store: KnownPeers, name: string }')
    }
    if (kp.trustOnFirstUse !== undefined && typeof kp.trustOnFirstUse !== 'boolean')
      throw new InvalidArgumentError('options.knownPeers.trustOnFirstUse: expected a boolean')
    if (kp.certified !== undefined && typeof kp.certified !== 'boolean')
      throw new InvalidArgumentError('options.knownPeers.certified: expected a boolean')
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('options.authorize: expected a function')
  const protocols = options.protocols ?? []
  if (!Array.isArray(protocols) || protocols.length > MAX_PROTOCOLS)
    throw new InvalidArgumentError(`options.protocols: expected an array of at most ${MAX_PROTOCOLS} names`)
  for (const p of protocols) {
    if (typeof p !== 'string' || Buffer.byteLength(p) < 1 || Buffer.byteLength(p) > MAX_PROTOCOL_LENGTH) {
      throw new InvalidArgumentError(`options.protocols: each name must be a string of 1..${MAX_PROTOCOL_LENGTH} UTF-8 bytes`)
    }
  }
  if (options.remoteStaticKey !== undefined) assertBytes('options.remoteStaticKey', options.remoteStaticKey, 32)
  const timeout = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
  assertInteger('options.handshakeTimeoutMs', timeout, 1, 600_000)
  const maxMsg = options.maxHandshakeMessageBytes ?? DEFAULT_MAX_HANDSHAKE_MESSAGE
  assertInteger('options.maxHandshakeMessageBytes', maxMsg, 128, MAX_FRAME_LENGTH)
  const rekeyBytes = options.rekeyAfterBytes ?? DEFAULT_REKEY_AFTER_BYTES
  assertInteger('options.rekeyAfterBytes', rekeyBytes, MAX_FRAME_PAYLOAD, DEFAULT_REKEY_AFTER_BYTES)
  const rekeyFrames = options.rekeyAfterFrames ?? DEFAULT_REKEY_AFTER_FRAMES
  assertInteger('options.rekeyAfterFrames', rekeyFrames, 1, DEFAULT_REKEY_AFTER_FRAMES)
  return {
    identity: id,
    chain: chain.map((c) => Uint8Array.from(c)),
    trust: options.trust,
    expectedPeerId: expectedPeers(options.expectedPeerId),
    pinnedPeers: new Set(pinned.map((p, i) => normalizePeerId(`options.pinnedPeers[${i}]`, p))),
    knownPeers: kp,
    authorize: options.authorize,
    protocols: [...protocols],
    handshakeTimeoutMs: timeout,
    maxHandshakeMessageBytes: maxMsg,
    rekeyAfterBytes: rekeyBytes,
    rekeyAfterFrames: rekeyFrames,
    clock: options.clock,
    remoteStaticKey: options.remoteStaticKey === undefined ? undefined : Uint8Array.from(options.remoteStaticKey)
  }
}
