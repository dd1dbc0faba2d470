import type { PeerInfo } from '@peerguard/interface'
import { sessionOf } from './peer-directory.js'

/** Every peerguard-secured connection's session token → the peer its handshake authenticated. */
const SESSIONS = new WeakMap<object, PeerInfo>()

/** Called by the encrypter once a handshake succeeded. */
export function registerSession(session: object, peer: PeerInfo): void {
  SESSIONS.set(session, Object.freeze({ ...peer, groups: Object.freeze([...peer.groups]) }))
}

/**
 * The certificate-authenticated peer of a libp2p connection: its peerguard `peerId`, certificate
 * `name` (CN) and `groups` (OU), the leaf `certificate` (DER), the verified `chain`, its `publicKey`
 * and `address` — or `undefined` when peerguard did not secure the connection (another encrypter,
 * such as stock Noise, or no connection at all).
 *
 * Works with libp2p 2 and 3 `Connection` objects (what a stream handler, `node.getConnections()`
 * and the `connection:open` event give) and with the raw connection a gater sees. The answer comes
 * from a token the encrypter left on that very connection, so a peer that reconnects through
 * another encrypter gets nothing from an earlier connection.
 *
 * @example
 * ```ts
 * // libp2p 3
 * await node.handle('/app/echo/1.0.0', (stream, connection) => {
 *   const peer = peerOf(connection)
 *   if (peer === undefined || !peer.groups.includes('staff')) return stream.abort(new Error('staff only'))
 *   …
 * })
 * ```
 */
export function peerOf(connection: unknown): PeerInfo | undefined {
  if (typeof connection !== 'object' || connection === null) return undefined
  const direct = sessionOf(connection)
  // a libp2p Connection keeps the raw connection the encrypter secured as `maConn` (libp2p 2 and 3)
  const session = direct ?? sessionOf((connection as { maConn?: unknown }).maConn)
  return session === undefined ? undefined : SESSIONS.get(session)
}
