import { EventEmitter } from 'node:events'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { HandshakeLimiter, secureInbound } from '@peerguard/channel'
import {
  type ConnectionRefusal,
  type PeerInfo,
  PeerguardError,
  type SecureChannel,
  silentLogger,
  logPeer
} from '@peerguard/interface'
import type { HostPort } from './address.js'
import { listenOn } from './address.js'
import type { ProxyConfig } from './config.js'
import { SOCKET_HIGH_WATER_MARK } from './connect-target.js'
import { ConnectionGate, decideService, type GateContext } from './connection-gate.js'
import { ConnectionRecorder } from './connection-recorder.js'
import { ProxyClosedError, ProxyReloadError, ProxyTooManyConnectionsError } from './errors.js'
import { closeProxyEnd, nextConfig } from './lifecycle.js'
import { type SplicedStats, splice } from './pipe.js'
import { type ProxyConnectionInfo, type ProxyServerOptions, type ProxyStats, resolveServerOptions } from './server-options.js'
import { secureTlsInbound } from '@peerguard/channel/tls'

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
  readonly #idleMs: number
  readonly #handshakeMs: number
  readonly #handshakes: HandshakeLimiter
  readonly #gate: GateContext
  readonly #recorder: ConnectionRecorder
  readonly #sockets = new Set<Socket>()
  readonly #splices = new Set<Promise<unknown>>()
  readonly #open = new Set<OpenConnection>()
  /** Counts recheck() calls: a handshake that overlapped one is checked again as it registers. */
  #recheckEpoch = 0
  #closed = false
  #bytesIn = 0
  #bytesOut = 0

  constructor(options: ProxyServerOptions) {
    super()
    const o = resolveServerOptions(options)
    this.target = o.target
    this.#listen = o.listen
    this.resource = o.resource
    this.action = o.action
    this.#maxConnections = o.maxConnections
    this.#idleMs = o.idleMs
    this.#handshakeMs = o.handshakeMs
    this.#handshakes = new HandshakeLimiter(options.handshakeLimits ?? {})
    this.#o = options
    this.#config = options.config
    this.#recorder = new ConnectionRecorder({
      mode: options.tls === true ? 'tls' : 'noise',
      resource: this.resource,
      action: this.action,
      decisionLog: options.decisionLog,
      log: options.logger ?? silentLogger
    })
    this.#gate = {
      target: this.target,
      resource: this.resource,
      action: this.action,
      maxPerPeer: o.maxPerPeer,
      connectMs: o.connectMs,
      proxyProtocol: options.proxyProtocol === true,
      recorder: this.#recorder,
      perPeer: new Map()
    }
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
      accepted: this.#recorder.accepted,
      refused: this.#recorder.refused,
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
      this.#config = await nextConfig(this.#o, this.#config, true)
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
      this.#recorder.record({
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
      const d = decideService(policy, peer, this.action, this.resource)
      return d.allowed ? undefined : { code: d.code, reason: d.reason }
    } catch (err) {
      // a check that cannot decide refuses (fail closed)
      return { code: err instanceof PeerguardError ? err.code : 'internal', reason: (err as Error).message }
    }
  }

  /** Stop accepting; with `{ drain: false }` (default) also abort established connections. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    this.#closed = true
    await closeProxyEnd(this.server, this.#sockets, this.#splices, options.drain === true)
    await this.#recorder.close()
  }

  #onSocket(socket: Socket): void {
    socket.on('error', () => {})
    const address = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
    if (this.#closed || this.#sockets.size >= this.#maxConnections) {
      const err = this.#closed
        ? new ProxyClosedError()
        : new ProxyTooManyConnectionsError(`at the limit of ${this.#maxConnections} connections`)
      this.#recorder.record({
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
    const gate = new ConnectionGate(this.#gate, config.policy, socket)
    let channel: SecureChannel
    try {
      const opts = {
        identity: config.identity,
        chain: config.chain,
        trust: config.trust,
        authorize: gate.authorize,
        handshakeTimeoutMs: this.#handshakeMs
      }
      channel = await this.#handshakes.run<SecureChannel>(socket, () =>
        this.#o.tls === true ? secureTlsInbound(socket, opts) : secureInbound(socket, opts)
      )
    } catch (err) {
      gate.abandon()
      gate.release()
      gate.target?.destroy()
      const e = err instanceof PeerguardError ? err : new PeerguardError('internal', String(err), { cause: err })
      const decision = typeof e.details?.decision === 'string' ? e.details.decision : e.code
      const reason = typeof e.details?.reason === 'string' ? e.details.reason : e.message
      const from = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
      const who = gate.peer !== undefined ? logPeer(gate.peer) : from === undefined ? undefined : { address: from }
      this.#recorder.record({ event: 'refused', code: decision, reason, ...(who === undefined ? {} : { peer: who }) })
      this.emit('refused', e, gate.peer)
      return
    }
    const target = gate.target
    if (target === undefined) {
      // cannot happen: the gate either connected or refused
      channel.destroy()
      gate.release()
      return
    }
    const peer = channel.remotePeer
    // Trust or policy may have changed during the handshake: decide again in the turn that registers it.
    const late = epoch === this.#recheckEpoch ? undefined : this.#recheckOne(peer)
    if (late !== undefined) {
      channel.destroy()
      target.destroy()
      gate.release()
      this.#recorder.record({ event: 'refused', code: late.code, reason: late.reason, peer: logPeer(peer) })
      this.emit('refused', new PeerguardError('channel-unauthorized', late.reason, { details: { decision: late.code } }), peer)
      return
    }
    const open: OpenConnection = { peer, channel, target, since: Date.now(), bytes: { aToB: 0, bToA: 0 } }
    this.#open.add(open)
    this.#recorder.record({ event: 'accepted', code: 'allow', reason: gate.allowReason, peer: logPeer(peer) }, true)
    this.emit('connection', peer, channel)
    channel.on('error', () => {})
    target.on('error', () => {})
    if (this.#closed) channel.destroy(new ProxyClosedError())
    let stats: SplicedStats
    try {
      stats = await splice(channel, target, { idleTimeoutMs: this.#idleMs, live: open.bytes })
    } finally {
      this.#open.delete(open)
      gate.release()
    }
    this.#bytesIn += stats.aToB
    this.#bytesOut += stats.bToA
    await this.#recorder.outcome(open, stats, gate.acceptedSeq)
    this.emit('closed', peer, stats)
  }
}

/** A proxy server (see ProxyServer); call `listen()` to start. */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  return new ProxyServer(options)
}
