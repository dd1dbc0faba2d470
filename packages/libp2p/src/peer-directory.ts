import type { DecisionSink, PeerInfo } from '@peerguard/interface'
import { InvalidArgumentError } from '@peerguard/interface'

/**
 * The property under which the encrypter leaves a connection's session token on the connection
 * object it returns; module-private, so no other encrypter can set it.
 */
export const PEERGUARD_SESSION: unique symbol = Symbol('peerguard-session')

/** The session token a peerguard-secured connection carries, or undefined. */
export function sessionOf(connection: unknown): object | undefined {
  if (typeof connection !== 'object' || connection === null) return undefined
  const s = (connection as Record<PropertyKey, unknown>)[PEERGUARD_SESSION]
  return typeof s === 'object' && s !== null ? s : undefined
}

/**
 * What the encrypter learnt about each connection it secured: the authenticated peer (peer ID,
 * certificate name and groups, address). Keyed by a per-connection session token that the
 * encrypter leaves on the connection (libp2p hands the gater a copy of it), so an entry belongs to
 * exactly one connection and is gone with it — a
 * peer that reconnects through another encrypter (stock Noise) is not mistaken for a certified one.
 */
export class PeerDirectory {
  readonly #byConnection = new WeakMap<object, PeerInfo>()
  readonly #logs = new Set<DecisionSink>()

  /** @internal The gater leaves its decision log here, so the encrypter closes it on `node.stop()`. */
  adoptLog(log: DecisionSink): void {
    this.#logs.add(log)
  }

  /** @internal The decision logs the gaters sharing this directory write to. */
  logs(): DecisionSink[] {
    return [...this.#logs]
  }

  /** Record the peer the handshake on `connection` authenticated. */
  set(connection: object, peer: PeerInfo): void {
    if (typeof connection !== 'object' || connection === null) throw new InvalidArgumentError('connection: expected an object')
    if (typeof peer !== 'object' || peer === null || typeof peer.peerId !== 'string')
      throw new InvalidArgumentError('peer: expected a PeerInfo')
    this.#byConnection.set(connection, peer)
  }

  /** The certificate-authenticated peer of `connection`, or undefined when peerguard did not secure it. */
  get(connection: object): PeerInfo | undefined {
    if (typeof connection !== 'object' || connection === null) return undefined
    return this.#byConnection.get(connection)
  }
}

/** A directory shared by `peerguardEncrypter` and `peerguardGater`. */
export function createPeerDirectory(): PeerDirectory {
  return new PeerDirectory()
}
