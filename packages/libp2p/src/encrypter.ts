import type {
  ComponentLogger,
  ConnectionEncrypter,
  PeerId as Libp2pPeerId,
  PrivateKey,
  SecurableStream,
  SecureConnectionOptions,
  SecuredConnection,
  StreamMuxerFactory
} from '@libp2p/interface'
import { serviceCapabilities } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Authorize, type NoiseChannel, secureInbound, secureOutbound } from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import {
  type DecisionSink,
  equalBytes,
  InvalidArgumentError,
  isDecisionSink,
  type PeerInfo,
  PeerguardError
} from '@peerguard/interface'
import { checkCredentials, type TrustStore } from '@peerguard/pki'
import { addressOf } from './address.js'
import { Libp2pKeyMismatchError, Libp2pPeerMismatchError, Libp2pStreamError } from './errors.js'
import { identityFromLibp2pPrivateKey, libp2pPeerIdFromPeerguard, peerguardPeerIdFromLibp2p } from './identity-bridge.js'
import { channelMessageStream } from './channel-message-stream.js'
import { type IterableConnection, IterableDuplex } from './iterable-duplex.js'
import { type MessageStreamLike, MessageStreamDuplex } from './message-stream-duplex.js'
import { PEERGUARD_SESSION, PeerDirectory } from './peer-directory.js'
import { registerSession } from './peer-of.js'
import { PEERGUARD_PROTOCOL } from './protocol.js'
import { assertRuntime, connectionShapeOf } from './runtime.js'
import { endChannel, securedStream } from './secured-stream.js'

export { PEERGUARD_PROTOCOL } from './protocol.js'
/** At most this many stream muxers are offered in the handshake (SPEC.md §2.2: 0..16 protocols). */
const MAX_EARLY_MUXERS = 16

export interface PeerguardEncrypterOptions {
  /**
   * This node's peerguard identity. Default: the libp2p node's own private key (which must be
   * Ed25519). When given, it must be the same key as the node's `privateKey`
   * (`libp2p-key-mismatch` otherwise), so that the PeerId libp2p announces is the key the
   * certificate names.
   */
  identity?: KeyPair
  /** This node's certificate chain, leaf first, DER (`issued.chain`). Default: none (the remote must pin this node). */
  chain?: readonly Uint8Array[]
  /** Trust store for the remote's chain (roots and CRLs). Default: none (then only pinned peers are accepted). */
  trust?: TrustStore
  /** Peerguard peer IDs accepted without a certificate. Default: none. */
  pinnedPeers?: readonly string[]
  /** In-handshake gate: a refusal sends the initiator an ALERT before any libp2p byte. Default: allow. */
  authorize?: Authorize
  /** Whole-handshake deadline in milliseconds. Default 10000. */
  handshakeTimeoutMs?: number
  /** Record each connection's authenticated peer here, for `peerguardGater`. Default: none. */
  peers?: PeerDirectory
  /** Write refused handshakes (with their code) to this decision log. Default: none. */
  log?: DecisionSink
  /**
   * Agree on the stream muxer inside the handshake (as @chainsafe/libp2p-noise does with its
   * extensions), saving a multistream-select round trip. Default true.
   */
  earlyMuxerNegotiation?: boolean
  /**
   * Close `log`, and the log of a `peerguardGater` sharing `peers`, when the node stops
   * (`node.stop()`). Set false when the logs outlive the node (a restart, a log shared by nodes).
   * Default true.
   */
  closeLogOnStop?: boolean
}

/** What libp2p gives a connection encrypter factory. */
export interface PeerguardEncrypterComponents {
  privateKey: PrivateKey
  upgrader?: { getStreamMuxers(): Map<string, StreamMuxerFactory> }
  logger?: ComponentLogger
}

/** The `remoteExtensions` of a peerguard-secured connection: the authenticated peer. */
export type PeerguardExtensions = PeerInfo

interface Resolved {
  identity: KeyPair
  chain: Uint8Array[]
  trust: TrustStore | undefined
  pinnedPeers: string[]
  authorize: Authorize | undefined
  handshakeTimeoutMs: number | undefined
  peers: PeerDirectory | undefined
  log: DecisionSink | undefined
  earlyMuxers: boolean
  closeLogOnStop: boolean
}

