import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { assertInteger, InvalidArgumentError } from '@peerguard/interface'
import { TooManyHandshakesError } from './errors.js'

export interface HandshakeLimits {
  /** Most handshakes in progress at once; the oldest is dropped to admit a new one. Default 128. */
  maxPendingHandshakes?: number
  /** Most handshakes in progress from one remote address (IP, any port); more are refused at once. Default 16. */
  maxPendingPerAddress?: number
}

/** SPEC.md §3.6: pending handshakes per listener. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 128
/** SPEC.md §3.6: pending handshakes per remote address. */
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 16

interface Pending {
  socket: Duplex
  address: string
  evicted: boolean
}

/**
 * The pending-handshake limits of a listener (SPEC.md §3.6), usable by any server that runs its
 * own accept loop: each remote address may have at most `maxPendingPerAddress` handshakes in
 * progress (the next one is closed at once with `channel-too-many-handshakes`), and when
 * `maxPendingHandshakes` are in progress the oldest is dropped to admit a new one. The handshake
 * deadline itself is the channel's (`handshakeTimeoutMs`). One limiter is shared by every
 * connection of a server; the channel listener, the share server's channel transport and the
 * proxy server use it.
 */
export class HandshakeLimiter {
  readonly maxPending: number
  readonly maxPerAddress: number
  readonly #pending = new Set<Pending>()
  readonly #perAddress = new Map<string, number>()

  constructor(limits: HandshakeLimits = {}) {
    if (typeof limits !== 'object' || limits === null)
      throw new InvalidArgumentError('limits: expected { maxPendingHandshakes?, maxPendingPerAddress? }')
    const maxPending = limits.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES
    const maxPerAddress = limits.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS
    assertInteger('options.maxPendingHandshakes', maxPending, 1, 1_000_000)
    assertInteger('options.maxPendingPerAddress', maxPerAddress, 1, 1_000_000)
    this.maxPending = maxPending
    this.maxPerAddress = maxPerAddress
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending.size
  }

  /** Handshakes in progress from `address` (an IP address as `socket.remoteAddress` gives it). */
  pendingFrom(address: string): number {
    return this.#perAddress.get(address) ?? 0
  }

  /**
   * Run `handshake` for `socket` within the limits. Over the per-address limit the socket is
   * destroyed at once and the promise rejects with TooManyHandshakesError (details: address,
   * limit); a handshake dropped to admit a newer one rejects with TooManyHandshakesError whose
   * cause is the handshake's own error. Otherwise resolves or rejects as `handshake` does.
   */
  run<T>(socket: Duplex | Socket, handshake: () => Promise<T>): Promise<T> {
    if (typeof socket !== 'object' || socket === null || typeof socket.destroy !== 'function')
      throw new InvalidArgumentError('socket: expected a net.Socket or Duplex stream')
    if (typeof handshake !== 'function') throw new InvalidArgumentError('handshake: expected a function')
    const address = (socket as { remoteAddress?: string }).remoteAddress ?? 'unknown'
    const count = this.#perAddress.get(address) ?? 0
    if (count >= this.maxPerAddress) {
      socket.destroy()
      return Promise.reject(
        new TooManyHandshakesError(`too many pending handshakes from ${address} (limit ${this.maxPerAddress})`, {
          details: { address, limit: this.maxPerAddress }
        })
      )
    }
    if (this.#pending.size >= this.maxPending) {
      const oldest = this.#pending.values().next().value as Pending
      oldest.evicted = true
      oldest.socket.destroy()
      this.#release(oldest) // its slot is free now, even before its handshake notices
    }
    const entry: Pending = { socket, address, evicted: false }
    this.#pending.add(entry)
    this.#perAddress.set(address, count + 1)
    let started: Promise<T>
    try {
      started = handshake()
    } catch (err) {
      started = Promise.reject(err)
    }
    return started.then(
      (value) => {
        this.#release(entry)
        return value
      },
      (err: unknown) => {
        this.#release(entry)
        if (!entry.evicted) throw err
        throw new TooManyHandshakesError(`handshake dropped: ${this.maxPending} handshakes were pending`, {
          cause: err,
          details: { address, limit: this.maxPending }
        })
      }
    )
  }

  /** Drop every pending handshake (a server that closes). */
  destroyAll(): void {
    for (const p of this.#pending) p.socket.destroy()
  }

  #release(entry: Pending): void {
    if (!this.#pending.delete(entry)) return
    const n = (this.#perAddress.get(entry.address) ?? 1) - 1
    if (n <= 0) this.#perAddress.delete(entry.address)
    else this.#perAddress.set(entry.address, n)
  }
}
