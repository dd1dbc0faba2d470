import { Duplex } from 'node:stream'
import type { Uint8ArrayList } from 'uint8arraylist'
import { hostPortOf } from './address.js'
import { Libp2pStreamError } from './errors.js'

/** The it-stream duplex libp2p 2 hands a connection encrypter (a MultiaddrConnection or its mss-unwrapped view). */
export interface IterableConnection {
  source: AsyncIterable<Uint8Array | Uint8ArrayList>
  sink(source: AsyncIterable<Uint8Array | Uint8ArrayList>): Promise<void>
  close?(options?: unknown): Promise<void>
  abort?(err: Error): void
}

function toBuffer(chunk: Uint8Array | Uint8ArrayList): Buffer {
  const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

interface Pending {
  chunks: Buffer[]
  callback: (err?: Error | null) => void
}

/**
 * A Node Duplex over a libp2p it-stream duplex (`{ source, sink }`), so the Duplex-based peerguard
 * channel can run on libp2p's raw connection.
 *
 * - reading: one loop pulls `source` and pushes into the Duplex; when `push()` says the buffer is
 *   full the loop waits for `_read` (backpressure reaches TCP through the pull);
 * - writing: `sink` is given one generator for the connection's life; a write's callback runs when
 *   libp2p pulled its bytes, so at most one write is in flight (backpressure again);
 * - `end()` ends that generator (the transport then sends FIN); `destroy(err)` aborts the connection.
 *
 * `remoteAddress` / `remotePort` come from the connection's multiaddr when it has them.
 */
export class IterableDuplex extends Duplex {
  readonly connection: IterableConnection
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  #resumeRead: (() => void) | undefined
  #queue: Pending[] = []
  #wake: (() => void) | undefined
  #writeEnded = false
  #flushed: Array<() => void> = []
  #iterator: AsyncIterator<Uint8Array | Uint8ArrayList> | undefined

  constructor(connection: IterableConnection) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 })
    this.connection = connection
    const hp = hostPortOf(connection)
    this.remoteAddress = hp?.host
    this.remotePort = hp?.port
    // The channel above listens for errors while it owns the socket; after it let go (a refused
    // handshake, a gater denial) a late transport error must not become an uncaught exception.
    this.on('error', () => {})
    this.#readLoop().catch(() => {})
    connection.sink(this.#outgoing()).catch((err: Error) => {
      this.destroy(new Libp2pStreamError(`writing to the libp2p connection failed: ${err?.message}`, { cause: err }))
    })
  }

  async #readLoop(): Promise<void> {
    try {
      const it = this.connection.source[Symbol.asyncIterator]()
      this.#iterator = it
      while (!this.destroyed) {
        const r = await it.next()
        if (r.done === true) break
        if (this.destroyed) return
        if (!this.push(toBuffer(r.value))) {
          await new Promise<void>((resolve) => {
            this.#resumeRead = resolve
          })
        }
      }
      if (!this.destroyed) this.push(null)
    } catch (err) {
      if (!this.destroyed)
        this.destroy(new Libp2pStreamError(`reading the libp2p connection failed: ${(err as Error)?.message}`, { cause: err }))
    }
  }

  async *#outgoing(): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        const next = this.#queue.shift()
        if (next !== undefined) {
          // The consumer asked for the next chunk: the previous write is taken, this one is next.
          for (let i = 0; i < next.chunks.length; i++) {
            if (i === next.chunks.length - 1) next.callback()
            yield next.chunks[i] as Buffer
          }
          continue
        }
        this.#notifyFlushed()
        if (this.#writeEnded || this.destroyed) return
        await new Promise<void>((resolve) => {
          this.#wake = resolve
        })
      }
    } finally {
      this.#writeEnded = true
      for (const p of this.#queue.splice(0)) p.callback(new Libp2pStreamError('the libp2p connection stopped taking data'))
      this.#notifyFlushed()
    }
  }

  #notifyFlushed(): void {
    for (const f of this.#flushed.splice(0)) f()
  }

  #wakeWriter(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  /** Resolves once libp2p has taken every byte written so far (or the writer stopped). */
  flushed(): Promise<void> {
    if (this.#queue.length === 0 || this.#writeEnded) return Promise.resolve()
    return new Promise((resolve) => this.#flushed.push(resolve))
  }

  override _read(): void {
    const r = this.#resumeRead
    this.#resumeRead = undefined
    r?.()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback)
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    if (this.#writeEnded) {
      callback(new Libp2pStreamError('the libp2p connection is closed for writing'))
      return
    }
    this.#queue.push({ chunks: chunks.map((c) => c.chunk), callback })
    this.#wakeWriter()
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#writeEnded = true
    this.#wakeWriter()
    callback()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#writeEnded = true
    this.#wakeWriter()
    this._read()
    for (const p of this.#queue.splice(0)) p.callback(err ?? new Libp2pStreamError('destroyed'))
    if (err !== null) this.connection.abort?.(err)
    else this.#iterator?.return?.().catch(() => {})
    callback(err)
  }
}
