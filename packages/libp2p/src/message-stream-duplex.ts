import { Duplex } from 'node:stream'
import { hostPortOf } from './address.js'
import { Libp2pStreamError } from './errors.js'

/** A chunk as libp2p 3 carries it: a Uint8Array or a Uint8ArrayList (`subarray()` flattens it). */
export type Chunk = Uint8Array | { subarray(): Uint8Array; byteLength: number }

/**
 * The part of libp2p 3's `MessageStream` (@libp2p/interface 3) this package uses, declared
 * structurally so the package builds against either libp2p major.
 */
export interface MessageStreamLike {
  readonly status: string
  readonly log?: unknown
  readonly direction?: 'inbound' | 'outbound'
  readonly inactivityTimeout?: number
  readonly maxReadBufferLength?: number
  send(data: Uint8Array): boolean
  onDrain(options?: { signal?: AbortSignal }): Promise<void>
  close(options?: unknown): Promise<void>
  abort(err: Error): void
  pause(): void
  resume(): void
  addEventListener(type: string, listener: (evt: Event & { data?: Chunk; error?: Error }) => void): void
  removeEventListener(type: string, listener: (evt: Event & { data?: Chunk; error?: Error }) => void): void
}

function toBuffer(chunk: Chunk): Buffer {
  const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * A Node Duplex over libp2p 3's raw connection (a `MessageStream`), so the Duplex-based peerguard
 * channel can run on it — the libp2p 3 twin of `IterableDuplex`.
 *
 * - reading: `message` events are pushed; when `push()` says the buffer is full the stream is
 *   paused until `_read` (backpressure reaches TCP); `remoteCloseWrite` ends the readable side, a
 *   `close` event with an error destroys the Duplex;
 * - writing: `send()`; when it returns false the write completes at the stream's `drain`;
 * - `end()` leaves the connection open (libp2p closes it); `destroy(err)` aborts it.
 */
export class MessageStreamDuplex extends Duplex {
  readonly connection: MessageStreamLike
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  #paused = false
  #flushed: Array<() => void> = []
  readonly #onMessage: (evt: Event & { data?: Chunk }) => void
  readonly #onRemoteEnd: () => void
  readonly #onClose: (evt: Event & { error?: Error }) => void

  constructor(connection: MessageStreamLike) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 })
    this.connection = connection
    const hp = hostPortOf(connection)
    this.remoteAddress = hp?.host
    this.remotePort = hp?.port
    // As IterableDuplex: after the channel let go, a late transport error must not crash the process.
    this.on('error', () => {})
    this.#onMessage = (evt) => {
      if (evt.data === undefined || this.destroyed) return
      if (!this.push(toBuffer(evt.data)) && !this.#paused) {
        this.#paused = true
        try {
          connection.pause()
        } catch {
          // closing: nothing more will come
        }
      }
    }
    this.#onRemoteEnd = () => {
      if (!this.destroyed) this.push(null)
    }
    this.#onClose = (evt) => {
      if (this.destroyed) return
      if (evt.error !== undefined && evt.error !== null)
        this.destroy(new Libp2pStreamError(`the libp2p connection failed: ${evt.error.message}`, { cause: evt.error }))
      else this.push(null)
    }
    connection.addEventListener('message', this.#onMessage)
    connection.addEventListener('remoteCloseWrite', this.#onRemoteEnd)
    connection.addEventListener('close', this.#onClose)
  }

  override _read(): void {
    if (!this.#paused) return
    this.#paused = false
    try {
      this.connection.resume()
    } catch {
      // closing
    }
  }

  /** Resolves once every byte written so far was handed to the libp2p connection (or the Duplex is gone). */
  flushed(): Promise<void> {
    if (this.writableLength === 0 || this.destroyed) return Promise.resolve()
    return new Promise((resolve) => this.#flushed.push(resolve))
  }

  #checkFlushed(): void {
    queueMicrotask(() => {
      if (this.writableLength === 0 || this.destroyed) for (const f of this.#flushed.splice(0)) f()
    })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const callback = (err?: Error | null): void => {
      done(err)
      this.#checkFlushed()
    }
    let more: boolean
    try {
      more = this.connection.send(chunk)
    } catch (err) {
      callback(new Libp2pStreamError(`writing to the libp2p connection failed: ${(err as Error).message}`, { cause: err }))
      return
    }
    if (more) callback()
    else
      this.connection.onDrain().then(
        () => callback(),
        (err: Error) => callback(new Libp2pStreamError(`the libp2p connection closed: ${err?.message}`, { cause: err }))
      )
  }

  override _final(callback: (err?: Error | null) => void): void {
    callback()
  }

  /** Stop listening to the connection: the channel above no longer reads it (libp2p 3 keeps the connection). */
  detach(): void {
    this.connection.removeEventListener('message', this.#onMessage)
    this.connection.removeEventListener('remoteCloseWrite', this.#onRemoteEnd)
    this.connection.removeEventListener('close', this.#onClose)
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.detach()
    for (const f of this.#flushed.splice(0)) f()
    if (err !== null) this.connection.abort(err)
    callback(err)
  }
}
