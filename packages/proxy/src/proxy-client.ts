import { EventEmitter } from 'node:events'
import { type AddressInfo, createServer, isIP, type Server, type Socket } from 'node:net'
import { type KnownPeers, secureOutbound } from '@peerguard/channel'
import { peerIdFromString } from '@peerguard/identity'
import { assertInteger, InvalidArgumentError, PeerguardError, type SecureChannel } from '@peerguard/interface'
import { formatHostPort, type HostPort, listenOn, parseHostPort } from './address.js'
import type { ProxyConfig } from './config.js'
import {
  ProxyClosedError,
  ProxyDeniedError,
  ProxyTargetTimeoutError,
  ProxyTargetUnreachableError,
  ProxyTooManyConnectionsError,
  ProxyTooManyPeerConnectionsError
} from './errors.js'
import { closeProxyEnd, nextConfig } from './lifecycle.js'
import { type SplicedStats, splice } from './pipe.js'
import { connectTarget, DEFAULT_CONNECT_TIMEOUT_MS, SOCKET_HIGH_WATER_MARK } from './connect-target.js'
import { checkConfig, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, type ProxyStats } from './server-options.js'
import { secureTlsOutbound } from '@peerguard/channel/tls'

export interface ProxyClientOptions {
  /** Local address for plain TCP clients. Default `127.0.0.1:0`. */
  listen?: string | HostPort
  /** Allow a non-loopback listen address (anyone who reaches it uses this end's identity). Default false. */
  allowRemoteClients?: boolean
  /** The remote proxy server, `HOST:PORT`. Required. */
  connect: string | HostPort
  /** Identity, certificate chain and trust store (`policy` is not used). Required. */
  config: ProxyConfig
  /** Re-reads the configuration for `reload()`. Default: none. */
  loadConfig?: () => Promise<ProxyConfig>
  /** Refuse the server unless it has this peer ID (pinning). Overrides `knownPeers`. Default: any peer the trust store accepts. */
  expectedPeerId?: string
  /**
   * Hold the server to a known-peers entry, `proxy@<host>:<port>` of `connect` unless `name` is
   * given: the first server seen is recorded (unless `trustOnFirstUse: false`), a later different
   * one is refused with `channel-known-peer-changed`, like SSH's known_hosts. Default: none.
   */
  knownPeers?: { store: KnownPeers; name?: string; trustOnFirstUse?: boolean }
  /** Speak TLS 1.3 instead of the peerguard Noise channel. Default false. */
  tls?: boolean
  /** Most local connections at once. Default 1024. */
  maxConnections?: number
  /** Abort a connection idle for this long, ms; 0 = never. Default 600000. */
  idleTimeoutMs?: number
  /** Deadline to reach the server, ms. Default 5000. */
  connectTimeoutMs?: number
  /** Deadline for the channel handshake, ms. Default 10000. */
  handshakeTimeoutMs?: number
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/**
 * The client end: listens for plain TCP on a local port and carries each connection to the remote
 * proxy server over a peerguard channel. A connection the server refuses (or cannot carry on to
 * its target) is reset locally. Events: `connection` (channel), `refused` (PeerguardError),
 * `closed` (stats), `reload`, `reloadError`.
 */
export class ProxyClient extends EventEmitter {
  readonly server: Server
  readonly remote: HostPort
  readonly #listen: HostPort
  readonly #o: ProxyClientOptions
  #config: ProxyConfig
  readonly #expected: string | undefined
  readonly #max: number
  readonly #idleMs: number
  readonly #connectMs: number
  readonly #handshakeMs: number
  readonly #sockets = new Set<Socket>()
  readonly #work = new Set<Promise<unknown>>()
  #closed = false
  #accepted = 0
  #refused = 0
  #bytesIn = 0
  #bytesOut = 0

