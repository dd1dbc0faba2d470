/**
 * @packageDocumentation
 * The peerguard swarm: a torrent-like file distribution where only peers enrolled with the LAN CA
 * take part, every connection is a peerguard channel, the policy decides who may fetch (`get`)
 * and seed/publish (`put`) each `swarm:<name>`, and every piece is verified by SHA-256.
 * Wire specification: `packages/swarm/SWARM.md`; its message codec and format limits, for tools
 * and test peers that speak it by hand, are `@peerguard/swarm/wire`.
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
export { createManifest, encodeManifest, MAX_MANIFEST_BYTES, parseManifest, verifyManifest } from './manifest.js'
export type { CreateManifestOptions, SwarmManifest, VerifyManifestOptions } from './manifest.js'
export type { SwarmVerb } from './access.js'
export type { ServingSession } from './session.js'
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
