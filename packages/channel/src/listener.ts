import { EventEmitter } from 'node:events'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { assertInteger, InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import type { NoiseChannel } from './channel.js'
import { TooManyHandshakesError } from './errors.js'
import { secureInbound } from './handshake.js'
import { type ChannelOptions, resolveOptions } from './options.js'

export interface ListenerOptions extends ChannelOptions {
  /** Most handshakes in progress at once; the oldest is dropped to admit a new one. Default 128. */
  maxPendingHandshakes?: number
  /** Most handshakes in progress from one remote address; more are refused at once. Default 16. */
  maxPendingPerAddress?: number
}

export const DEFAULT_MAX_PENDING_HANDSHAKES = 128
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 16

interface Pending {
  socket: Socket
  address: string
  evicted: boolean
}

/**
 * Accepts peerguard channels on a TCP port (or on sockets handed to `handle`), with bounded
 * pending handshakes so a flood of half-open connections cannot starve other peers: each
 * handshake has the channel's deadline, each remote address at most `maxPendingPerAddress`
 * handshakes, and when `maxPendingHandshakes` are in progress the oldest is dropped.
 *
 * Events: `channel` (NoiseChannel) for each accepted peer, `handshakeError` (PeerguardError,
 * remote address) for each refused or failed one.
 */
export class ChannelListener extends EventEmitter {
  readonly server: Server
  readonly #options: ListenerOptions
  readonly #maxPending: number
  readonly #maxPerAddress: number
  readonly #pending = new Set<Pending>()
  readonly #perAddress = new Map<string, number>()

  constructor(options: ListenerOptions) {
    super()
    resolveOptions(options)
    const maxPending = options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES
    const maxPerAddress = options.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS
    assertInteger('options.maxPendingHandshakes', maxPending, 1, 1_000_000)
    assertInteger('options.maxPendingPerAddress', maxPerAddress, 1, 1_000_000)
    this.#options = options
    this.#maxPending = maxPending
    this.#maxPerAddress = maxPerAddress
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.handle(socket))
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending.size
  }

  /** Run the responder handshake on an accepted socket, within the pending limits. */
  handle(socket: Socket): void {
    if (typeof socket !== 'object' || socket === null || typeof socket.write !== 'function')
      throw new InvalidArgumentError('socket: expected a net.Socket')
    const address = socket.remoteAddress ?? 'unknown'
    socket.on('error', () => {}) // failures surface through secureInbound
    const count = this.#perAddress.get(address) ?? 0
    if (count >= this.#maxPerAddress) {
      socket.destroy()
      this.#emitError(
        new TooManyHandshakesError(`too many pending handshakes from ${address} (limit ${this.#maxPerAddress})`),
        address
      )
      return
    }
    if (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.values().next().value as Pending
      oldest.evicted = true
      oldest.socket.destroy()
    }
    const entry: Pending = { socket, address, evicted: false }
    this.#pending.add(entry)
    this.#perAddress.set(address, count + 1)
    const done = (): void => {
      if (!this.#pending.delete(entry)) return
      const n = (this.#perAddress.get(address) ?? 1) - 1
      if (n <= 0) this.#perAddress.delete(address)
      else this.#perAddress.set(address, n)
    }
    secureInbound(socket, this.#options).then(
      (channel: NoiseChannel) => {
        done()
        if (this.listenerCount('channel') === 0) channel.destroy()
        else this.emit('channel', channel)
      },
      (err: PeerguardError) => {
        done()
        const e = entry.evicted
          ? new TooManyHandshakesError(`handshake dropped: ${this.#maxPending} handshakes were pending`, { cause: err })
          : err
        this.#emitError(e, address)
      }
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
    for (const p of this.#pending) p.socket.destroy()
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
