/**
 * @packageDocumentation
 * The peerguard swarm: a torrent-like file distribution where only peers enrolled with the LAN CA
 * take part, every connection is a peerguard channel, the policy decides who may fetch (`get`)
 * and seed/publish (`put`) each `swarm:<name>`, and every piece is verified by SHA-256.
 * Wire specification: `packages/swarm/SWARM.md`.
 */
export {
  createSwarmPeer,
  SwarmPeer,
  PART_SUFFIX,
  DEFAULT_MAX_PEERS,
  DEFAULT_REQUESTS_PER_PEER,
  DEFAULT_STALL_TIMEOUT_MS
} from './peer.js'
export type { FetchOptions, PublishOptions, SeedOptions, SwarmPeerOptions } from './peer.js'
export type { DroppedPeer, FetchProgress, FetchResult } from './download.js'
export {
  createManifest,
  defaultPieceSize,
  encodeManifest,
  MAX_MANIFEST_BYTES,
  MAX_PIECE_BYTES,
  MAX_PIECES,
  MIN_PIECE_BYTES,
  parseManifest,
  pieceLength,
  SWARM_NAME,
  verifyManifest
} from './manifest.js'
export type { CreateManifestOptions, SwarmManifest, VerifyManifestOptions } from './manifest.js'
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
} from './wire.js'
export type { SwarmMessage } from './wire.js'
export { decideSwarm } from './access.js'
export type { SwarmVerb } from './access.js'
export { MAX_OUTSTANDING_REQUESTS } from './serve.js'
export { parsePeerAddress } from './address.js'
export {
  SwarmClosedError,
  SwarmDeniedError,
  SwarmFileMismatchError,
  SwarmManifestInvalidError,
  SwarmManifestSignatureError,
  SwarmPieceCorruptError,
  SwarmProtocolError,
  SwarmPublisherDeniedError,
  SwarmStalledError,
  SwarmTooManyPeersError,
  SwarmUnknownError
} from './errors.js'
