import { EventEmitter } from 'node:events'
import { type AddressInfo, type NetConnectOpts, connect as netConnect, createServer, type Server, type Socket } from 'node:net'
import { RefusalSummarizer } from '@peerguard/decision-log'
import { type AuthorizeResult, HandshakeLimiter, type HandshakeLimits, secureInbound } from '@peerguard/channel'
import {
  assertInteger,
  assertString,
  type ConnectionCheck,
  type ConnectionRecord,
  type ConnectionRefusal,
  type DecisionSink,
  InvalidArgumentError,
  isPolicyDecider,
  type Logger,
  type PeerInfo,
  PeerguardError,
  recordOrRefuse,
  type SecureChannel,
  silentLogger
} from '@peerguard/interface'
import { checkCredentials } from '@peerguard/pki'
import { type HostPort, formatHostPort, listenOn, parseHostPort } from './address.js'
import type { ProxyConfig } from './config.js'
import {
  ProxyClosedError,
  ProxyReloadError,
  ProxyTargetTimeoutError,
  ProxyTargetUnreachableError,
  ProxyTooManyConnectionsError
} from './errors.js'
import { connectionOutcome } from './outcome.js'
import { type SplicedStats, splice } from './pipe.js'
import { encodeProxyV2, peerTlvs } from './proxy-protocol.js'
import { secureTlsInbound } from '@peerguard/channel/tls'

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

