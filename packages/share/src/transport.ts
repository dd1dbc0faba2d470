import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { PeerInfo, SecureChannel } from '@peerguard/interface'
import { InvalidArgumentError } from '@peerguard/interface'

/**
 * How a share turns a TCP socket into the stream it speaks on, and who is at the other end.
 * Injected into the server and the client, so the share does not care whether the bytes are
 * plain or inside a `@peerguard/channel` session.
 */
export interface ShareTransport {
  /** `plain` (no authentication) or `hardened` (authenticated, encrypted). */
  readonly mode: 'plain' | 'hardened'
  /** Server side: authenticate an accepted socket. Throws (a PeerguardError with a code) to refuse. */
  accept(socket: Socket): Promise<{ stream: Duplex; peer: PeerInfo }>
  /** Client side: authenticate a connected socket. */
  connect(socket: Socket): Promise<{ stream: Duplex; peer?: PeerInfo }>
}

function addressOf(socket: Socket): string {
  const host = socket.remoteAddress ?? 'unknown'
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`
}

/**
 * Plain TCP: no authentication and no encryption — the baseline of today's LAN shares. The
 * "peer" is only its source address, which anyone on the LAN can claim.
 */
export function plainTransport(): ShareTransport {
  return {
    mode: 'plain',
    async accept(socket) {
      const address = addressOf(socket)
      return { stream: socket, peer: { peerId: `plain:${address}`, publicKey: new Uint8Array(0), groups: [], address } }
    },
    async connect(socket) {
      return { stream: socket }
    }
  }
}

export interface HardenedTransportOptions {
  /** Server side: run the channel handshake as responder (e.g. `@peerguard/channel` secureInbound with your identity, chain and trust). */
  inbound: (socket: Socket) => Promise<SecureChannel>
  /** Client side: run the handshake as initiator (secureOutbound). */
  outbound: (socket: Socket) => Promise<SecureChannel>
}

/** A transport over an authenticated, encrypted channel; the peer comes from its certificate. */
export function hardenedTransport(options: HardenedTransportOptions): ShareTransport {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (typeof options.inbound !== 'function') throw new InvalidArgumentError('inbound: expected a function')
  if (typeof options.outbound !== 'function') throw new InvalidArgumentError('outbound: expected a function')
  return {
    mode: 'hardened',
    async accept(socket) {
      const address = addressOf(socket)
      const channel = await options.inbound(socket)
      const peer = channel.remotePeer.address === undefined ? { ...channel.remotePeer, address } : channel.remotePeer
      return { stream: channel, peer }
    },
    async connect(socket) {
      const channel = await options.outbound(socket)
      return { stream: channel, peer: channel.remotePeer }
    }
  }
}
