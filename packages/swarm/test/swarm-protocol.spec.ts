import type { DecisionRecord } from '@peerguard/interface'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createListener, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { createSwarmPeer, type SwarmManifest, type SwarmPeer } from '@peerguard/swarm'
import { encodeMessage, MessageDecoder, SWARM_PROTOCOL, type SwarmMessage } from '@peerguard/swarm/wire'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

let dir: string
let pki: TestPki
let file: string
let content: Buffer
let manifest: SwarmManifest
let seeder: SwarmPeer
let port: number
const closers: Array<() => Promise<unknown>> = []
const records: DecisionRecord[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-swarm-proto-'))
  pki = await makeTestPki({ peers: ['seeder', 'client', 'client2', 'liar'] })
  content = randomBytes(1024 * 1024 + 5)
  file = join(dir, 'f.bin')
  await writeFile(file, content)
  const s = pki.peers.seeder as TestPeer
  seeder = createSwarmPeer({
    identity: s.identity,
    chain: s.chain,
    trust: pki.trust,
    maxPeers: 2,
    log: { append: (r: DecisionRecord) => void records.push(r) }
  })
  manifest = await seeder.publish(file, { name: 'proto', pieceSize: 65536 })
  await seeder.seed(manifest, file)
  port = (await seeder.listen()).port
}, 30_000)

