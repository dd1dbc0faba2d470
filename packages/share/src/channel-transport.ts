import type { Socket } from 'node:net'
import {
  type ChannelOptions,
  HandshakeLimiter,
  type HandshakeLimits,
  type KnownPeers,
  secureInbound,
  secureOutbound
} from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'
import { checkCredentials, type TrustStore } from '@peerguard/pki'
import { hardenedTransport, type ShareTransport } from './transport.js'

/** Application protocol name offered in the channel handshake. */
export const SHARE_PROTOCOL = '/peerguard/share/1'

/** How a client holds the server it reaches to a known-peers file (trust on first use, like SSH's known_hosts). */
export interface ServerKnownPeers {
  /** The known-peers store (`KnownPeers.load(file)` from @peerguard/channel). */
  store: KnownPeers
  /** The entry's name. Default `share@<address>:<port>` of the connected socket. */
  name?: string
  /** Record a server seen for the first time. Default true; false accepts only servers already listed. */
  trustOnFirstUse?: boolean
}

export interface ChannelTransportOptions {
  /** This node's Ed25519 identity. */
  identity: KeyPair
  /** This node's certificate chain, leaf first (DER). */
  chain: readonly Uint8Array[]
  /** Trust store (the LAN CA root, CRLs) that the other side's chain must verify against. */
  trust: TrustStore
  /**
   * Client side: refuse a server with another peer ID (or one of these). Overrides `knownPeers`.
   * Default: the server is checked against `knownPeers`, or else any peer the CA certified.
   */
  expectedPeerId?: string | readonly string[]
  /** Client side: hold the server to a known-peers entry (first use recorded, a later change refused). Default: none. */
  knownPeers?: ServerKnownPeers
  /**
   * Server side: the channel's pending-handshake limits (at most 16 per remote address, 128 in
   * all, by default), or a HandshakeLimiter shared with other listeners. Default: a limiter of
   * its own with the default limits.
   */
  handshakeLimits?: HandshakeLimits | HandshakeLimiter
  /** Handshake deadline (ms). Default 10000. */
  handshakeTimeoutMs?: number
}

function remoteName(socket: Socket): string {
  const host = socket.remoteAddress ?? 'unknown'
  return `share@${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`
}

/**
 * The hardened transport: a `@peerguard/channel` session (Noise XX, certificate-bound identities,
 * ChaCha20-Poly1305) on each socket. A peer without a valid certificate from `trust` is refused
 * in the handshake, before it can send a share request. Accepted sockets go through the channel
 * listener's pending-handshake limits, so a flood of silent connections from one address holds at
 * most the per-address limit. A client given `expectedPeerId` or `knownPeers` refuses a server
 * that the CA certified but that is not the one it expects, before revealing its own identity.
 */
export function channelTransport(options: ChannelTransportOptions): ShareTransport {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  checkCredentials(options, { prefix: '', chainRequired: 'enrol with the LAN CA', trustRequired: true })
  const kp = options.knownPeers
  if (kp !== undefined && (typeof kp !== 'object' || kp === null || typeof kp.store?.check !== 'function'))
    throw new InvalidArgumentError('knownPeers: expected { store: KnownPeers, name?, trustOnFirstUse? }')
  const limits = options.handshakeLimits
  const limiter = limits instanceof HandshakeLimiter ? limits : new HandshakeLimiter(limits ?? {})
  const base: ChannelOptions = {
    identity: options.identity,
    chain: options.chain,
    trust: options.trust,
    protocols: [SHARE_PROTOCOL],
    ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs })
  }
  const serverCheck = (socket: Socket): Partial<ChannelOptions> => {
    if (options.expectedPeerId !== undefined) return { expectedPeerId: options.expectedPeerId }
    if (kp === undefined) return {}
    return {
      knownPeers: {
        store: kp.store,
        name: kp.name ?? remoteName(socket),
        certified: true,
        ...(kp.trustOnFirstUse === undefined ? {} : { trustOnFirstUse: kp.trustOnFirstUse })
      }
    }
  }
  return hardenedTransport({
    inbound: (socket) => limiter.run(socket, () => secureInbound(socket, base)),
    outbound: (socket) => secureOutbound(socket, { ...base, ...serverCheck(socket) })
  })
}
