/**
 * @packageDocumentation
 * `@peerguard/channel/noise`: the general Noise Protocol Framework core under the peerguard
 * channel: CipherState, SymmetricState, HandshakeState for any pattern (with deferred and psk
 * modifiers), pattern and protocol-name parsing, the Node crypto provider and the `noise-*`
 * errors (which the channel's handshake and transport also throw). It passes the
 * published cacophony and snow vectors. Most users want the channel itself (`@peerguard/channel`).
 *
 * @example
 * ```ts
 * import { HandshakeState } from '@peerguard/channel/noise'
 * const hs = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_SHA256', role: 'initiator' })
 * ```
 */
export { CipherState, HandshakeState, SymmetricState, MAX_NOISE_MESSAGE } from './noise.js'
export type { HandshakeResult, HandshakeStateOptions, NoiseRole } from './noise.js'
export { parsePattern, parseProtocolName, PATTERN_NAMES } from './patterns.js'
export type { HandshakePattern, ProtocolName, Token } from './patterns.js'
export { nodeAesGcm, nodeCryptoProvider, nodeChaChaPoly, nodeSha256, nodeX25519 } from './primitives.js'
export type { NoiseCipher, NoiseCryptoProvider, NoiseDH, NoiseHash, NoiseKeyPair } from './primitives.js'
export {
  NoiseDecryptError,
  NoiseMessageError,
  NoiseNonceExhaustedError,
  NoiseStateError,
  NoiseUnsupportedProtocolError
} from '../errors.js'