afterAll(async () => {
  for (const c of closers) await c()
  await seeder.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** A hand-driven fetcher: an enrolled peer that sends whatever the test says. */
async function rawClient(name = 'client'): Promise<{ channel: NoiseChannel; next(): Promise<SwarmMessage | 'closed'> }> {
  const p = pki.peers[name] as TestPeer
  const socket = connect(port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  const channel = await secureOutbound(socket, {
    identity: p.identity,
    chain: p.chain,
    trust: pki.trust,
    protocols: [SWARM_PROTOCOL]
  })
  const decoder = new MessageDecoder()
  const queue: Array<SwarmMessage | 'closed'> = []
  const waiters: Array<(m: SwarmMessage | 'closed') => void> = []
  const deliver = (m: SwarmMessage | 'closed'): void => {
    const w = waiters.shift()
    if (w) w(m)
    else queue.push(m)
  }
  channel.on('data', (c: Buffer) => {
    for (const m of decoder.push(c)) deliver(m)
  })
  channel.on('error', () => {})
  channel.on('close', () => deliver('closed'))
  closers.push(async () => channel.destroy())
  return {
    channel,
    next: () => {
      const m = queue.shift()
      return m !== undefined ? Promise.resolve(m) : new Promise((r) => waiters.push(r))
    }
  }
}

const hello = (): Buffer =>
  encodeMessage({
    type: 'hello',
    swarmId: Buffer.from(manifest.swarmId, 'hex'),
    pieceCount: manifest.pieces.length,
    bitfield: new Uint8Array(Math.ceil(manifest.pieces.length / 8))
  })

describe('swarm server refuses protocol violations with ERROR, then closes', () => {
  it('REQUEST before HELLO', async () => {
    const c = await rawClient()
    c.channel.write(encodeMessage({ type: 'request', piece: 0, offset: 0, length: 10 }))
    expect(await c.next()).toMatchObject({
      type: 'error',
      code: 'swarm-protocol-error',
      message: expect.stringMatching(/expected HELLO/)
    })
    expect(await c.next()).toBe('closed')
  })

  it('HELLO for a swarm the peer does not serve', async () => {
    const c = await rawClient()
    const swarmId = randomBytes(32)
    c.channel.write(encodeMessage({ type: 'hello', swarmId, pieceCount: 1, bitfield: new Uint8Array(1) }))
    expect(await c.next()).toMatchObject({ type: 'error', code: 'swarm-unknown' })
    // an authenticated peer's refusal is on the record, before the error reached it
    expect(records.filter((r) => r.code === 'swarm-unknown')).toEqual([
      expect.objectContaining({
        kind: 'operation',
        allowed: false,
        verb: 'fetch',
        resource: `swarm:${swarmId.toString('hex')}`,
        peer: expect.objectContaining({ name: 'client' })
      })
    ])
  })

  it('serves a valid request, then refuses one outside the piece', async () => {
    const c = await rawClient()
    c.channel.write(hello())
    const h = await c.next()
    expect(h).toMatchObject({ type: 'hello', pieceCount: manifest.pieces.length })
    expect(await c.next()).toEqual({ type: 'unchoke' })
    c.channel.write(encodeMessage({ type: 'request', piece: 2, offset: 100, length: 1000 }))
    const p = (await c.next()) as { type: string; data: Uint8Array }
    expect(p.type).toBe('piece')
    expect(Buffer.from(p.data).equals(content.subarray(2 * 65536 + 100, 2 * 65536 + 1100))).toBe(true)
    c.channel.write(encodeMessage({ type: 'request', piece: 2, offset: 65000, length: 1000 }))
    expect(await c.next()).toMatchObject({
      type: 'error',
      code: 'swarm-protocol-error',
      message: expect.stringMatching(/outside piece 2/)
    })
    expect(await c.next()).toBe('closed')
  })

  it('more than 64 outstanding requests', async () => {
    const c = await rawClient()
    c.channel.write(hello())
    await c.next()
    await c.next()
    c.channel.write(
      Buffer.concat(Array.from({ length: 80 }, () => encodeMessage({ type: 'request', piece: 0, offset: 0, length: 65536 })))
    )
    let m: SwarmMessage | 'closed'
    do m = await c.next()
    while (m !== 'closed' && m.type === 'piece')
    expect(m).toMatchObject({ type: 'error', message: expect.stringMatching(/more than 64 outstanding/) })
  })

  it('a frame with an absurd length', async () => {
    const c = await rawClient()
    c.channel.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))
    expect(await c.next()).toMatchObject({ type: 'error', code: 'swarm-protocol-error' })
    expect(await c.next()).toBe('closed')
  })

  it('more peers than maxPeers', async () => {
    const a = await rawClient('client')
    const b = await rawClient('client2')
    await new Promise((r) => setTimeout(r, 50))
    const c = await rawClient('client')
    expect(await c.next()).toMatchObject({ type: 'error', code: 'swarm-too-many-peers' })
    a.channel.destroy()
    b.channel.destroy()
    await new Promise((r) => setTimeout(r, 100))
  })
})

/** A serving peer that claims every piece and then misbehaves as `onRequest` says. */
async function liar(
  onRequest: (ch: NoiseChannel, m: { piece: number; offset: number; length: number }) => void
): Promise<number> {
  const p = pki.peers.liar as TestPeer
  const channels = new Set<NoiseChannel>()
  const listener = createListener(
    { identity: p.identity, chain: p.chain, trust: pki.trust, protocols: [SWARM_PROTOCOL] },
    (ch) => {
      channels.add(ch)
      const d = new MessageDecoder()
      ch.on('error', () => {})
      ch.on('data', (chunk: Buffer) => {
        for (const m of d.push(chunk)) {
          if (m.type === 'hello') {
            const bits = new Uint8Array(Math.ceil(m.pieceCount / 8)).fill(0xff)
            if (m.pieceCount % 8 !== 0) bits[bits.length - 1] = (0xff << (8 - (m.pieceCount % 8))) & 0xff
            ch.write(encodeMessage({ type: 'hello', swarmId: m.swarmId, pieceCount: m.pieceCount, bitfield: bits }))
            ch.write(encodeMessage({ type: 'unchoke' }))
          } else if (m.type === 'request') onRequest(ch, m)
        }
      })
    }
  )
  closers.push(() => {
    for (const ch of channels) ch.destroy()
    return listener.close()
  })
  return (await listener.listen()).port
}

describe('swarm fetcher against misbehaving servers', () => {
  it('end game: finishes from another peer while one sits on its requests (without waiting to drop it)', async () => {
    let held = 0
    const liarPort = await liar(() => {
      held++
    })
    const c = pki.peers.client2 as TestPeer
    // The withholding peer would only be dropped after 60 s; the end game must not wait for that.
    const peer = createSwarmPeer({ identity: c.identity, chain: c.chain, trust: pki.trust, requestTimeoutMs: 60_000 })
    closers.push(() => peer.close())
    const out = join(dir, 'endgame.bin')
    const r = await peer.fetch(manifest, { peers: [`127.0.0.1:${liarPort}`, `127.0.0.1:${port}`], out })
    expect(held).toBeGreaterThan(0)
    expect(r.dropped).toEqual([])
    expect(r.piecesFrom[(pki.peers.liar as TestPeer).peerId]).toBeUndefined()
    expect(
      createHash('sha256')
        .update(await readFile(out))
        .digest('hex')
    ).toBe(manifest.sha256)
  }, 15_000)

  it('drops a peer that sends a PIECE nobody asked for', async () => {
    const liarPort = await liar((ch, m) => {
      ch.write(encodeMessage({ type: 'piece', piece: m.piece, offset: m.offset + 1, data: randomBytes(m.length) }))
    })
    const c = pki.peers.client2 as TestPeer
    const peer = createSwarmPeer({ identity: c.identity, chain: c.chain, trust: pki.trust })
    closers.push(() => peer.close())
    const out = join(dir, 'unasked.bin')
    const r = await peer.fetch(manifest, { peers: [`127.0.0.1:${liarPort}`, `127.0.0.1:${port}`], out })
    expect(r.dropped).toEqual([
      expect.objectContaining({ code: 'swarm-protocol-error', reason: expect.stringMatching(/unrequested PIECE/) })
    ])
    expect(
      createHash('sha256')
        .update(await readFile(out))
        .digest('hex')
    ).toBe(manifest.sha256)
  }, 30_000)

  it('fails with swarm-stalled (and no partial file) when the only peer withholds everything', async () => {
    const liarPort = await liar(() => {})
    const c = pki.peers.client as TestPeer
    const peer = createSwarmPeer({ identity: c.identity, chain: c.chain, trust: pki.trust, requestTimeoutMs: 300 })
    closers.push(() => peer.close())
    const out = join(dir, 'nothing.bin')
    const err = (await peer.fetch(manifest, { peers: [`127.0.0.1:${liarPort}`], out }).catch((e: unknown) => e)) as {
      code: string
      details: { dropped: unknown[] }
    }
    expect(err.code).toBe('swarm-stalled')
    // The withholding peer was dropped after requestTimeoutMs, not after the 30 s stall timeout.
    expect(err.details.dropped).toEqual([
      expect.objectContaining({
        peerId: (pki.peers.liar as TestPeer).peerId,
        code: 'swarm-stalled',
        reason: expect.stringMatching(/no PIECE for 300 ms/)
      })
    ])
    expect(existsSync(out)).toBe(false)
    expect(existsSync(`${out}.pgswarm-part`)).toBe(false)
  }, 30_000)
})
