/**
 * The bundle fetch (SPEC.md §4): one request and one response over a peerguard channel. The
 * handshake authenticates both sides against the trust store (a revoked peer does not get past
 * it), and hands each side the other's verified certificate chain — how a member learns the
 * certificate of a peer it has only seen announce.
 */
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { type ChannelOptions, secureOutbound } from '@peerguard/channel'
import { isPeerguardError, type PeerInfo } from '@peerguard/interface'
import { MAX_BUNDLE_BYTES } from './bundle.js'
import { FetchError } from './errors.js'
import { WireReader, WireWriter } from './wire.js'

export const FETCH_PROTOCOL = 'peerguard-workspace/1'
const FETCH_MAGIC = Buffer.from('PGWF', 'latin1')
const REQUEST_LENGTH = 14
const OP_GET_BUNDLE = 1
const STATUS_BUNDLE = 0
const STATUS_NOTHING_NEWER = 1

/** Read everything the peer sends until it half-closes, refusing more than `max` bytes. */
function readAll(stream: Duplex, max: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => fail(new FetchError('fetch: the peer did not answer in time')), timeoutMs)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      stream.destroy()
      reject(err)
    }
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > max) fail(new FetchError(`fetch: the peer sent more than ${max} bytes`))
      else parts.push(chunk)
    })
    stream.once('end', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(parts))
    })
    stream.once('error', (err) => fail(new FetchError(`fetch: ${err.message}`, { cause: err })))
    stream.once('close', () => fail(new FetchError('fetch: the channel closed before the exchange ended')))
  })
}

const fetchFailure = (message: string): FetchError => new FetchError(message)

/** What one fetch served: the version the peer had, and the bundle sent (version 0, 0 bytes: nothing newer). */
export interface ServedFetch {
  readonly have: number
  readonly version: number
  readonly bytes: number
}

/**
 * Answer one fetch on an accepted channel: `current()` gives the bundle held (bytes and version),
 * or undefined. A malformed request closes the channel without an answer (and rejects).
 */
export async function serveFetch(
  channel: Duplex,
  current: () => { version: number; bytes: Uint8Array } | undefined,
  timeoutMs = 10_000
): Promise<ServedFetch> {
  const request = await readAll(channel, REQUEST_LENGTH, timeoutMs)
  const r = new WireReader(request, fetchFailure)
  const magic = r.bytes(4, 'magic')
  if (!FETCH_MAGIC.equals(magic) || r.u8('format') !== 1 || r.u8('op') !== OP_GET_BUNDLE) {
    channel.destroy()
    throw new FetchError('fetch: not a workspace request')
  }
  const have = r.u64('have version')
  r.end('request')
  const held = current()
  const w = new WireWriter()
  const newer = held !== undefined && held.version > have
  if (!newer) w.u8(STATUS_NOTHING_NEWER).u32(0)
  else w.u8(STATUS_BUNDLE).u32(held.bytes.length).bytes(held.bytes)
  channel.end(w.finish())
  return { have, version: newer ? held.version : 0, bytes: newer ? held.bytes.length : 0 }
}

/** What a fetch brings back: the peer, as the channel verified it, and a newer bundle if it had one. */
export interface FetchResult {
  readonly peer: PeerInfo
  readonly bundle: Uint8Array | undefined
}

/** Connect to `host:port`, run the channel handshake, ask for a bundle newer than `haveVersion`. */
export async function fetchBundle(options: {
  host: string
  port: number
  haveVersion: number
  channel: ChannelOptions
  timeoutMs?: number
}): Promise<FetchResult> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const socket = connect({ host: options.host, port: options.port })
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error('connection timed out')))
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
  } catch (err) {
    throw new FetchError(`fetch: connect ${options.host}:${options.port}: ${(err as Error).message}`, { cause: err })
  }
  let channel: Awaited<ReturnType<typeof secureOutbound>>
  try {
    channel = await secureOutbound(socket, { ...options.channel, protocols: [FETCH_PROTOCOL] })
  } catch (err) {
    socket.destroy()
    const code = isPeerguardError(err) ? err.code : 'internal'
    throw new FetchError(`fetch: the channel to ${options.host}:${options.port} failed (${code})`, { cause: err })
  }
  socket.setTimeout(0)
  const peer = channel.remotePeer
  channel.end(new WireWriter().bytes(FETCH_MAGIC).u8(1).u8(OP_GET_BUNDLE).u64(options.haveVersion).finish())
  const answer = await readAll(channel, MAX_BUNDLE_BYTES + 5, timeoutMs)
  const r = new WireReader(answer, fetchFailure)
  const status = r.u8('status')
  const length = r.u32('length')
  if (status === STATUS_NOTHING_NEWER && length === 0) {
    r.end('answer')
    return { peer, bundle: undefined }
  }
  if (status !== STATUS_BUNDLE) throw new FetchError('fetch: unknown answer status')
  const bundle = r.bytes(length, 'bundle')
  r.end('answer')
  return { peer, bundle }
}
