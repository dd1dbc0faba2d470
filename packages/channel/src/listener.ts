import { EventEmitter } from 'node:events'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { assertInteger, InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import type { NoiseChannel } from './channel.js'
import { HandshakeLimiter, type HandshakeLimits } from './handshake-limiter.js'
import { secureInbound } from './handshake.js'
import { type ChannelOptions, resolveOptions } from './options.js'

export interface ListenerOptions extends ChannelOptions, HandshakeLimits {}

/**
 * Accepts peerguard channels on a TCP port (or on sockets handed to `handle`), with bounded
 * pending handshakes so a flood of half-open connections cannot starve other peers: each
 * handshake has the channel's deadline, each remote address at most `maxPendingPerAddress`
 * handshakes, and when `maxPendingHandshakes` are in progress the oldest is dropped (a
 * HandshakeLimiter).
 *
 * Events: `channel` (NoiseChannel) for each accepted peer, `handshakeError` (PeerguardError,
 * remote address) for each refused or failed one.
 */
export class ChannelListener extends EventEmitter {
  readonly server: Server
  readonly #options: ListenerOptions
  readonly #limiter: HandshakeLimiter

  constructor(options: ListenerOptions) {
    super()
    resolveOptions(options)
    this.#limiter = new HandshakeLimiter(options)
    this.#options = options
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.handle(socket))
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#limiter.pending
  }

  /** Run the responder handshake on an accepted socket, within the pending limits. */
  handle(socket: Socket): void {
    if (typeof socket !== 'object' || socket === null || typeof socket.write !== 'function')
      throw new InvalidArgumentError('socket: expected a net.Socket')
    const address = socket.remoteAddress ?? 'unknown'
    socket.on('error', () => {}) // failures surface through secureInbound
    this.#limiter
      .run(socket, () => secureInbound(socket, this.#options))
      .then(
        (channel: NoiseChannel) => {
          if (this.listenerCount('channel') === 0) channel.destroy()
          else this.emit('channel', channel)
        },
        (err: PeerguardError) => this.#emitError(err, address)
      )
  }

  #emitError(err: PeerguardError, address: string): void {
    this.emit('handshakeError', err, address)
  }

  /** Listen on `port` and `host` (default an ephemeral port on 127.0.0.1). */
  listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    assertInteger('port', port, 0, 65535)
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new PeerguardError('io-error', `listen ${host}:${port}: ${err.message}`, { cause: err }))
      this.server.once('error', onError)
      this.server.listen(port, host, () => {
        this.server.off('error', onError)
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  /** Stop accepting, drop pending handshakes. Established channels are left to their owners. */
  close(): Promise<void> {
    this.#limiter.destroyAll()
    return new Promise((resolve) => {
      if (!this.server.listening) resolve()
      else this.server.close(() => resolve())
    })
  }
}

/** A listener that calls `onChannel` for each accepted peer (see ChannelListener). */
export function createListener(options: ListenerOptions, onChannel?: (channel: NoiseChannel) => void): ChannelListener {
  const listener = new ChannelListener(options)
  if (onChannel !== undefined) {
    if (typeof onChannel !== 'function') throw new InvalidArgumentError('onChannel: expected a function')
    listener.on('channel', onChannel)
  }
  return listener
}
