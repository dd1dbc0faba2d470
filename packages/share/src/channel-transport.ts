import { secureInbound, secureOutbound } from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'
import type { TrustStore } from '@peerguard/pki'
import { hardenedTransport, type ShareTransport } from './transport.js'

/** Application protocol name offered in the channel handshake. */
export const SHARE_PROTOCOL = '/peerguard/share/1'

export interface ChannelTransportOptions {
  /** This node's Ed25519 identity. */
  identity: KeyPair
  /** This node's certificate chain, leaf first (DER). */
  chain: readonly Uint8Array[]
  /** Trust store (the LAN CA root, CRLs) that the other side's chain must verify against. */
  trust: TrustStore
  /** Client side: refuse a server with another peer ID. Default: any peer the CA certified. */
  expectedPeerId?: string
  /** Handshake deadline (ms). Default 10000. */
  handshakeTimeoutMs?: number
}

/**
 * The hardened transport: a `@peerguard/channel` session (Noise XX, certificate-bound identities,
 * ChaCha20-Poly1305) on each socket. A peer without a valid certificate from `trust` is refused
 * in the handshake, before it can send a share request.
 */
export function channelTransport(options: ChannelTransportOptions): ShareTransport {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (!Array.isArray(options.chain) || options.chain.length === 0)
    throw new InvalidArgumentError('chain: expected at least one DER certificate')
  if (typeof options.trust !== 'object' || options.trust === null) throw new InvalidArgumentError('trust: expected a TrustStore')
  const base = {
    identity: options.identity,
    chain: options.chain,
    trust: options.trust,
    protocols: [SHARE_PROTOCOL],
    ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs })
  }
  return hardenedTransport({
    inbound: (socket) => secureInbound(socket, base),
    outbound: (socket) =>
      secureOutbound(socket, {
        ...base,
        ...(options.expectedPeerId === undefined ? {} : { expectedPeerId: options.expectedPeerId })
      })
  })
}
