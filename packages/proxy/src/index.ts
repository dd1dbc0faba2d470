/**
 * @packageDocumentation
 * Put any TCP application behind peerguard, in the manner of ghostunnel: a server end that
 * accepts mutually authenticated channels (the peerguard Noise channel, or TLS 1.3 with peerguard
 * certificates), asks the policy about `service:<name>`, logs the decision and splices to the
 * target service; and a client end that carries plain local TCP connections to it.
 *
 * @example
 * ```ts
 * import { createProxyServer, loadProxyConfig } from '@peerguard/proxy'
 * const files = { identity: 'nas.key', cert: 'nas.pem', trust: 'ca.pem', policy: 'office.yaml' }
 * const server = createProxyServer({ listen: '0.0.0.0:7631', target: '127.0.0.1:631', service: 'printer',
 *   action: 'print', config: await loadProxyConfig(files), loadConfig: () => loadProxyConfig(files) })
 * await server.listen()
 * process.on('SIGHUP', () => server.reload().catch(() => {}))
 * ```
 */
export { formatHostPort, parseHostPort } from './address.js'
export type { HostPort } from './address.js'
export { loadProxyConfig } from './config.js'
export type { ProxyConfig, ProxyFiles } from './config.js'
export { connectTarget, DEFAULT_CONNECT_TIMEOUT_MS } from './connect-target.js'
export { createProxyServer, ProxyServer } from './proxy-server.js'
export { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_PEER } from './server-options.js'
export type { ConnectionDecision, ProxyServerOptions, ProxyStats } from './server-options.js'
export { createProxyClient, ProxyClient } from './proxy-client.js'
export type { ProxyClientOptions } from './proxy-client.js'
export { splice } from './pipe.js'
export {
  encodeProxyV2,
  parseProxyV2,
  peerTlvs,
  PP2_TYPE_PEERGUARD_GROUP,
  PP2_TYPE_PEERGUARD_NAME,
  PP2_TYPE_PEERGUARD_PEER_ID,
  PROXY_V2_SIGNATURE
} from './proxy-protocol.js'
export type { ProxyEndpoint, ProxyHeader, ProxyTlv } from './proxy-protocol.js'
export type { SpliceOptions, SplicedStats } from './pipe.js'
export {
  ProxyAddressInvalidError,
  ProxyClosedError,
  ProxyConfigInvalidError,
  ProxyDeniedError,
  ProxyIdleTimeoutError,
  ProxyProtocolInvalidError,
  ProxyReloadError,
  ProxyTargetTimeoutError,
  ProxyTargetUnreachableError,
  ProxyTooManyConnectionsError,
  ProxyTooManyPeerConnectionsError
} from './errors.js'
