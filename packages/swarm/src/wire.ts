import { ChunkQueue, describeValue, InvalidArgumentError } from '@peerguard/interface'
import { SwarmProtocolError } from './errors.js'
import { MAX_PIECES } from './manifest.js'

/** Application protocol name negotiated in the channel handshake (SWARM.md §3). */
export const SWARM_PROTOCOL = '/peerguard/swarm/1'
/** Wire version carried in HELLO. */
export const WIRE_VERSION = 1
/** Largest REQUEST length and PIECE data, bytes (SWARM.md §4). */
export const MAX_REQUEST_BYTES = 256 * 1024
/** Largest message body (type byte included), bytes: a PIECE header plus MAX_REQUEST_BYTES. */
export const MAX_MESSAGE_BYTES = 1 + 8 + MAX_REQUEST_BYTES
/** Longest ERROR code (ASCII) and message (UTF-8), bytes. */
export const MAX_ERROR_CODE_BYTES = 64
export const MAX_ERROR_MESSAGE_BYTES = 1024
/** Bytes before the data in an encoded PIECE message: length u32, type u8, piece u32, offset u32. */
export const PIECE_HEADER_BYTES = 4 + 1 + 8

/** Message type bytes (SWARM.md §3.2). */
export const MessageType = {
  HELLO: 0x01,
  HAVE: 0x02,
  REQUEST: 0x03,
  PIECE: 0x04,
  CANCEL: 0x05,
  CHOKE: 0x06,
  UNCHOKE: 0x07,
  ERROR: 0x08
} as const

export type SwarmMessage =
  | { readonly type: 'hello'; readonly swarmId: Uint8Array; readonly pieceCount: number; readonly bitfield: Uint8Array }
  | { readonly type: 'have'; readonly piece: number }
  | { readonly type: 'request' | 'cancel'; readonly piece: number; readonly offset: number; readonly length: number }
  | { readonly type: 'piece'; readonly piece: number; readonly offset: number; readonly data: Uint8Array }
  | { readonly type: 'choke' | 'unchoke' }
  | { readonly type: 'error'; readonly code: string; readonly message: string }

const ERROR_CODE = /^[a-z0-9][a-z0-9-]*$/

const u32 = (name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new InvalidArgumentError(`${name}: expected an integer in 0..2^32-1`)
  return v
}

/** Bytes of a bitfield for `pieceCount` pieces. */
export function bitfieldBytes(pieceCount: number): number {
  return Math.ceil(pieceCount / 8)
}

function frame(type: number, bodyLength: number): Buffer {
  const b = Buffer.allocUnsafe(4 + 1 + bodyLength)
  b.writeUInt32BE(1 + bodyLength, 0)
  b[4] = type
  return b
}

/** Encode one message with its u32 BE length prefix (SWARM.md §3.1). Checks every field. */
export function encodeMessage(msg: SwarmMessage): Buffer {
  if (typeof msg !== 'object' || msg === null) throw new InvalidArgumentError('msg: expected a SwarmMessage')
  switch (msg.type) {
    case 'hello': {
      if (!(msg.swarmId instanceof Uint8Array) || msg.swarmId.length !== 32)
        throw new InvalidArgumentError('swarmId: expected 32 bytes')
      const n = u32('pieceCount', msg.pieceCount)
      if (n < 1 || n > MAX_PIECES) throw new InvalidArgumentError(`pieceCount: expected 1..${MAX_PIECES}`)
      if (!(msg.bitfield instanceof Uint8Array) || msg.bitfield.length !== bitfieldBytes(n))
        throw new InvalidArgumentError(`bitfield: expected ${bitfieldBytes(n)} bytes`)
      const b = frame(MessageType.HELLO, 1 + 32 + 4 + msg.bitfield.length)
      b[5] = WIRE_VERSION
      b.set(msg.swarmId, 6)
      b.writeUInt32BE(n, 38)
      b.set(msg.bitfield, 42)
      if (n % 8 !== 0) b[b.length - 1] = (b[b.length - 1] as number) & (0xff << (8 - (n % 8))) & 0xff
      return b
    }
    case 'have': {
      const b = frame(MessageType.HAVE, 4)
      b.writeUInt32BE(u32('piece', msg.piece), 5)
      return b
    }
    case 'request':
    case 'cancel': {
      const len = u32('length', msg.length)
      if (len < 1 || len > MAX_REQUEST_BYTES) throw new InvalidArgumentError(`length: expected 1..${MAX_REQUEST_BYTES}`)
      const b = frame(msg.type === 'request' ? MessageType.REQUEST : MessageType.CANCEL, 12)
      b.writeUInt32BE(u32('piece', msg.piece), 5)
      b.writeUInt32BE(u32('offset', msg.offset), 9)
      b.writeUInt32BE(len, 13)
      return b
    }
    case 'piece': {
      if (!(msg.data instanceof Uint8Array) || msg.data.length < 1 || msg.data.length > MAX_REQUEST_BYTES)
        throw new InvalidArgumentError(`data: expected 1..${MAX_REQUEST_BYTES} bytes`)
      const b = frame(MessageType.PIECE, 8 + msg.data.length)
      b.writeUInt32BE(u32('piece', msg.piece), 5)
      b.writeUInt32BE(u32('offset', msg.offset), 9)
      b.set(msg.data, PIECE_HEADER_BYTES)
      return b
    }
    case 'choke':
    case 'unchoke':
      return frame(msg.type === 'choke' ? MessageType.CHOKE : MessageType.UNCHOKE, 0)
    case 'error': {
      if (typeof msg.code !== 'string' || msg.code.length > MAX_ERROR_CODE_BYTES || !ERROR_CODE.test(msg.code))
        throw new InvalidArgumentError(`code: expected 1..${MAX_ERROR_CODE_BYTES} of a-z 0-9 -`)
      if (typeof msg.message !== 'string') throw new InvalidArgumentError('message: expected a string')
      let text = Buffer.from(msg.message, 'utf8')
      if (text.length > MAX_ERROR_MESSAGE_BYTES) text = Buffer.from(truncateUtf8(msg.message, MAX_ERROR_MESSAGE_BYTES), 'utf8')
      const b = frame(MessageType.ERROR, 1 + msg.code.length + text.length)
      b[5] = msg.code.length
      b.write(msg.code, 6, 'ascii')
      b.set(text, 6 + msg.code.length)
      return b
    }
    default:
      throw new InvalidArgumentError(`msg.type: unknown message type ${describeValue((msg as { type: unknown }).type)}`)
  }
}