  constructor(options: ProxyClientOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
    this.remote = parseHostPort(options.connect, 'options.connect')
    if (this.remote.port === 0) throw new InvalidArgumentError('options.connect: port 0 is not a server port')
    this.#listen = parseHostPort(options.listen ?? '127.0.0.1:0', 'options.listen')
    if (!isLoopback(this.#listen.host) && options.allowRemoteClients !== true)
      throw new InvalidArgumentError(
        `options.listen: ${this.#listen.host} is not a loopback address; anyone who reaches it would use this identity (set allowRemoteClients to mean it)`
      )
    checkConfig(options.config, false)
    if (options.expectedPeerId !== undefined) {
      try {
        this.#expected = peerIdFromString(options.expectedPeerId).toString()
      } catch (err) {
        throw new InvalidArgumentError(`options.expectedPeerId: ${(err as Error).message}`, { cause: err })
      }
    }
    this.#max = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.#connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.#handshakeMs = options.handshakeTimeoutMs ?? 10_000
    assertInteger('options.maxConnections', this.#max, 1, 1_000_000)
    assertInteger('options.idleTimeoutMs', this.#idleMs, 0, 86_400_000)
    assertInteger('options.connectTimeoutMs', this.#connectMs, 1, 600_000)
    assertInteger('options.handshakeTimeoutMs', this.#handshakeMs, 1, 600_000)
    if (options.loadConfig !== undefined && typeof options.loadConfig !== 'function')
      throw new InvalidArgumentError('options.loadConfig: expected a function')
    if (options.knownPeers !== undefined && typeof options.knownPeers?.store?.check !== 'function')
      throw new InvalidArgumentError('options.knownPeers: expected { store: KnownPeers, name?, trustOnFirstUse? }')
    this.#o = options
    this.#config = options.config
    this.server = createServer(
      { allowHalfOpen: true, pauseOnConnect: true, noDelay: true, highWaterMark: SOCKET_HIGH_WATER_MARK },
      (s) => this.#onSocket(s)
    )
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

  listen(): Promise<AddressInfo> {
    return listenOn(this.server, this.#listen)
  }

  /** Re-read identity, certificate and trust for new connections (see ProxyServer.reload). */
  async reload(): Promise<void> {
    try {
      this.#config = await nextConfig(this.#o, this.#config, false)
    } catch (err) {
      const e = new PeerguardError(
        'proxy-reload-failed',
        `reload failed, keeping the previous configuration: ${(err as Error).message}`,
        { cause: err }
      )
      this.emit('reloadError', e)
      throw e
    }
    this.emit('reload')
  }

  async close(options: { drain?: boolean } = {}): Promise<void> {
    this.#closed = true
    await closeProxyEnd(this.server, this.#sockets, this.#work, options.drain === true)
  }

  #onSocket(local: Socket): void {
    local.on('error', () => {})
    if (this.#closed || this.#sockets.size >= this.#max) {
      this.#refused++
      this.emit(
        'refused',
        this.#closed ? new ProxyClosedError() : new ProxyTooManyConnectionsError(`at the limit of ${this.#max} connections`)
      )
      local.resetAndDestroy()
      return
    }
    this.#sockets.add(local)
    local.once('close', () => this.#sockets.delete(local))
    const w = this.#carry(local)
    this.#work.add(w)
    void w.finally(() => this.#work.delete(w))
  }

  async #carry(local: Socket): Promise<void> {
    const config = this.#config
    let channel: SecureChannel
    try {
      const socket = await connectTarget(this.remote, this.#connectMs)
      const opts = {
        identity: config.identity,
        chain: config.chain,
        trust: config.trust,
        handshakeTimeoutMs: this.#handshakeMs,
        ...(this.#expected === undefined ? {} : { expectedPeerId: this.#expected })
      }
      const known = this.#expected === undefined ? this.#o.knownPeers : undefined
      const name = known?.name ?? `proxy@${formatHostPort(this.remote)}`
      const trustOnFirstUse = known?.trustOnFirstUse !== false
      if (this.#o.tls === true) {
        channel = await secureTlsOutbound(socket, opts)
        // TLS verifies the server after its handshake; hold it to its entry before any byte flows.
        await known?.store
          .check(name, channel.remotePeer.peerId, { certified: true, trustOnFirstUse, peerName: channel.remotePeer.name })
          .catch((err: unknown) => {
            channel.destroy()
            throw err
          })
      } else {
        const knownPeers = known === undefined ? undefined : { store: known.store, name, certified: true, trustOnFirstUse }
        channel = await secureOutbound(socket, { ...opts, ...(knownPeers === undefined ? {} : { knownPeers }) })
      }
    } catch (err) {
      this.#refused++
      this.emit('refused', refusalOf(err))
      if (!local.destroyed) local.resetAndDestroy()
      return
    }
    if (local.destroyed) {
      channel.destroy()
      return
    }
    this.#accepted++
    channel.on('error', () => {})
    this.emit('connection', channel)
    local.resume()
    const stats: SplicedStats = await splice(local, channel, { idleTimeoutMs: this.#idleMs })
    if (this.#o.tls === true && stats.error !== undefined && stats.bToA === 0 && stats.error.name !== 'ProxyIdleTimeoutError') {
      // TLS has no room for the gate's reason: a reset before any answer is how a refusal looks
      this.#refused++
      this.emit(
        'refused',
        new PeerguardError(
          'channel-refused',
          'the TLS server reset the connection before answering (refused by its policy, or its target is down: see its decision log)',
          { cause: stats.error, details: { alert: 'tls-reset', reason: stats.error.message } }
        )
      )
    }
    if (stats.error !== undefined && !local.destroyed) local.resetAndDestroy()
    this.#bytesOut += stats.aToB
    this.#bytesIn += stats.bToA
    this.emit('closed', stats)
  }
}

const REFUSALS: Record<
  string,
  new (
    message: string,
    options: { cause: unknown; details: Record<string, unknown> }
  ) => PeerguardError
> = {
  'proxy-target-unreachable': ProxyTargetUnreachableError,
  'proxy-target-timeout': ProxyTargetTimeoutError,
  'proxy-too-many-peer-connections': ProxyTooManyPeerConnectionsError
}

/**
 * Turn the server's refusal into the proxy error it stands for. The server's gate refuses with an
 * ALERT `channel-unauthorized` whose reason starts with the code (`deny-rule: …`,
 * `proxy-target-unreachable: …`); other failures keep their own code.
 */
function refusalOf(err: unknown): PeerguardError {
  if (!(err instanceof PeerguardError)) return new PeerguardError('internal', String(err), { cause: err })
  if (err.code !== 'channel-refused' || err.details?.alert !== 'channel-unauthorized') return err
  const reason = String(err.details?.reason ?? '')
  const m = /^([a-z0-9-]+): (.*)$/s.exec(reason)
  if (m === null) return err
  const [, code, text] = m as unknown as [string, string, string]
  const details = { alert: err.details.alert, decision: code, reason: text }
  if (code.startsWith('deny-')) return new ProxyDeniedError(`the server refused: ${code}: ${text}`, { cause: err, details })
  const Refusal = REFUSALS[code]
  return Refusal === undefined ? err : new Refusal(`the server refused: ${code}: ${text}`, { cause: err, details })
}

/** A proxy client (see ProxyClient); call `listen()` to start. */
export function createProxyClient(options: ProxyClientOptions): ProxyClient {
  return new ProxyClient(options)
}