function checkOptions(options: PeerguardEncrypterOptions): void {
  checkCredentials(options, { identityOptional: true })
  if (options.pinnedPeers !== undefined && !Array.isArray(options.pinnedPeers))
    throw new InvalidArgumentError('options.pinnedPeers: expected an array of peer IDs')
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('options.authorize: expected a function')
  if (options.peers !== undefined && !(options.peers instanceof PeerDirectory))
    throw new InvalidArgumentError('options.peers: expected a PeerDirectory (createPeerDirectory())')
  if (options.log !== undefined && !isDecisionSink(options.log))
    throw new InvalidArgumentError('options.log: expected a decision log (an object with append(record))')
  if (options.earlyMuxerNegotiation !== undefined && typeof options.earlyMuxerNegotiation !== 'boolean')
    throw new InvalidArgumentError('options.earlyMuxerNegotiation: expected a boolean')
  if (options.closeLogOnStop !== undefined && typeof options.closeLogOnStop !== 'boolean')
    throw new InvalidArgumentError('options.closeLogOnStop: expected a boolean')
  if (options.trust === undefined && (options.pinnedPeers ?? []).length === 0)
    throw new InvalidArgumentError(
      'options: give a trust store (trust) or pinned peers (pinnedPeers); otherwise no peer could be accepted'
    )
}

function resolve(options: PeerguardEncrypterOptions, components: PeerguardEncrypterComponents): Resolved {
  if (typeof components !== 'object' || components === null || typeof components.privateKey !== 'object')
    throw new InvalidArgumentError('components: expected libp2p components with a privateKey')
  const own = identityFromLibp2pPrivateKey(components.privateKey)
  let identity = own
  if (options.identity !== undefined) {
    if (!equalBytes(options.identity.publicKey, own.publicKey)) {
      throw new Libp2pKeyMismatchError(
        "the libp2p node's privateKey is not the peerguard identity: pass privateKey: libp2pPrivateKeyFromIdentity(identity) to createLibp2p"
      )
    }
    identity = options.identity
  }
  return {
    identity,
    chain: (options.chain ?? []).map((c) => Uint8Array.from(c)),
    trust: options.trust,
    pinnedPeers: [...(options.pinnedPeers ?? [])],
    authorize: options.authorize,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    peers: options.peers,
    log: options.log,
    earlyMuxers: options.earlyMuxerNegotiation !== false,
    closeLogOnStop: options.closeLogOnStop !== false
  }
}

/** The PeerId in the `/p2p/` component of an outbound connection's address, if any. */
function dialledPeerOf(connection: unknown): Libp2pPeerId | undefined {
  try {
    const id = (connection as { remoteAddr?: { getPeerId?: () => string | null } }).remoteAddr?.getPeerId?.()
    return typeof id === 'string' ? peerIdFromString(id) : undefined
  } catch {
    return undefined
  }
}

/** The peerguard channel as a libp2p ConnectionEncrypter. Create with `peerguardEncrypter`. */
export class PeerguardEncrypter implements ConnectionEncrypter<PeerguardExtensions> {
  readonly protocol = PEERGUARD_PROTOCOL
  readonly [Symbol.toStringTag] = '@peerguard/libp2p'
  readonly [serviceCapabilities]: string[] = ['@libp2p/connection-encryption', '@peerguard/libp2p']
  readonly #o: Resolved
  readonly #components: PeerguardEncrypterComponents

  constructor(components: PeerguardEncrypterComponents, options: PeerguardEncrypterOptions) {
    checkOptions(options)
    this.#o = resolve(options, components)
    this.#components = components
  }

  /** libp2p starts its components; nothing to do. */
  start(): void {}

