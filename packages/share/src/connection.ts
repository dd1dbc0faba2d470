import type { Duplex } from 'node:stream'
import { ShareProtocolError } from './errors.js'
import { encodeFrame, encodeJsonFrame, type Frame, FrameDecoder, type FrameTypeValue, writeAll } from './frame.js'

/**
 * Frames over a duplex, processed one at a time: while a frame's handler runs (writing an upload
 * chunk to disk, a download chunk to a file), the stream is paused, so memory stays bounded by
 * one socket buffer plus one frame.
 */
export class FrameConnection {
  readonly stream: Duplex
  #decoder = new FrameDecoder()
  #queue: Frame[] = []
  #running = false
  #closed = false
  #onFrame: (frame: Frame) => void | Promise<void>
  #onClose: (err: Error | undefined) => void
  /** Time of the last frame in either direction (ms since the epoch). */
  lastActivity = Date.now()

  constructor(stream: Duplex, onFrame: (frame: Frame) => void | Promise<void>, onClose: (err: Error | undefined) => void) {
    this.stream = stream
    this.#onFrame = onFrame
    this.#onClose = onClose
    stream.on('data', (chunk: Buffer) => this.#onData(chunk))
    stream.on('end', () => this.close())
    stream.on('close', () => this.close())
    stream.on('error', (err) => this.close(err))
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Start reading; `initial` are bytes already read past the preface. */
  start(initial?: Buffer): void {
    if (initial !== undefined && initial.length > 0) this.#onData(initial)
    this.stream.resume()
  }

  send(type: FrameTypeValue, id: number, payload?: Uint8Array): Promise<void> {
    this.lastActivity = Date.now()
    return writeAll(this.stream, encodeFrame(type, id, payload))
  }

  sendJson(type: FrameTypeValue, id: number, value: unknown): Promise<void> {
    this.lastActivity = Date.now()
    return writeAll(this.stream, encodeJsonFrame(type, id, value))
  }

  close(err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue = []
    this.stream.destroy()
    this.#onClose(err)
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return
    this.lastActivity = Date.now()
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.close(err as Error)
      return
    }
    for (const f of frames) this.#queue.push(f)
    if (!this.#running && this.#queue.length > 0) void this.#run()
  }

  async #run(): Promise<void> {
    this.#running = true
    this.stream.pause()
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const frame = this.#queue.shift() as Frame
        await this.#onFrame(frame)
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new ShareProtocolError(String(err)))
    } finally {
      this.#running = false
      if (!this.#closed) this.stream.resume()
    }
  }
}
