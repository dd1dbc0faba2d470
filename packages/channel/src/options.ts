import type { KeyPair } from '@peerguard/identity'
import { assertBytes, assertInteger, type Clock, InvalidArgumentError, type PeerInfo } from '@peerguard/interface'
import { checkCredentials, type Credentials, normalizePeerId, type TrustStore } from '@peerguard/pki'
import { type ChannelCipher, CIPHER_IDS } from './cipher-offer.js'
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

/**
 * The channel's options: the credentials (`@peerguard/pki` Credentials, checked by its
 * `checkCredentials`) and how the handshake runs. Without `chain` the remote must pin this peer;
 * without `trust` only pinned or known peers are accepted; without `expectedPeerId` any
 * authenticated peer is.
 */
export interface ChannelOptions extends Credentials {
  /** This peer's Ed25519 identity (`@peerguard/identity` key pair). Required. */
  identity: KeyPair
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
  /**
   * Transport ciphers this side allows, in order of preference (SPEC.md §2.6). The responder picks
   * the first of its list that the initiator offered; the choice is bound into the handshake hash,
   * so nobody in between can force another. `['ChaChaPoly']` alone sends the original 32-byte
   * message 1 (the wire of peers that predate the offer). IK reconnections run ChaChaPoly.
   * Default `['AESGCM', 'ChaChaPoly']`: AES-256-GCM is hardware-accelerated on x86-64 and ARMv8.
   */
  ciphers?: readonly ChannelCipher[]
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
  ciphers: ChannelCipher[]
}

/** The ciphers a channel allows unless told otherwise, in order of preference. */
export const DEFAULT_CIPHERS: readonly ChannelCipher[] = Object.freeze(['AESGCM', 'ChaChaPoly'])

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_HANDSHAKE_MESSAGE = 8192

/** Check every option (exact messages, InvalidArgumentError) and fill in defaults. */
export function resolveOptions(options: ChannelOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const credentials = checkCredentials(options, {
    maxCertificates: MAX_CERTIFICATES,
    maxCertificateBytes: MAX_CERTIFICATE_LENGTH
  })
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
  const ciphers = options.ciphers ?? DEFAULT_CIPHERS
  if (
    !Array.isArray(ciphers) ||
    ciphers.length < 1 ||
    ciphers.some((c) => typeof c !== 'string' || !Object.hasOwn(CIPHER_IDS, c)) ||
    new Set(ciphers).size !== ciphers.length
  )
    throw new InvalidArgumentError(
      "options.ciphers: expected a non-empty list of distinct ciphers, each 'AESGCM' or 'ChaChaPoly'"
    )
  if (options.remoteStaticKey !== undefined && !ciphers.includes('ChaChaPoly'))
    throw new InvalidArgumentError('options.ciphers: IK (options.remoteStaticKey) runs ChaChaPoly, which the list leaves out')
  const timeout = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
  assertInteger('options.handshakeTimeoutMs', timeout, 1, 600_000)
  const maxMsg = options.maxHandshakeMessageBytes ?? DEFAULT_MAX_HANDSHAKE_MESSAGE
  assertInteger('options.maxHandshakeMessageBytes', maxMsg, 128, MAX_FRAME_LENGTH)
  const rekeyBytes = options.rekeyAfterBytes ?? DEFAULT_REKEY_AFTER_BYTES
  assertInteger('options.rekeyAfterBytes', rekeyBytes, MAX_FRAME_PAYLOAD, DEFAULT_REKEY_AFTER_BYTES)
  const rekeyFrames = options.rekeyAfterFrames ?? DEFAULT_REKEY_AFTER_FRAMES
  assertInteger('options.rekeyAfterFrames', rekeyFrames, 1, DEFAULT_REKEY_AFTER_FRAMES)
  return {
    identity: credentials.identity as KeyPair,
    chain: credentials.chain,
    trust: credentials.trust,
    expectedPeerId: credentials.expectedPeerIds as Set<string> | undefined,
    pinnedPeers: new Set(pinned.map((p, i) => normalizePeerId(`options.pinnedPeers[${i}]`, p))),
    knownPeers: kp,
    authorize: options.authorize,
    protocols: [...protocols],
    handshakeTimeoutMs: timeout,
    maxHandshakeMessageBytes: maxMsg,
    rekeyAfterBytes: rekeyBytes,
    rekeyAfterFrames: rekeyFrames,
    clock: options.clock,
    remoteStaticKey: options.remoteStaticKey === undefined ? undefined : Uint8Array.from(options.remoteStaticKey),
    ciphers: [...ciphers]
  }
}