interface OpenConnection {
  readonly peer: PeerInfo
  readonly channel: SecureChannel
  readonly target: Socket
  /** When the channel was established (ms since the epoch). */
  readonly since: number
  /** Bytes from the peer (aToB) and to it (bToA), live. */
  readonly bytes: { aToB: number; bToA: number }
  /** Set when a re-check closed it: the refusal (for its outcome entry). */
  dropped?: ConnectionRefusal
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

export const DEFAULT_MAX_CONNECTIONS = 1024
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 64
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000
/**
 * Stream buffer per socket direction, in bytes (256 KiB). Node's default of 16 KiB pauses the
 * source after every 64 KiB read, so a chain of four processes moves one chunk per scheduling
 * round; a deeper buffer keeps the pipeline full. Bounded: about 512 KiB per socket.
 */
export const SOCKET_HIGH_WATER_MARK = 256 * 1024

/** Connect to `target` within `timeoutMs`; a PeerguardError with a proxy code otherwise. */
export function connectTarget(target: HostPort, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      readableHighWaterMark: SOCKET_HIGH_WATER_MARK,
      writableHighWaterMark: SOCKET_HIGH_WATER_MARK
    } as NetConnectOpts)
    const timer = setTimeout(() => {
      s.destroy()
      reject(new ProxyTargetTimeoutError(`connecting to ${formatHostPort(target)} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      s.destroy()
      reject(
        new ProxyTargetUnreachableError(`cannot connect to ${formatHostPort(target)}: ${err.code ?? err.message}`, { cause: err })
      )
    })
  })
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

/**
 * The server end: accepts peerguard channels (Noise, or TLS 1.3 with `tls`), authenticates the
 * peer's certificate, asks the policy about `service:<name>`, connects to the target and splices
 * both ways. Refused peers get an ALERT whose reason starts with the refusal code (`deny-rule`,
 * `proxy-target-unreachable`, `proxy-too-many-peer-connections`…) — with TLS the connection is
 * only closed. Events: `connection` (peer, channel), `refused` (PeerguardError, peer?),
 * `closed` (peer, stats), `reload` (), `reloadError` (PeerguardError).
 */
export class ProxyServer extends EventEmitter {
  readonly server: Server
  readonly target: HostPort
  readonly resource: string
  readonly action: string
  readonly #listen: HostPort
  readonly #o: ProxyServerOptions
  #config: ProxyConfig
  readonly #maxConnections: number
  readonly #maxPerPeer: number
  readonly #idleMs: number
  readonly #connectMs: number
  readonly #handshakeMs: number
  readonly #handshakes: HandshakeLimiter
  readonly #log: Logger
  readonly #sockets = new Set<Socket>()
  readonly #perPeer = new Map<string, number>()
  readonly #splices = new Set<Promise<unknown>>()
  readonly #open = new Set<OpenConnection>()
  /** Counts recheck() calls: a handshake that overlapped one is checked again as it registers. */
  #recheckEpoch = 0
  #closed = false
  /** Refusals before authentication: counted per address and minute, not logged one by one. */
  readonly #refusals: RefusalSummarizer | undefined
  #accepted = 0
  #refused = 0
  #bytesIn = 0
  #bytesOut = 0

  constructor(options: ProxyServerOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
    this.target = parseHostPort(options.target, 'options.target')
    if (this.target.port === 0) throw new InvalidArgumentError('options.target: port 0 is not a service port')
    this.#listen = parseHostPort(options.listen ?? '127.0.0.1:0', 'options.listen')
    assertString('options.service', options.service, { nonEmpty: true, maxLength: 200 })
    if (!/^[A-Za-z0-9._-]+$/.test(options.service))
      throw new InvalidArgumentError(
        `options.service: expected a name of letters, digits, '.', '_' and '-', got ${JSON.stringify(options.service)}`
      )
    this.resource = `service:${options.service}`
    this.action = options.action ?? 'get'
    assertString('options.action', this.action, { nonEmpty: true, maxLength: 32 })
    checkConfig(options.config, true)
    if (options.loadConfig !== undefined && typeof options.loadConfig !== 'function')
      throw new InvalidArgumentError('options.loadConfig: expected a function')
    if (options.decisionLog !== undefined && typeof options.decisionLog?.append !== 'function')
      throw new InvalidArgumentError('options.decisionLog: expected { append(record) }')
    if (options.connectionCheck !== undefined && typeof options.connectionCheck !== 'function')
      throw new InvalidArgumentError('options.connectionCheck: expected a function')
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.#maxPerPeer = options.maxConnectionsPerPeer ?? DEFAULT_MAX_CONNECTIONS_PER_PEER
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.#connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.#handshakeMs = options.handshakeTimeoutMs ?? 10_000
    assertInteger('options.maxConnections', this.#maxConnections, 1, 1_000_000)
    assertInteger('options.maxConnectionsPerPeer', this.#maxPerPeer, 1, 1_000_000)
    assertInteger('options.idleTimeoutMs', this.#idleMs, 0, 86_400_000)
    assertInteger('options.connectTimeoutMs', this.#connectMs, 1, 600_000)
    assertInteger('options.handshakeTimeoutMs', this.#handshakeMs, 1, 600_000)
    this.#handshakes = new HandshakeLimiter(options.handshakeLimits ?? {})
    this.#o = options
    this.#config = options.config
    this.#log = options.logger ?? silentLogger
    this.#refusals = options.decisionLog === undefined ? undefined : new RefusalSummarizer(options.decisionLog)
    this.server = createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: SOCKET_HIGH_WATER_MARK }, (socket) =>
      this.#onSocket(socket)
    )
  }

  /** The configuration new connections use. */
  get config(): ProxyConfig {
    return this.#config
  }

  get stats(): ProxyStats {
    return {
      active: this.#sockets.size,
      accepted: this.#accepted,
      refused: this.#refused,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut
    }
  }

  /** The relayed connections now: peer, since when, bytes each way. */
  connections(): ProxyConnectionInfo[] {
    return [...this.#open].map((c) => ({ peer: c.peer, since: c.since, bytesIn: c.bytes.aToB, bytesOut: c.bytes.bToA }))
  }

  /** Start listening; resolves to the bound address. */
  listen(): Promise<AddressInfo> {
    return listenOn(this.server, this.#listen)
  }

  /**
   * Re-read certificate, key, trust store/CRLs and policy for new connections, then `recheck()`
   * the established ones (a peer now revoked or denied is closed). A bad new file throws
   * ProxyReloadError and the old configuration stays.
   */
  async reload(): Promise<void> {
    try {
      if (this.#o.loadConfig !== undefined) {
        const next = await this.#o.loadConfig()
        checkConfig(next, true)
        this.#config = next
      } else {
        await this.#config.trust.reload()
      }
    } catch (err) {
      const e = new ProxyReloadError(`reload failed, keeping the previous configuration: ${(err as Error).message}`, {
        cause: err
      })
      this.emit('reloadError', e)
      throw e
    }
    this.emit('reload')
    await this.recheck()
  }

  /**
   * Re-decide every established connection under the configuration in force: `connectionCheck`
   * (trust, CRLs), then the policy for this service. A refused connection is closed in this same
   * turn (channel and target), logged as a `refused` connection decision with the code, and
   * emitted as `dropped` (peer, code, reason). Resolves to the number of connections closed.
   * `{ trust: false }` (only the policy changed) skips `connectionCheck`.
   */
  async recheck(options: { trust?: boolean } = {}): Promise<number> {
    this.#recheckEpoch++
    const dropped: Array<{ conn: OpenConnection; refusal: ConnectionRefusal }> = []
    for (const conn of this.#open) {
      const refusal = this.#recheckOne(conn.peer, options.trust !== false)
      if (refusal !== undefined) dropped.push({ conn, refusal })
    }
    for (const { conn, refusal } of dropped) {
      this.#open.delete(conn)
      conn.dropped = refusal
      conn.channel.destroy()
      conn.target.destroy()
      this.#record({
        event: 'refused',
        code: refusal.code,
        reason: `open connection closed: ${refusal.reason}`,
        peer: logPeer(conn.peer)
      })
      this.emit('dropped', conn.peer, refusal)
    }
    return dropped.length
  }

  #recheckOne(peer: PeerInfo, trust = true): ConnectionRefusal | undefined {
    try {
      const refusal = trust ? this.#o.connectionCheck?.(peer) : undefined
      if (refusal !== undefined) return refusal
      const policy = this.#config.policy
      if (policy === undefined) return { code: 'deny-default', reason: 'no policy configured' }
      const d = policy.decide({
        peer: {
          peerId: peer.peerId,
          ...(peer.name === undefined ? {} : { name: peer.name }),
          groups: peer.groups,
          ...(peer.address === undefined ? {} : { address: peer.address })
        },
        action: this.action,
        resource: this.resource,
        context: { encrypted: true }
      })
      return d.allowed ? undefined : { code: d.code, reason: d.reason }
    } catch (err) {
      // a check that cannot decide refuses (fail closed)
      return { code: err instanceof PeerguardError ? err.code : 'internal', reason: (err as Error).message }
    }
  }

  /** Stop accepting; with `{ drain: false }` (default) also abort established connections. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    this.#closed = true
    const closing = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()))
    if (options.drain !== true) for (const s of this.#sockets) s.destroy(new ProxyClosedError())
    await Promise.allSettled([...this.#splices])
    await closing
    await this.#refusals?.close()
  }

  #entry(d: Omit<ConnectionDecision, 'kind' | 'mode' | 'resource' | 'action'>): ConnectionDecision {
    return {
      kind: 'connection',
      mode: this.#o.tls === true ? 'tls' : 'noise',
      resource: this.resource,
      action: this.action,
      ...d
    }
  }

  /**
   * Count and log a decision; refusals are also appended to the decision log (they refuse
   * whether or not the append succeeds). Acceptances were appended by the gate before the
   * target was connected (`logged`).
   */
  #record(d: Omit<ConnectionDecision, 'kind' | 'mode' | 'resource' | 'action'>, logged = false): void {
    const entry = this.#entry(d)
    if (d.event === 'accepted') this.#accepted++
    else this.#refused++
    this.#log.info(`proxy ${d.event}`, { code: d.code, peer: d.peer?.peerId, address: d.peer?.address })
    if (d.event === 'refused' && d.peer?.peerId === undefined && this.#refusals !== undefined) {
      // nobody authenticated: count it, so a flood of bad handshakes cannot grow the log
      const address = d.peer?.address ?? 'unknown'
      const colon = address.lastIndexOf(':')
      this.#refusals.refused(colon > 0 ? address.slice(0, colon) : address, d.code)
      return
    }
    if (logged) return
    recordOrRefuse(this.#o.decisionLog, entry).catch((err: unknown) => {
      this.#log.error('decision log append failed', { error: (err as Error).message })
    })
  }

  #onSocket(socket: Socket): void {
    socket.on('error', () => {})
    const address = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
    if (this.#closed || this.#sockets.size >= this.#maxConnections) {
      const err = this.#closed
        ? new ProxyClosedError()
        : new ProxyTooManyConnectionsError(`at the limit of ${this.#maxConnections} connections`)
      this.#record({
        event: 'refused',
        code: err.code,
        reason: err.message,
        ...(address === undefined ? {} : { peer: { address } })
      })
      this.emit('refused', err, undefined)
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    const work = this.#serve(socket)
    this.#splices.add(work)
    void work.finally(() => this.#splices.delete(work))
  }

  async #serve(socket: Socket): Promise<void> {
    const config = this.#config // a reload mid-handshake does not mix two configurations
    const epoch = this.#recheckEpoch
    let target: Socket | undefined
    let gatePeer: PeerInfo | undefined
    let allowReason = ''
    let acceptedSeq: number | undefined
    let counted: string | undefined
    let abandoned = false
    const authorize = async (peer: PeerInfo): Promise<AuthorizeResult> => {
      gatePeer = peer
      const n = this.#perPeer.get(peer.peerId) ?? 0
      if (n >= this.#maxPerPeer)
        return {
          allowed: false,
          code: 'proxy-too-many-peer-connections',
          reason: `peer has ${n} connections (limit ${this.#maxPerPeer})`
        }
      if (config.policy === undefined) return { allowed: false, code: 'deny-default', reason: 'no policy configured' }
      const d = config.policy.decide({
        peer: {
          peerId: peer.peerId,
          ...(peer.name === undefined ? {} : { name: peer.name }),
          groups: peer.groups,
          ...(peer.address === undefined ? {} : { address: peer.address })
        },
        action: this.action,
        resource: this.resource,
        context: { encrypted: true }
      })
      if (!d.allowed) return { allowed: false, code: d.code, reason: d.reason }
      allowReason = d.reason
      // Count before connecting so a burst from one peer cannot exceed the limit.
      this.#perPeer.set(peer.peerId, n + 1)
      counted = peer.peerId
      // Fail closed: the acceptance is in the decision log before the target is connected;
      // a decision that cannot be written refuses the connection (`log-unavailable`).
      try {
        const written = await recordOrRefuse(
          this.#o.decisionLog,
          this.#entry({ event: 'accepted', code: 'allow', reason: d.reason, peer: logPeer(peer) })
        )
        const seq = (written as { seq?: unknown } | undefined)?.seq
        if (typeof seq === 'number') acceptedSeq = seq
      } catch (err) {
        const e = err as PeerguardError
        return { allowed: false, code: e.code, reason: e.message }
      }
      let connected: Socket
      try {
        connected = await connectTarget(this.target, this.#connectMs)
      } catch (err) {
        const e = err as PeerguardError
        return { allowed: false, code: e.code, reason: e.message }
      }
      if (abandoned) {
        // the handshake deadline passed while the target was connecting: do not leak the socket
        connected.destroy()
        return { allowed: false, code: 'channel-handshake-timeout', reason: 'the handshake timed out' }
      }
      if (this.#o.proxyProtocol === true) connected.write(proxyHeaderFor(socket, peer))
      target = connected
      return { allowed: true }
    }
    const release = (): void => {
      if (counted === undefined) return
      const n = (this.#perPeer.get(counted) ?? 1) - 1
      if (n <= 0) this.#perPeer.delete(counted)
      else this.#perPeer.set(counted, n)
      counted = undefined
    }
    let channel: SecureChannel
    try {
      const opts = {
        identity: config.identity,
        chain: config.chain,
        trust: config.trust,
        authorize,
        handshakeTimeoutMs: this.#handshakeMs
      }
      channel = await this.#handshakes.run<SecureChannel>(socket, () =>
        this.#o.tls === true ? secureTlsInbound(socket, opts) : secureInbound(socket, opts)
      )
    } catch (err) {
      abandoned = true
      release()
      target?.destroy()
      const e = err instanceof PeerguardError ? err : new PeerguardError('internal', String(err), { cause: err })
      const decision = typeof e.details?.decision === 'string' ? e.details.decision : e.code
      const reason = typeof e.details?.reason === 'string' ? e.details.reason : e.message
      const from = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
      const who = gatePeer !== undefined ? logPeer(gatePeer) : from === undefined ? undefined : { address: from }
      this.#record({ event: 'refused', code: decision, reason, ...(who === undefined ? {} : { peer: who }) })
      this.emit('refused', e, gatePeer)
      return
    }
    if (target === undefined) {
      // cannot happen: the gate either connected or refused
      channel.destroy()
      release()
      return
    }
    const peer = channel.remotePeer
    // Trust or policy may have changed during the handshake: decide again in the turn that registers it.
    const late = epoch === this.#recheckEpoch ? undefined : this.#recheckOne(peer)
    if (late !== undefined) {
      channel.destroy()
      target.destroy()
      release()
      this.#record({ event: 'refused', code: late.code, reason: late.reason, peer: logPeer(peer) })
      this.emit('refused', new PeerguardError('channel-unauthorized', late.reason, { details: { decision: late.code } }), peer)
      return
    }
    const open: OpenConnection = { peer, channel, target, since: Date.now(), bytes: { aToB: 0, bToA: 0 } }
    this.#open.add(open)
    this.#record({ event: 'accepted', code: 'allow', reason: allowReason, peer: logPeer(peer) }, true)
    this.emit('connection', peer, channel)
    channel.on('error', () => {})
    target.on('error', () => {})
    if (this.#closed) channel.destroy(new ProxyClosedError())
    let stats: SplicedStats
    try {
      stats = await splice(channel, target, { idleTimeoutMs: this.#idleMs, live: open.bytes })
    } finally {
      this.#open.delete(open)
      release()
    }
    this.#bytesIn += stats.aToB
    this.#bytesOut += stats.bToA
    await this.#outcome(open, stats, acceptedSeq)
    this.emit('closed', peer, stats)
  }

  /**
   * The one outcome entry of a relayed connection, after it closed: `ok` when both directions
   * ended or the target closed, else `failed` with the code (an idle timeout, an abort, a reload
   * that closed it); bytes each way and how long. A failure to write is logged, not thrown: the
   * connection is over and its acceptance is on the record.
   */
  async #outcome(open: OpenConnection, stats: SplicedStats, seq: number | undefined): Promise<void> {
    if (this.#o.decisionLog === undefined) return
    const record = connectionOutcome(
      {
        peer: logPeer(open.peer),
        resource: this.resource,
        since: open.since,
        ...(open.dropped === undefined ? {} : { dropped: open.dropped }),
        ...(seq === undefined ? {} : { acceptedSeq: seq })
      },
      stats
    )
    try {
      await recordOrRefuse(this.#o.decisionLog, record)
    } catch (e) {
      this.#log.error('decision log append failed', { error: (e as Error).message })
    }
  }
}

/** The PROXY v2 header for a relayed connection: the peer's socket address, the proxy's, the peer's TLVs. */
function proxyHeaderFor(socket: Socket, peer: PeerInfo): Uint8Array {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  const known = remoteAddress !== undefined && remotePort !== undefined && localAddress !== undefined && localPort !== undefined
  return encodeProxyV2({
    ...(known
      ? { source: { address: remoteAddress, port: remotePort }, destination: { address: localAddress, port: localPort } }
      : {}),
    tlvs: peerTlvs(peer)
  })
}

function logPeer(p: PeerInfo): NonNullable<ConnectionDecision['peer']> {
  return {
    peerId: p.peerId,
    ...(p.name === undefined ? {} : { name: p.name }),
    groups: [...p.groups],
    ...(p.address === undefined ? {} : { address: p.address })
  }
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

/** A proxy server (see ProxyServer); call `listen()` to start. */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  return new ProxyServer(options)
}
