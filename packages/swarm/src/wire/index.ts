/**
 * @packageDocumentation
 * `@peerguard/swarm/wire`: the swarm's message codec and format limits (SWARM.md §2–§3), for
 * tools, test peers and fuzzers that speak the swarm protocol by hand over a peerguard channel.
 * Applications want the swarm peer itself (`@peerguard/swarm`), which uses these.
 *
 * @example
 * ```ts
 * import { encodeMessage, MessageDecoder, SWARM_PROTOCOL } from '@peerguard/swarm/wire'
 * channel.write(encodeMessage({ type: 'have', piece: 3 }))
 * ```
 */
export {
  allocPieceMessage,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MAX_REQUEST_BYTES,
  MessageDecoder,
  MessageType,
  PIECE_HEADER_BYTES,
  SWARM_PROTOCOL
} from '../wire.js'
export type { SwarmMessage } from '../wire.js'
export { MAX_OUTSTANDING_REQUESTS } from '../serve.js'
export { defaultPieceSize, MAX_PIECE_BYTES, MAX_PIECES, MIN_PIECE_BYTES, pieceLength, SWARM_NAME } from '../manifest.js'
