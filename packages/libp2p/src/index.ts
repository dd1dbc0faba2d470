/**
 * @packageDocumentation
 * peerguard for js-libp2p: a ConnectionEncrypter (`/peerguard/1.0.0`) that runs the peerguard
 * channel (packages/channel/SPEC.md: Noise XX with certificate chains bound to Ed25519 identity
 * keys) under libp2p, a ConnectionGater that asks a peerguard policy about every connection and
 * logs the decision, and the bridge between peerguard identities and libp2p keys and PeerIds.
 *
 * @example
 * ```ts
 * import { createPeerDirectory, libp2pPrivateKeyFromIdentity, peerguardEncrypter, peerguardGater } from '@peerguard/libp2p'
 * const peers = createPeerDirectory()
 * const node = await createLibp2p({
 *   privateKey: libp2pPrivateKeyFromIdentity(identity),
 *   transports: [tcp()],
 *   connectionEncrypters: [peerguardEncrypter({ chain: issued.chain, trust, peers })],
 *   streamMuxers: [yamux()],
 *   connectionGater: peerguardGater(policy, { peers, log })
 * })
 * ```
 */
export { peerguardEncrypter, PeerguardEncrypter, PEERGUARD_PROTOCOL } from './encrypter.js'
export type { PeerguardEncrypterComponents, PeerguardEncrypterOptions, PeerguardExtensions } from './encrypter.js'
export { peerguardGater } from './gater.js'
export type { PeerguardGaterOptions } from './gater.js'
export { createPeerDirectory, PeerDirectory } from './peer-directory.js'
export { peerOf } from './peer-of.js'
export { guardHandler } from './guard-handler.js'
export type { GuardHandlerOptions } from './guard-handler.js'
export { refuseStockNoise, StockNoiseRefusal } from './refuse-stock-noise.js'
export type { RefuseStockNoiseOptions } from './refuse-stock-noise.js'
export { MessageStreamDuplex } from './message-stream-duplex.js'
export type { MessageStreamLike } from './message-stream-duplex.js'
export type { Libp2pConnectionRecord } from './decision-sink.js'
export type { DecisionSink, PolicyDecider } from '@peerguard/interface'
export {
  identityFromLibp2pPrivateKey,
  libp2pPeerIdFromPeerguard,
  libp2pPrivateKeyFromIdentity,
  peerguardPeerIdFromLibp2p
} from './identity-bridge.js'
export { IterableDuplex } from './iterable-duplex.js'
export type { IterableConnection } from './iterable-duplex.js'
export { securedStream } from './secured-stream.js'
export type { SecuredStream } from './secured-stream.js'
export {
  Libp2pKeyMismatchError,
  Libp2pNoCommonEncrypterError,
  Libp2pPeerMismatchError,
  Libp2pProtocolDeniedError,
  Libp2pStreamError,
  Libp2pUnsupportedKeyError,
  Libp2pUnsupportedRuntimeError,
  Libp2pUnsupportedVersionError,
  SUPPORTED_VERSIONS
} from './errors.js'
