import type { NoiseChannel } from '@peerguard/channel'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The decrypted side of a peerguard-secured libp2p connection, as an it-stream duplex. */
export interface SecuredStream {
  source: AsyncGenerator<Uint8Array>
  sink(source: AsyncIterable<Uint8Array | Uint8ArrayList>): Promise<void>
}

function waitWritable(channel: NoiseChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      channel.off('drain', onDrain)
      channel.off('close', onClose)
      channel.off('error', onError)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onDrain = (): void => done()
    const onClose = (): void => done(channel.errored ?? new Error('the channel closed'))
    const onError = (err: Error): void => done(err)
    channel.on('drain', onDrain)
    channel.on('close', onClose)
    channel.on('error', onError)
  })
}

/**
 * libp2p's view of a channel: `source` yields decrypted, authenticated bytes (a channel failure
 * — bad tag, truncation, ALERT — throws the channel's PeerguardError into the reader); `sink`
 * encrypts what the muxer writes and sends the channel's CLOSE when the muxer's source ends.
 */
export function securedStream(channel: NoiseChannel): SecuredStream {
  // Until libp2p reads `source` (and after it stopped), nobody listens for channel errors; they
  // still reach libp2p through `source` and `sink`, so an error event alone must not crash the process.
  channel.on('error', () => {})
  async function* source(): AsyncGenerator<Uint8Array> {
    for await (const chunk of channel) yield chunk as Buffer
  }
  async function sink(input: AsyncIterable<Uint8Array | Uint8ArrayList>): Promise<void> {
    try {
      for await (const chunk of input) {
        const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        if (channel.destroyed || channel.writableEnded) throw channel.errored ?? new Error('the channel is closed for writing')
        if (!channel.write(bytes)) await waitWritable(channel)
      }
    } catch (err) {
      channel.destroy(err as Error)
      throw err
    }
    await endChannel(channel)
  }
  return { source: source(), sink }
}

/** Send CLOSE (once) and wait until the channel has handed it to the connection. */
export async function endChannel(channel: NoiseChannel, socket?: { flushed(): Promise<void> }): Promise<void> {
  if (!channel.destroyed && !channel.writableEnded) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        channel.off('finish', done)
        channel.off('close', done)
        resolve()
      }
      channel.on('finish', done)
      channel.on('close', done)
      channel.end()
    })
  }
  await socket?.flushed()
}