function truncateUtf8(s: string, max: number): string {
  let out = ''
  let bytes = 0
  for (const ch of s) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    out += ch
    bytes += n
  }
  return out
}

/** A PIECE message whose data the caller fills in at `PIECE_HEADER_BYTES` (saves a copy). */
export function allocPieceMessage(piece: number, offset: number, length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > MAX_REQUEST_BYTES)
    throw new InvalidArgumentError(`length: expected 1..${MAX_REQUEST_BYTES}`)
  const b = frame(MessageType.PIECE, 8 + length)
  b.writeUInt32BE(u32('piece', piece), 5)
  b.writeUInt32BE(u32('offset', offset), 9)
  return b
}

const bad = (why: string): SwarmProtocolError => new SwarmProtocolError(`swarm protocol error: ${why}`)
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Decode one message body (type byte first, no length prefix). Throws only SwarmProtocolError. */
export function decodeMessage(body: Uint8Array): SwarmMessage {
  if (!(body instanceof Uint8Array)) throw new InvalidArgumentError('body: expected a Uint8Array')
  if (body.length < 1) throw bad('empty message')
  if (body.length > MAX_MESSAGE_BYTES) throw bad(`message larger than ${MAX_MESSAGE_BYTES} bytes`)
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const type = body[0]
  const need = (n: number, exact = true): void => {
    if (exact ? body.length !== 1 + n : body.length < 1 + n) throw bad(`message type ${type}: wrong length ${body.length - 1}`)
  }
  switch (type) {
    case MessageType.HELLO: {
      need(1 + 32 + 4, false)
      if (body[1] !== WIRE_VERSION) throw bad(`unsupported wire version ${body[1]}`)
      const pieceCount = view.getUint32(34)
      if (pieceCount < 1 || pieceCount > MAX_PIECES) throw bad(`hello: piece count ${pieceCount} outside 1..${MAX_PIECES}`)
      need(1 + 32 + 4 + bitfieldBytes(pieceCount))
      const bitfield = body.slice(38)
      const spare = pieceCount % 8
      if (spare !== 0 && ((bitfield[bitfield.length - 1] as number) & (0xff >> spare)) !== 0)
        throw bad('hello: spare bitfield bits set')
      return { type: 'hello', swarmId: body.slice(2, 34), pieceCount, bitfield }
    }
    case MessageType.HAVE:
      need(4)
      return { type: 'have', piece: view.getUint32(1) }
    case MessageType.REQUEST:
    case MessageType.CANCEL: {
      need(12)
      const length = view.getUint32(9)
      if (length < 1 || length > MAX_REQUEST_BYTES) throw bad(`request length ${length} outside 1..${MAX_REQUEST_BYTES}`)
      return {
        type: type === MessageType.REQUEST ? 'request' : 'cancel',
        piece: view.getUint32(1),
        offset: view.getUint32(5),
        length
      }
    }
    case MessageType.PIECE:
      need(8 + 1, false)
      return { type: 'piece', piece: view.getUint32(1), offset: view.getUint32(5), data: body.subarray(9) }
    case MessageType.CHOKE:
      need(0)
      return { type: 'choke' }
    case MessageType.UNCHOKE:
      need(0)
      return { type: 'unchoke' }
    case MessageType.ERROR: {
      need(1, false)
      const n = body[1] as number
      if (n < 1 || n > MAX_ERROR_CODE_BYTES || body.length < 2 + n) throw bad('error: bad code length')
      const code = Buffer.from(body.subarray(2, 2 + n)).toString('latin1')
      if (!ERROR_CODE.test(code)) throw bad('error: bad code')
      if (body.length - 2 - n > MAX_ERROR_MESSAGE_BYTES) throw bad('error: message too long')
      let message: string
      try {
        message = utf8.decode(body.subarray(2 + n))
      } catch {
        throw bad('error: message is not UTF-8')
      }
      return { type: 'error', code, message }
    }
    default:
      throw bad(`unknown message type ${type}`)
  }
}

/**
 * Splits a byte stream into messages (u32 BE length, then that many bytes). A declared length of
 * 0 or above MAX_MESSAGE_BYTES is refused as soon as the 4-byte header is in.
 */
export class MessageDecoder {
  readonly #queue = new ChunkQueue()

  /** Add bytes; returns every complete message. Throws SwarmProtocolError on a bad frame. */
  push(chunk: Uint8Array): SwarmMessage[] {
    if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('chunk: expected a Uint8Array')
    this.#queue.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    const out: SwarmMessage[] = []
    while (this.#queue.buffered >= 4) {
      const head = this.#queue.peek(4)
      const len = head.readUInt32BE(0)
      if (len < 1 || len > MAX_MESSAGE_BYTES) throw bad(`declared message length ${len} outside 1..${MAX_MESSAGE_BYTES}`)
      if (this.#queue.buffered < 4 + len) break
      const all = this.#queue.take(4 + len)
      out.push(decodeMessage(all.subarray(4)))
    }
    return out
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#queue.buffered
  }
}
