import type { HandshakeLimits } from '@peerguard/channel'
import {
  assertInteger,
  assertString,
  type ConnectionCheck,
  type ConnectionRecord,
  type DecisionSink,
  InvalidArgumentError,
  isPolicyDecider,
  type Logger,
  type PeerInfo
} from '@peerguard/interface'
import { checkCredentials } from '@peerguard/pki'
import { type HostPort, parseHostPort } from './address.js'
import type { ProxyConfig } from './config.js'
import { DEFAULT_CONNECT_TIMEOUT_MS } from './connect-target.js'

/**
 * One accept/refuse decision as the proxy writes it to the decision log: a `ConnectionRecord`
 * (code `allow`, a policy code such as `deny-rule`, or an error code such as `cert-revoked`,
 * `proxy-target-unreachable`) with the service and action it was about.
 */
export interface ConnectionDecision extends ConnectionRecord {
  /** `noise` or `tls`. */
  readonly mode: string
  /** `service:<name>`. */
  readonly resource: string
  /** The policy action asked about. */
  readonly action: string
}

export interface ProxyServerOptions {
  /** Address to listen on. Default `127.0.0.1:0` (an ephemeral loopback port). */
  listen?: string | HostPort
  /** The TCP service to forward to, `HOST:PORT`. Required. */
  target: string | HostPort
  /** Service name: the policy resource is `service:<name>`. Required. */
  service: string
  /** Policy action asked for each connection. Default `get`. */
  action?: string
  /** Identity, certificate chain, trust store and policy. Required (policy included: no policy, no access). */
  config: ProxyConfig
  /** Re-reads the configuration for `reload()`. Default: none (`reload()` re-reads trust-store directories only). */
  loadConfig?: () => Promise<ProxyConfig>
  /** Speak TLS 1.3 instead of the peerguard Noise channel. Default false. */
  tls?: boolean
  /** Decision log: every accept and refusal is appended. Default: none. */
  decisionLog?: DecisionSink
  /** Most connections at once (handshaking or established). Default 1024. */
  maxConnections?: number
  /** Most established connections per peer ID. Default 64. */
  maxConnectionsPerPeer?: number
  /** Close a connection after this long without data either way, ms; 0 = never. Default 600000 (10 min). */
  idleTimeoutMs?: number
  /** Deadline to connect to the target, ms. Default 5000. */
  connectTimeoutMs?: number
  /** Deadline for the channel handshake, ms. Default 10000. */
  handshakeTimeoutMs?: number
  /**
   * Pending-handshake limits of the channel listener (at most 16 per remote address, 128 in all, by
   * default): a flood of silent connections from one address holds at most the per-address limit.
   */
  handshakeLimits?: HandshakeLimits
  /**
   * Re-decides an authenticated peer after the node's trust changed (e.g. a new CRL): run when a
   * channel is established and over every open connection by `recheck()` (with the policy);
   * a refusal closes the connection. Default none.
   */
  connectionCheck?: ConnectionCheck
  /**
   * Send a PROXY protocol v2 header to the target before any data: the client's address and port,
   * and TLVs with the peer ID, certificate name and groups (README, "Identity to the backend").
   * Default false.
   */
  proxyProtocol?: boolean
  logger?: Logger
}

/** One proxied connection now, for status displays (`connections()`). */
export interface ProxyConnectionInfo {
  readonly peer: PeerInfo
  /** When the channel was established (ms since the epoch). */
  readonly since: number
  /** Bytes received from the peer (sent on to the target) and sent to it, so far. */
  readonly bytesIn: number
  readonly bytesOut: number
}

/** Live figures of a proxy end. */
export interface ProxyStats {
  /** Connections open now (handshaking or established). */
  readonly active: number
  readonly accepted: number
  readonly refused: number
  readonly bytesIn: number
  readonly bytesOut: number
}

export const DEFAULT_MAX_CONNECTIONS = 1024
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 64
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000

/** @internal A ProxyServer's options, checked, with the defaults filled in. */
export interface ResolvedServerOptions {
  readonly target: HostPort
  readonly listen: HostPort
  /** `service:<name>`. */
  readonly resource: string
  readonly action: string
  readonly maxConnections: number
  readonly maxPerPeer: number
  readonly idleMs: number
  readonly connectMs: number
  readonly handshakeMs: number
}

/** @internal Check a ProxyServer's options (exact boundary messages) and fill in the defaults. */
export function resolveServerOptions(options: ProxyServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const target = parseHostPort(options.target, 'options.target')
  if (target.port === 0) throw new InvalidArgumentError('options.target: port 0 is not a service port')
  const listen = parseHostPort(options.listen ?? '127.0.0.1:0', 'options.listen')
  assertString('options.service', options.service, { nonEmpty: true, maxLength: 200 })
  if (!/^[A-Za-z0-9._-]+$/.test(options.service))
    throw new InvalidArgumentError(
      `options.service: expected a name of letters, digits, '.', '_' and '-', got ${JSON.stringify(options.service)}`
    )
  const resource = `service:${options.service}`
  const action = options.action ?? 'get'
  assertString('options.action', action, { nonEmpty: true, maxLength: 32 })
  checkConfig(options.config, true)
  if (options.loadConfig !== undefined && typeof options.loadConfig !== 'function')
    throw new InvalidArgumentError('options.loadConfig: expected a function')
  if (options.decisionLog !== undefined && typeof options.decisionLog?.append !== 'function')
    throw new InvalidArgumentError('options.decisionLog: expected { append(record) }')
  if (options.connectionCheck !== undefined && typeof options.connectionCheck !== 'function')
    throw new InvalidArgumentError('options.connectionCheck: expected a function')
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const maxPerPeer = options.maxConnectionsPerPeer ?? DEFAULT_MAX_CONNECTIONS_PER_PEER
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  const connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const handshakeMs = options.handshakeTimeoutMs ?? 10_000
  assertInteger('options.maxConnections', maxConnections, 1, 1_000_000)
  assertInteger('options.maxConnectionsPerPeer', maxPerPeer, 1, 1_000_000)
  assertInteger('options.idleTimeoutMs', idleMs, 0, 86_400_000)
  assertInteger('options.connectTimeoutMs', connectMs, 1, 600_000)
  assertInteger('options.handshakeTimeoutMs', handshakeMs, 1, 600_000)
  return { target, listen, resource, action, maxConnections, maxPerPeer, idleMs, connectMs, handshakeMs }
}

/** @internal check a ProxyConfig's shape (the channel checks key and chain bytes in depth). */
export function checkConfig(c: ProxyConfig, needPolicy: boolean): void {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError('config: expected { identity, chain, trust, policy }')
  checkCredentials(c, { prefix: 'config.', chainRequired: 'enrol with the LAN CA', trustRequired: true })
  if (needPolicy && !isPolicyDecider(c.policy))
    throw new InvalidArgumentError(
      'config.policy: expected a Policy (or PolicyWatcher) from @peerguard/policy; a proxy server without a policy would admit nobody'
    )
}
