import type { NoiseChannel } from '@peerguard/channel'
import { Libp2pUnsupportedVersionError, SUPPORTED_VERSIONS } from './errors.js'
import type { MessageStreamDuplex, MessageStreamLike } from './message-stream-duplex.js'
import { endChannel } from './secured-stream.js'

/** The members of @libp2p/utils 7's `AbstractMessageStream` the subclass below calls. */
interface AbstractMessageStreamLike {
  onData(data: Uint8Array): void
  onRemoteCloseWrite(): void
  onTransportClosed(err?: Error): void
  abort(err: Error): void
  safeDispatchEvent(type: string): void
}
type AbstractMessageStreamClass = abstract new (init: {
  log: unknown
  direction?: 'inbound' | 'outbound'
  inactivityTimeout?: number
  maxReadBufferLength?: number
}) => AbstractMessageStreamLike

type ChannelMessageStreamClass = new (channel: NoiseChannel, raw: MessageStreamLike, socket: MessageStreamDuplex) => unknown

let loading: Promise<ChannelMessageStreamClass> | undefined

/**
 * The libp2p 3 view of a peerguard channel: a `MessageStream` (built on @libp2p/utils 7's
 * `AbstractMessageStream`, as @chainsafe/libp2p-noise 17 builds its own) whose messages are the
 * channel's decrypted, authenticated bytes; `send` encrypts; `close()` sends the channel's CLOSE,
 * then closes the raw connection. A channel failure (bad tag, truncation, ALERT) aborts it with the
 * channel's PeerguardError. Loaded on the first libp2p 3 connection only.
 */
export async function channelMessageStream(
  channel: NoiseChannel,
  raw: MessageStreamLike,
  socket: MessageStreamDuplex
): Promise<MessageStreamLike> {
  loading ??= load()
  const Ctor = await loading
  return new Ctor(channel, raw, socket) as MessageStreamLike
}

async function load(): Promise<ChannelMessageStreamClass> {
  let Base: AbstractMessageStreamClass
  try {
    Base = ((await import('@libp2p/utils')) as unknown as { AbstractMessageStream: AbstractMessageStreamClass })
      .AbstractMessageStream
    if (typeof Base !== 'function') throw new Error('@libp2p/utils has no AbstractMessageStream (it is older than 7.x)')
  } catch (err) {
    loading = undefined
    throw new Libp2pUnsupportedVersionError(
      `libp2p 3 connections need @libp2p/utils 7.x, which could not be loaded: ${(err as Error).message}. ${SUPPORTED_VERSIONS}`,
      { cause: err }
    )
  }
  return class ChannelMessageStream extends Base {
    readonly #channel: NoiseChannel
    readonly #raw: MessageStreamLike
    readonly #socket: MessageStreamDuplex

    constructor(channel: NoiseChannel, raw: MessageStreamLike, socket: MessageStreamDuplex) {
      super({
        log: raw.log,
        ...(raw.direction === undefined ? {} : { direction: raw.direction }),
        ...(raw.inactivityTimeout === undefined ? {} : { inactivityTimeout: raw.inactivityTimeout }),
        ...(raw.maxReadBufferLength === undefined ? {} : { maxReadBufferLength: raw.maxReadBufferLength })
      })
      this.#channel = channel
      this.#raw = raw
      this.#socket = socket
      // Until libp2p listens, nobody else handles channel errors; they reach libp2p through abort().
      channel.on('error', () => {})
      channel.on('data', (chunk: Buffer) => {
        this.onData(chunk)
      })
      channel.on('end', () => {
        this.onRemoteCloseWrite()
      })
      channel.on('drain', () => {
        this.safeDispatchEvent('drain')
      })
      channel.on('close', () => {
        const err = channel.errored
        if (err !== null && err !== undefined) this.abort(err)
        else this.onTransportClosed()
      })
    }

    sendData(data: { subarray(): Uint8Array; byteLength: number }): { sentBytes: number; canSendMore: boolean } {
      const bytes = data.subarray()
      return { sentBytes: bytes.byteLength, canSendMore: this.#channel.write(bytes) }
    }

    sendReset(err: Error): void {
      this.#channel.destroy(err)
    }

    sendPause(): void {
      this.#channel.pause()
    }

    sendResume(): void {
      this.#channel.resume()
    }

    async close(options?: unknown): Promise<void> {
      await endChannel(this.#channel, this.#socket)
      await this.#raw.close(options)
    }
  }
}
