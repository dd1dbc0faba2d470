import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { ConnectionGater, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { openDecisionLog } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { createLibp2p } from 'libp2p'
import {
  type Libp2pConnectionRecord,
  libp2pPrivateKeyFromIdentity,
  type PeerguardEncrypterOptions,
  peerguardEncrypter
} from '@peerguard/libp2p'

export const ECHO = '/pg-test/echo/1.0.0'

export interface NodeOptions {
  identity: KeyPair
  /** Default: the identity's own key. */
  privateKey?: PrivateKey
  /** Peerguard encrypter options; undefined = no peerguard encrypter. */
  peerguard?: PeerguardEncrypterOptions
  /** Also (or only) offer stock @chainsafe/libp2p-noise, after peerguard. */
  noise?: boolean
  gater?: ConnectionGater
  /** libp2p accepts 5 connections a second per host by default; raise it for hostile-client loops. */
  inboundConnectionThreshold?: number
}

/** A libp2p node on loopback TCP with an echo protocol. */
export async function startNode(o: NodeOptions, nodes: Libp2p[]): Promise<Libp2p> {
  const encrypters = []
  if (o.peerguard !== undefined) encrypters.push(peerguardEncrypter(o.peerguard))
  if (o.noise === true) encrypters.push(noise())
  const node = await createLibp2p({
    privateKey: o.privateKey ?? libp2pPrivateKeyFromIdentity(o.identity),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: encrypters,
    streamMuxers: [yamux()],
    ...(o.inboundConnectionThreshold === undefined
      ? {}
      : { connectionManager: { inboundConnectionThreshold: o.inboundConnectionThreshold } }),
    // the default gater refuses private addresses for dialling in some versions; loopback is what we test
    connectionGater: { denyDialMultiaddr: () => false, ...(o.gater ?? {}) }
  })
  nodes.push(node)
  await node.handle(ECHO, ({ stream }) => {
    Promise.resolve(stream.sink(stream.source)).catch(() => {})
  })
  return node
}

/** Send `data` over a new echo stream and return what came back. */
export async function echo(stream: Stream, data: Uint8Array): Promise<Buffer> {
  const sent = stream.sink(
    (async function* () {
      for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536)
    })()
  )
  const parts: Buffer[] = []
  for await (const c of stream.source) parts.push(Buffer.from(c.subarray()))
  await sent
  return Buffer.concat(parts)
}

/** A decision sink that keeps records in memory. */
export function memoryLog(): { records: Libp2pConnectionRecord[]; append(r: Libp2pConnectionRecord): Promise<void> } {
  const records: Libp2pConnectionRecord[] = []
  return {
    records,
    append: async (r) => {
      records.push(r)
    }
  }
}

/** A real hash-chained DecisionLog of @peerguard/decision-log in a fresh directory. */
export async function fileLog(identity: KeyPair) {
  const dir = await mkdtemp(join(tmpdir(), 'pg-libp2p-'))
  const path = join(dir, 'decisions.jsonl')
  const log = await openDecisionLog({ path, identity, checkpointIntervalMs: 0 })
  const lines = async (): Promise<Array<Record<string, unknown>>> =>
    (await readFile(path, 'utf8'))
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { log, path, lines }
}

/** Wait until `predicate` holds (polling), or fail after `ms`. */
export async function eventually(predicate: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** An in-memory pair of libp2p 2 it-stream duplexes (what a transport hands the encrypter). */
export function itDuplexPair(): [ItDuplex, ItDuplex] {
  const a = new Channel()
  const b = new Channel()
  // close() is what a transport does on close: both directions end at once (like a TCP FIN both ways)
  const close = async (): Promise<void> => {
    a.end()
    b.end()
  }
  return [
    { source: a.iterate(), sink: (src) => b.fill(src), close },
    { source: b.iterate(), sink: (src) => a.fill(src), close }
  ]
}

export interface ItDuplex {
  source: AsyncGenerator<Uint8Array>
  sink(source: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>): Promise<void>
  close(): Promise<void>
}

class Channel {
  #items: Uint8Array[] = []
  #ended = false
  #wake: (() => void) | undefined

  end(): void {
    this.#ended = true
    this.#wake?.()
  }

  async fill(src: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>): Promise<void> {
    for await (const c of src) {
      if (this.#ended) return
      this.#items.push(c instanceof Uint8Array ? Uint8Array.from(c) : Uint8Array.from(c.subarray()))
      this.#wake?.()
    }
    this.#ended = true
    this.#wake?.()
  }

  async *iterate(): AsyncGenerator<Uint8Array> {
    while (true) {
      const item = this.#items.shift()
      if (item !== undefined) {
        yield item
        continue
      }
      if (this.#ended) return
      await new Promise<void>((r) => {
        this.#wake = r
      })
    }
  }
}
