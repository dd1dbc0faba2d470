import { Duplex } from 'node:stream'

/** One end of an in-memory connection (see duplexPair). */
class MemoryEnd extends Duplex {
  peer: MemoryEnd | undefined
  /** The peer's pending write, waiting for this end's reader to want more. */
  waiting: (() => void) | undefined

  constructor() {
    super({ allowHalfOpen: true })
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const peer = this.peer
    if (peer === undefined || peer.destroyed) {
      callback(Object.assign(new Error('write after the other end closed'), { code: 'EPIPE' }))
      return
    }
    if (peer.push(chunk)) callback()
    else peer.waiting = () => callback()
  }

  override _read(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.peer !== undefined && !this.peer.destroyed) this.peer.push(null)
    callback()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    const w = this.waiting
    this.waiting = undefined
    w?.()
    if (peer !== undefined && !peer.destroyed) process.nextTick(() => peer.destroy())
    callback(err)
  }
}

/**
 * Two connected in-memory Duplex streams, like the two ends of a TCP connection: what one writes
 * the other reads, with backpressure, half-close (`end()` gives the other an `end`), and
 * `destroy()` closing both ends.
 */
export function duplexPair(): [Duplex, Duplex] {
  const a = new MemoryEnd()
  const b = new MemoryEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}
