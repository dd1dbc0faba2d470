/**
 * @packageDocumentation
 * Encrypted, mutually authenticated peer channels: Noise_XX_25519_ChaChaPoly_SHA256 over any Node
 * Duplex, each side's Noise static key bound to its Ed25519 identity and peerguard certificate,
 * framed ChaCha20-Poly1305 transport with rekey, alerts and half-close. Wire format: SPEC.md.
 * The general Noise core (any pattern, deferred and psk modifiers; passes the cacophony and snow
 * vectors; its `noise-*` error classes) is `@peerguard/channel/noise`; the TLS 1.3 sibling channel
 * is `@peerguard/channel/tls`; the wire pieces (frame decoder, transport cipher, handshake payload
 * and alert codecs, protocol constants) for tools and tests are `@peerguard/channel/wire`.
 *
 * @example
 * ```ts
 * import { secureOutbound } from '@peerguard/channel'
 * const channel = await secureOutbound(socket, { identity, chain, trust, expectedPeerId })
 * channel.remotePeer.name // 'laptop'
 * channel.end('hello')
 * ```
 */
export { secureInbound, secureOutbound } from './handshake.js'
export { NoiseChannel, DEFAULT_REKEY_AFTER_BYTES, DEFAULT_REKEY_AFTER_FRAMES } from './channel.js'
export { createListener, ChannelListener } from './listener.js'
export type { ListenerOptions } from './listener.js'
export { HandshakeLimiter, DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS } from './handshake-limiter.js'
export type { HandshakeLimits } from './handshake-limiter.js'
export { KnownPeers } from './known-peers.js'
export { DEFAULT_CIPHERS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_HANDSHAKE_MESSAGE } from './options.js'
export type { ChannelCipher } from './cipher-offer.js'
export type { Authorize, AuthorizeResult, ChannelOptions, KnownPeersOption } from './options.js'
export {
  BindingInvalidError,
  CertificateRequiredError,
  CipherMismatchError,
  ChannelClosedError,
  ChannelDecryptError,
  ChannelRefusedError,
  ChannelTruncatedError,
  FrameInvalidError,
  HandshakeInvalidError,
  HandshakeTimeoutError,
  KnownPeerChangedError,
  KnownPeersInvalidError,
  PeerMismatchError,
  ProtocolMismatchError,
  TooManyHandshakesError,
  UnauthorizedError
} from './errors.js'
