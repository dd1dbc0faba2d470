/**
 * @packageDocumentation
 * `@peerguard/channel/wire`: the pieces of the channel's wire format (SPEC.md), for tools, test
 * peers and fuzzers that speak it by hand: the protocol names and prologue, the length-prefixed
 * frame decoder, the transport cipher that seals and opens frames, and the codecs of the
 * handshake payload and of ALERT bodies. Applications want the channel itself
 * (`@peerguard/channel`), which uses these.
 *
 * @example
 * ```ts
 * import { decodeHandshakePayload } from '@peerguard/channel/wire'
 * const { identityKey, certificates } = decodeHandshakePayload(hs.readMessage(message2))
 * ```
 */
export { IK_PROTOCOL_NAME, PROLOGUE, PROTOCOL_NAME } from '../handshake.js'
export { MAX_FRAME_PAYLOAD } from '../channel.js'
export { FrameDecoder, MAX_FRAME_LENGTH } from '../frame-decoder.js'
export { TransportCipher } from '../transport-cipher.js'
export { CIPHER_IDS, CipherOffer, MAX_OFFERED_CIPHERS } from '../cipher-offer.js'
export type { ChannelCipher } from '../cipher-offer.js'
export { decodeAlert, decodeHandshakePayload, encodeAlert, encodeHandshakePayload, FrameType } from '../payload.js'
export type { HandshakePayload } from '../payload.js'
