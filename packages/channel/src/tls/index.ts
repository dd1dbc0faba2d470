/**
 * @packageDocumentation
 * `@peerguard/channel/tls`: the TLS 1.3 sibling of the Noise channel. The same SecureChannel
 * contract, the same peerguard certificates and the same checks (chain to the LAN CA, peer ID
 * from the SAN bound to the identity key, expected peer, authorize callback), over Node's TLS
 * with mutual authentication, so standard TLS tools can speak to a peerguard service.
 *
 * @example
 * ```ts
 * import { secureTlsOutbound } from '@peerguard/channel/tls'
 * const channel = await secureTlsOutbound(socket, { identity, chain, trust, expectedPeerId })
 * ```
 */
export { secureTlsInbound, secureTlsOutbound, TlsChannel } from './tls-channel.js'
export type { TlsChannelOptions } from './tls-channel.js'
export { TlsHandshakeError } from './errors.js'