  /** libp2p stops its components on `node.stop()`: close the decision logs (unless `closeLogOnStop: false`). */
  async stop(): Promise<void> {
    if (!this.#o.closeLogOnStop) return
    const logs = new Set([...(this.#o.log === undefined ? [] : [this.#o.log]), ...(this.#o.peers?.logs() ?? [])])
    await Promise.allSettled(
      [...logs].map(async (log) => {
        const close = (log as { close?: () => unknown }).close
        if (typeof close === 'function') await close.call(log)
      })
    )
  }

  /** The PeerId this encrypter authenticates as (the libp2p form of the identity key). */
  get peerId(): Libp2pPeerId {
    return libp2pPeerIdFromPeerguard(this.#o.identity.publicKey)
  }

  // Typed as the ConnectionEncrypter of the @libp2p/interface the application installed: libp2p 2
  // (an it-stream duplex in and out) or libp2p 3 (a MessageStream in and out) type-check without casts.
  /** Secure a connection this node dialled. */
  readonly secureOutbound: ConnectionEncrypter<PeerguardExtensions>['secureOutbound'] = (connection, options) =>
    this.#secure('outbound', connection, options)

  /** Secure a connection this node accepted. */
  readonly secureInbound: ConnectionEncrypter<PeerguardExtensions>['secureInbound'] = (connection, options) =>
    this.#secure('inbound', connection, options)

  #muxers(options: SecureConnectionOptions | undefined): Map<string, StreamMuxerFactory> {
    if (!this.#o.earlyMuxers || options?.skipStreamMuxerNegotiation === true) return new Map()
    const all = this.#components.upgrader?.getStreamMuxers() ?? new Map<string, StreamMuxerFactory>()
    const usable = new Map<string, StreamMuxerFactory>()
    for (const [name, factory] of all) {
      const len = Buffer.byteLength(name)
      if (len >= 1 && len <= 255 && usable.size < MAX_EARLY_MUXERS) usable.set(name, factory)
    }
    return usable
  }

  async #secure<Stream extends SecurableStream>(
    direction: 'inbound' | 'outbound',
    connection: Stream,
    options: SecureConnectionOptions | undefined
  ): Promise<SecuredConnection<Stream, PeerguardExtensions>> {
    // libp2p 2 hands an it-stream duplex, libp2p 3 a MessageStream; anything else is refused by name
    const shape = connectionShapeOf(connection)
    const conn = connection as unknown as IterableConnection & MessageStreamLike & Record<PropertyKey, unknown>
    const o = this.#o
    let expected: string | undefined
    // libp2p 2 does not pass the dialled peer to encrypters; it is the /p2p/ part of the address.
    const remotePeer = options?.remotePeer ?? (direction === 'outbound' ? dialledPeerOf(conn) : undefined)
    if (remotePeer !== undefined) {
      try {
        expected = peerguardPeerIdFromLibp2p(remotePeer).toString()
      } catch (err) {
        const e = new Libp2pPeerMismatchError(
          `the dialled peer ${remotePeer.toString()} is not an Ed25519 peer, so no peerguard peer can be it`,
          {
            cause: err
          }
        )
        await this.#refused(e, undefined)
        conn.abort?.(e)
        throw e
      }
    }
    const muxers = this.#muxers(options)
    const socket = shape === 'duplex' ? new IterableDuplex(conn) : new MessageStreamDuplex(conn)
    const signal = options?.signal
    const onAbort = (): void => {
      socket.destroy(new PeerguardError('aborted', 'the connection upgrade was aborted'))
    }
    if (signal?.aborted === true) onAbort()
    signal?.addEventListener('abort', onAbort)
    let channel: NoiseChannel
    try {
      const channelOptions = {
        identity: o.identity,
        chain: o.chain,
        pinnedPeers: o.pinnedPeers,
        protocols: [...muxers.keys()],
        ...(o.trust === undefined ? {} : { trust: o.trust }),
        ...(o.authorize === undefined ? {} : { authorize: o.authorize }),
        ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
        ...(expected === undefined ? {} : { expectedPeerId: expected })
      }
      channel =
        direction === 'outbound' ? await secureOutbound(socket, channelOptions) : await secureInbound(socket, channelOptions)
    } catch (err) {
      let e =
        err instanceof PeerguardError
          ? err
          : new Libp2pStreamError(`peerguard handshake failed: ${(err as Error).message}`, { cause: err })
      if (e.code === 'channel-peer-mismatch') {
        e = new Libp2pPeerMismatchError(
          `dialled ${remotePeer?.toString()}, but the handshake authenticated another key: ${e.message}`,
          {
            cause: e,
            ...(e.details === undefined ? {} : { details: e.details })
          }
        )
      }
      await this.#refused(e, socket)
      throw e
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    const peer = channel.remotePeer
    const libp2pPeer = libp2pPeerIdFromPeerguard(peer.publicKey)
    if (remotePeer !== undefined && !libp2pPeer.equals(remotePeer)) {
      // Unreachable while the channel enforces expectedPeerId; kept as a second lock.
      const e = new Libp2pPeerMismatchError(
        `dialled ${remotePeer.toString()}, but the handshake authenticated ${libp2pPeer.toString()}`
      )
      channel.destroy(e)
      await this.#refused(e, socket)
      throw e
    }
    let secured: MessageStreamLike | undefined
    if (shape === 'duplex') {
      // As @chainsafe/libp2p-noise 16 does, the same connection object carries the decrypted streams,
      // so close(), abort(), remoteAddr and timeline keep working for libp2p 2.
      const duplex = securedStream(channel)
      conn.source = duplex.source
      conn.sink = duplex.sink
    } else {
      // libp2p 3: a MessageStream of its own over the channel (as @chainsafe/libp2p-noise 17 returns)
      try {
        secured = await channelMessageStream(channel, conn, socket as MessageStreamDuplex)
      } catch (err) {
        channel.destroy(err as Error)
        throw err
      }
    }
    // libp2p closes a connection by closing the raw connection under the muxer: send the channel's
    // CLOSE first, so the remote sees a clean end rather than truncation.
    const rawClose = conn.close?.bind(conn)
    if (rawClose !== undefined) {
      conn.close = async (opts?: unknown) => {
        await endChannel(channel, socket)
        await rawClose(opts)
      }
    }
    const session = {}
    registerSession(session, peer) // peerOf(connection)
    o.peers?.set(session, peer)
    // Own enumerable property: survives the object spreads libp2p 2 makes before calling the gater;
    // libp2p 3 hands the gater this very object.
    conn[PEERGUARD_SESSION] = session
    const muxer = channel.protocol === undefined ? undefined : muxers.get(channel.protocol)
    const result = {
      remotePeer: libp2pPeer,
      remoteExtensions: peer,
      ...(muxer === undefined ? {} : { streamMuxer: muxer })
    }
    // libp2p 2 reads `conn`, libp2p 3 `connection`
    return (secured === undefined ? { ...result, conn: connection } : { ...result, connection: secured }) as SecuredConnection<
      Stream,
      PeerguardExtensions
    >
  }

  async #refused(err: PeerguardError, socket: IterableDuplex | MessageStreamDuplex | undefined): Promise<void> {
    if (this.#o.log === undefined) return
    const details = err.details as { peerId?: unknown; actual?: unknown } | undefined
    const peerId =
      typeof details?.actual === 'string' ? details.actual : typeof details?.peerId === 'string' ? details.peerId : undefined
    const address = addressOf(socket?.connection)
    const peer = { ...(peerId === undefined ? {} : { peerId }), ...(address === undefined ? {} : { address }) }
    try {
      await this.#o.log.append({
        kind: 'connection',
        event: 'refused',
        code: err.code,
        reason: err.message.slice(0, 4096),
        ...(Object.keys(peer).length === 0 ? {} : { peer }),
        mode: 'hardened'
      })
    } catch {
      // the refusal stands whether or not it could be logged
    }
  }
}

/**
 * A libp2p connection encrypter (`/peerguard/1.0.0`) running the peerguard channel: Noise XX with
 * both sides' certificate chains and identity-key binding, verified against `trust` (CRLs
 * included), and the remote's libp2p PeerId derived from the authenticated identity key.
 *
 * @example
 * ```ts
 * createLibp2p({
 *   privateKey: libp2pPrivateKeyFromIdentity(identity),
 *   connectionEncrypters: [peerguardEncrypter({ chain: issued.chain, trust })],
 *   ...
 * })
 * ```
 */
export function peerguardEncrypter(
  options: PeerguardEncrypterOptions
): (components: PeerguardEncrypterComponents) => PeerguardEncrypter {
  checkOptions(options)
  assertRuntime()
  return (components) => new PeerguardEncrypter(components, options)
}
