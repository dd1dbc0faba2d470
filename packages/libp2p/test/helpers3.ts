/**
 * libp2p 3 test nodes (libp2p 3.x, @libp2p/tcp 11, @chainsafe/libp2p-yamux 8, @chainsafe/libp2p-noise 17,
 * installed under the aliases libp2p-v3*). libp2p 3 needs Node 22 or later: `libp2p3` is undefined
 * before that, and the spec skips visibly (CI runs the whole suite on Node 24 too).
 */
import type { KeyPair } from '@peerguard/identity'
import { libp2pPrivateKeyFromIdentity, type PeerguardEncrypterOptions, peerguardEncrypter } from '@peerguard/libp2p'

export const NODE_MAJOR = Number(process.versions.node.split('.')[0])
export const LIBP2P3_RUNS = NODE_MAJOR >= 22

// biome-ignore lint/suspicious/noExplicitAny: the libp2p 3 types come from aliased packages
export type Node3 = any
// biome-ignore lint/suspicious/noExplicitAny: as above
export type Stream3 = any

export interface Node3Options {
  identity: KeyPair
  peerguard?: PeerguardEncrypterOptions
  noise?: boolean
  /** Extra encrypter factories after peerguard (and noise). */
  extraEncrypters?: unknown[]
  gater?: Record<string, unknown>
}

export const ECHO = '/app/echo/1.0.0'
export const ADMIN = '/app/admin/1.0.0'

/** A libp2p 3 node on loopback TCP. */
export async function startNode3(o: Node3Options, nodes: Node3[]): Promise<Node3> {
  const { createLibp2p } = await import('libp2p-v3')
  const { tcp } = await import('libp2p-v3-tcp')
  const { yamux } = await import('libp2p-v3-yamux')
  const { noise } = await import('libp2p-v3-noise')
  const encrypters: unknown[] = []
  if (o.peerguard !== undefined) encrypters.push(peerguardEncrypter(o.peerguard))
  if (o.noise === true) encrypters.push(noise())
  encrypters.push(...(o.extraEncrypters ?? []))
  const node = await createLibp2p({
    privateKey: libp2pPrivateKeyFromIdentity(o.identity) as never,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: encrypters as never,
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false, ...(o.gater ?? {}) }
  })
  nodes.push(node)
  return node
}

/** A libp2p 3 echo handler: every message back, then close when the remote closed its side. */
export function echoHandler(stream: Stream3): void {
  stream.addEventListener('message', (evt: { data: { subarray(): Uint8Array } | Uint8Array }) => {
    stream.send(evt.data)
  })
  stream.addEventListener('remoteCloseWrite', () => {
    stream.close().catch(() => {})
  })
}

/** Send `data` over a libp2p 3 stream (with backpressure), close the write side, return what came back. */
export async function echo3(stream: Stream3, data: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = []
  const reading = (async () => {
    for await (const c of stream) parts.push(Buffer.from(c instanceof Uint8Array ? c : c.subarray()))
  })()
  for (let i = 0; i < data.length; i += 65536) {
    if (!stream.send(data.subarray(i, i + 65536))) await stream.onDrain()
  }
  await stream.close()
  await reading
  return Buffer.concat(parts)
}

/** Wait until `predicate` holds (polling), or fail after `ms`. */
export async function eventually(predicate: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
