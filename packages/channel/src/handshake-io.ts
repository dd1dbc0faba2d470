import type { Duplex } from 'node:stream'
import { PeerguardError } from '@peerguard/interface'
import { HandshakeInvalidError, HandshakeTimeoutError } from './errors.js'
import { FRAME_HEADER_LENGTH, FrameDecoder, MAX_FRAME_LENGTH } from './frame-decoder.js'

/**
 * Reads and writes length-prefixed handshake messages on a socket (SPEC.md §2.1), under one
 * deadline for the whole handshake. The next expected message's length limits apply as soon as
 * its 2-byte header arrives; the socket is paused while more than one message is buffered, so a
 * peer cannot make a pending handshake hold more than about one message of memory.
 */
export class HandshakeIO {
  readonly decoder: FrameDecoder
  readonly #socket: Duplex
  readonly #timer: NodeJS.Timeout
  readonly #deadline: Promise<never>
  #rejectDeadline!: (err: Error) => void
  #waiter: { resolve: (frame: Buffer) => void; reject: (err: Error) => void } | undefined
  #error: Error | undefined
  #ended = false
  #bufferLimit = FRAME_HEADER_LENGTH + MAX_FRAME_LENGTH

  constructor(socket: Duplex, timeoutMs: number) {
    this.#socket = socket
    this.decoder = new FrameDecoder(0, MAX_FRAME_LENGTH)
    this.#deadline = new Promise<never>((_, reject) => {
      this.#rejectDeadline = reject
    })
    this.#deadline.catch(() => {})
    this.#timer = setTimeout(
      () => this.fail(new HandshakeTimeoutError(`channel handshake did not finish within ${timeoutMs} ms`)),
      timeoutMs
    )
    this.#timer.unref?.()
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onClose)
    socket.on('error', this.#onError)
  }

  /** Race `p` against the handshake deadline and any socket failure. */
  guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.#deadline])
  }

  /** Set the length limits of the next expected message (checked as soon as its header is in). */
  expect(min: number, max: number): void {
    this.decoder.setLimits(min, max)
    this.#bufferLimit = FRAME_HEADER_LENGTH + Math.max(max, 64)
    this.#check()
  }

  /** The next message, whose limits were set by `expect`. */
  read(): Promise<Buffer> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    let frame: Buffer | undefined
    try {
      frame = this.decoder.nextBuffer()
    } catch (err) {
      this.fail(toHandshakeError(err))
      return Promise.reject(this.#error)
    }
    if (frame !== undefined) return Promise.resolve(frame)
    if (this.#ended) {
      this.fail(new HandshakeInvalidError('connection ended during the handshake'))
      return Promise.reject(this.#error)
    }
    this.#socket.resume()
    return this.guard(
      new Promise<Buffer>((resolve, reject) => {
        this.#waiter = { resolve, reject }
      })
    )
  }

  write(message: Uint8Array): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER_LENGTH)
    head.writeUInt16BE(message.length, 0)
    this.#socket.write(Buffer.concat([head, message]))
  }

  /**
   * Stop reading (keeps what is buffered in `decoder`); the socket stays paused. The deadline
   * timer is cancelled unless `keepDeadline` (the initiator still waits for READY under it; it
   * calls `finish()` then).
   */
  detach(keepDeadline = false): FrameDecoder {
    if (!keepDeadline) clearTimeout(this.#timer)
    this.#socket.pause()
    this.#socket.off('data', this.#onData)
    this.#socket.off('end', this.#onEnd)
    this.#socket.off('close', this.#onClose)
    this.#socket.off('error', this.#onError)
    return this.decoder
  }

  /** The handshake is over: cancel the deadline. */
  finish(): void {
    clearTimeout(this.#timer)
  }

  /** Abort: reject the pending read, stop the timer. The caller decides what happens to the socket. */
  fail(err: Error): void {
    if (this.#error !== undefined) return
    this.#error = err
    clearTimeout(this.#timer)
    this.#rejectDeadline(err)
    const w = this.#waiter
    this.#waiter = undefined
    w?.reject(err)
  }

  get failed(): Error | undefined {
    return this.#error
  }

  #onData = (chunk: Buffer): void => {
    this.decoder.push(chunk)
    this.#check()
  }

  #check(): void {
    if (this.#error !== undefined) return
    try {
      this.decoder.peekLength()
    } catch (err) {
      this.fail(toHandshakeError(err))
      this.#socket.destroy()
      return
    }
    if (this.#waiter !== undefined) {
      let frame: Buffer | undefined
      try {
        frame = this.decoder.nextBuffer()
      } catch (err) {
        this.fail(toHandshakeError(err))
        return
      }
      if (frame !== undefined) {
        const w = this.#waiter
        this.#waiter = undefined
        w.resolve(frame)
      }
    }
    if (this.decoder.buffered > this.#bufferLimit) this.#socket.pause()
  }

  #onEnd = (): void => {
    this.#ended = true
    if (this.#waiter !== undefined) this.fail(new HandshakeInvalidError('connection ended during the handshake'))
  }

  /** The socket is gone: whatever the handshake is waiting for (a message, the gate) is over. */
  #onClose = (): void => {
    this.#ended = true
    this.fail(new HandshakeInvalidError('connection closed during the handshake'))
  }

  #onError = (err: Error): void => {
    this.fail(new PeerguardError('io-error', `channel socket: ${err.message}`, { cause: err }))
  }
}

function toHandshakeError(err: unknown): Error {
  if (err instanceof PeerguardError && err.code === 'channel-frame-invalid') {
    return new HandshakeInvalidError(`handshake ${err.message}`, { cause: err, details: err.details })
  }
  return err as Error
}
