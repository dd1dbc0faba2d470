/**
 * @packageDocumentation
 * A folder share for LAN peers, in two modes: **plain** (raw TCP, no authentication — today's
 * baseline) and **hardened** (over a `@peerguard/channel` session, every operation checked by
 * `@peerguard/policy` and recorded in the `@peerguard/decision-log` decision log). Paths are confined
 * to the share root; uploads are atomic and verified. Wire protocol: `packages/share/SPEC.md`.
 *
 * @example
 * ```ts
 * import { connectShare, createShareServer } from '@peerguard/share'
 * const server = createShareServer({ root: '/srv/docs' })      // plain mode
 * const { port } = await server.listen({ host: '127.0.0.1' })
 * const client = await connectShare({ host: '127.0.0.1', port })
 * await client.writeFile('hello.txt', 'hi')
 * console.log((await client.list('')).entries)
 * client.close(); await server.close()
 * ```
 */
export { createShareServer, ShareServer } from './server.js'
export type { DroppedEvent, OperationEvent, ShareConnectionInfo, ShareServerOptions } from './server.js'
export { connectShare, parseShareAddress, ShareClient } from './client.js'
export type { ConnectShareOptions, Progress, ReadResult, ShareEntry, TransferOptions } from './client.js'
export { hardenedTransport, plainTransport } from './transport.js'
export { channelTransport, SHARE_PROTOCOL } from './channel-transport.js'
export type { ChannelTransportOptions, ServerKnownPeers } from './channel-transport.js'
export type { HardenedTransportOptions, ShareTransport } from './transport.js'
export { policyAuthorizer, shareResource } from './authorize.js'
export type { AccessRequest, Authorizer, ShareVerb } from './authorize.js'
export { formatSharePath, MAX_NAME_BYTES, MAX_PATH_BYTES, parseSharePath } from './paths.js'
export {
  PathRefusedError,
  ShareConnectionClosedError,
  ShareConnectionRefusedError,
  ShareDeniedError,
  ShareError,
  ShareProtocolError,
  UploadVerifyError
} from './errors.js'
