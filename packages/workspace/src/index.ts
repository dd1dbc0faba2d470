/**
 * @packageDocumentation
 * The peerguard workspace: the members of one LAN CA find each other with signed, sealed
 * announcements (multicast or unicast UDP), and the CA's CRLs and policy travel as a versioned
 * bundle signed by the CA that every member fetches from another over a peerguard channel,
 * verifies, applies and passes on. Wire formats: SPEC.md.
 */
export { addressBytes, addressText } from './address.js'
export {
  type AnnouncedService,
  type Announcement,
  announcementWorkspace,
  MAX_DATAGRAM,
  openAnnouncement,
  sealAnnouncement,
  type ServiceKind
} from './announcement.js'
export { type Bundle, type BundleContent, MAX_BUNDLE_BYTES, parseBundle, signBundle, verifyBundle } from './bundle.js'
export { BUNDLE_FILE, readBundleFile } from './bundle-file.js'
export { type Enrolled, enroll, fromUnprovenServer, parseHostPort } from './enroll-client.js'
export { DEFAULT_ENROLL_PORT, type DiscoverOptions, discoverEnrollment, MAX_DISCOVERY_CANDIDATES } from './enroll-discover.js'
export { type EnrollCode, EnrollError, isEnrollCode } from './enroll-errors.js'
export { type EnrollEvent, EnrollmentService, type EnrollmentServiceOptions } from './enroll-server.js'
export { ENROLL_PROTOCOL } from './enroll-wire.js'
export { AnnouncementError, BundleError, FetchError } from './errors.js'
export { FETCH_PROTOCOL, type FetchResult, fetchBundle } from './fetch.js'
export type { UdpTarget, WorkspaceOptions } from './options.js'
export type { PeerState, WorkspacePeer } from './peer-table.js'
export type { Refusal, WorkspaceStats } from './stats.js'
export { Workspace } from './workspace.js'
export { type EnrollToken, encodeToken, parseToken, rootFingerprintOf, TOKEN_PREFIX } from './token.js'
export { type CreatedToken, type RecordReader, TOKEN_DIR, type TokenRecord, TokenStore } from './token-store.js'
export { announceKeyOf, WORKSPACE_ID_LENGTH, workspaceIdHex, workspaceIdOf } from './workspace-id.js'
