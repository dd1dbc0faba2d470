import type { Duplex } from 'node:stream'
import { ChunkQueue } from '@peerguard/interface'
import { ShareProtocolError } from './errors.js'

/** Connection preface, both directions (SPEC.md §2). */
export const PREFACE = Buffer.from('PGSHARE1', 'ascii')

/** Frame types (SPEC.md §3). */
export const FrameType = { REQUEST: 1, REPLY: 2, DATA: 3, END: 4, CANCEL: 5 } as const
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType]

/** Largest payload of any frame, in bytes (SPEC.md §3). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024
/** DATA payload size senders use, in bytes. */
export const CHUNK_BYTES = 256 * 1024
const HEADER_BYTES = 9

export interface Frame {
  readonly type: FrameTypeValue
  readonly id: number
  readonly payload: Buffer
}

/** Encode one frame header + payload as a list of buffers (no copy of the payload). */
export function encodeFrame(type: FrameTypeValue, id: number, payload: Uint8Array = Buffer.alloc(0)): Buffer[] {
  if (payload.length > MAX_PAYLOAD_BYTES)
    throw new ShareProtocolError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  header.writeUInt32BE(5 + payload.length, 0)
  header.writeUInt8(type, 4)
  header.writeUInt32BE(id, 5)
  return [header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]
}

export function encodeJsonFrame(type: FrameTypeValue, id: number, value: unknown): Buffer[] {
  return encodeFrame(type, id, Buffer.from(JSON.stringify(value), 'utf8'))
}

/** Parse a JSON payload into an object, or throw ShareProtocolError. */
export function parseJson(payload: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    throw new ShareProtocolError('frame payload is not valid JSON', { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ShareProtocolError('frame payload is not a JSON object')
  return value as Record<string, unknown>
}

/**
 * Incremental frame decoder: push bytes, take whole frames. Keeps at most one partial frame
 * (≤ 1 MiB + 9 bytes) buffered.
 */
export class FrameDecoder {
  readonly #queue = new ChunkQueue()

  push(chunk: Buffer): Frame[] {
    this.#queue.push(chunk)
    const frames: Frame[] = []
    while (this.#queue.buffered >= 4) {
      const head = this.#queue.peek(4)
      const length = head.readUInt32BE(0)
      if (length < 5 || length > 5 + MAX_PAYLOAD_BYTES) throw new ShareProtocolError(`frame length ${length} out of range`)
      if (this.#queue.buffered < 4 + length) break
      const buf = this.#queue.take(4 + length)
      const type = buf.readUInt8(4)
      if (type < 1 || type > 5) throw new ShareProtocolError(`unknown frame type ${type}`)
      frames.push({ type: type as FrameTypeValue, id: buf.readUInt32BE(5), payload: buf.subarray(HEADER_BYTES) })
    }
    return frames
  }

  get buffered(): number {
    return this.#queue.buffered
  }
}

/**
 * Bytes a sender may queue in a stream's writable buffer before it waits for `drain`. Node's
 * default high-water mark (16 KiB) would stall a sender after every chunk; 4 MiB keeps the pipe
 * full and memory bounded.
 */
export const SEND_BUFFER_BYTES = 4 * 1024 * 1024

/** Write buffers to a stream, resolving when it can take more (back-pressure). */
export function writeAll(stream: Duplex, buffers: Buffer[]): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.reject(new ShareProtocolError('stream is closed'))
  for (const b of buffers) if (b.length > 0) stream.write(b)
  if (stream.writableLength < SEND_BUFFER_BYTES) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.off('drain', onDrain)
      stream.off('close', onClose)
      stream.off('error', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onDrain = (): void => done()
    const onClose = (): void => done(new ShareProtocolError('stream closed while writing'))
    stream.on('drain', onDrain)
    stream.on('close', onClose)
    stream.on('error', onClose)
  })
}

/** Read exactly `n` bytes from the start of a stream (the preface), returning them and any extra bytes. */
export function readExactly(stream: Duplex, n: number, timeoutMs: number): Promise<{ bytes: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const cleanup = (): void => {
      clearTimeout(timer)
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      stream.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      total += chunk.length
      if (total >= n) {
        cleanup()
        stream.pause()
        const all = Buffer.concat(chunks)
        resolve({ bytes: all.subarray(0, n), rest: all.subarray(n) })
      }
    }
    const onEnd = (): void => {
      cleanup()
      reject(new ShareProtocolError('stream closed before the preface'))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(new ShareProtocolError('stream failed before the preface', { cause: err }))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new ShareProtocolError('no preface before the timeout'))
    }, timeoutMs)
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('close', onEnd)
    stream.on('error', onError)
    stream.resume()
  })
}
