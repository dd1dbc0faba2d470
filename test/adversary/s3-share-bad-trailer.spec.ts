/**
 * Attacker's review, round 3: a hostile END frame. A peer allowed to write sends an upload's END
 * with a payload that is not a JSON object (`[]`, garbage). The server took the upload off the
 * connection before parsing the payload, so the protocol error that closed the connection never
 * aborted it: the operation never ended — its per-peer slot stayed taken, its temporary file and
 * descriptor stayed, no outcome was logged, and every later write to that path (by anyone) waited
 * behind it forever. Now the upload is aborted and the operation ends (`share-protocol-error`).
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import type { DecisionRecord } from '@peerguard/interface'
import { channelTransport, connectShare, createShareServer, type ShareServer } from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { leftovers } from './share-harness.js'

const PREFACE = Buffer.from('PGSHARE1', 'ascii')
const REQUEST = 1
const REPLY = 2
const DATA = 3
const END = 4

let pki: TestPki
let dir: string
let server: ShareServer
let port: number
const records: DecisionRecord[] = []

function frame(type: number, id: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9)
  header.writeUInt32BE(5 + payload.length, 0)
  header.writeUInt8(type, 4)
  header.writeUInt32BE(id, 5)
  return Buffer.concat([header, payload])
}

/** A hardened connection speaking raw frames: resolves the first REPLY's JSON for `id`. */
async function rawClient(who: TestPeer): Promise<{ stream: Duplex; reply(): Promise<Record<string, unknown>> }> {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const { stream } = await channelTransport({ identity: who.identity, chain: who.chain, trust: pki.trust }).connect(socket)
  let buf = Buffer.alloc(0)
  const waiting: Array<(r: Record<string, unknown>) => void> = []
  let prefaceSeen = false
  stream.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    if (!prefaceSeen && buf.length >= PREFACE.length) {
      prefaceSeen = true
      buf = buf.subarray(PREFACE.length)
    }
    while (prefaceSeen && buf.length >= 9 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0)
      const type = buf.readUInt8(4)
      const payload = buf.subarray(9, 4 + len)
      buf = buf.subarray(4 + len)
      if (type === REPLY) waiting.shift()?.(JSON.parse(payload.toString('utf8')) as Record<string, unknown>)
    }
  })
  stream.on('error', () => {})
  stream.write(PREFACE)
  return { stream, reply: () => new Promise((resolve) => waiting.push(resolve)) }
}

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['mallory', 'alice', 'nas'] })
}, 30_000)

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-s3-trailer-'))
  await mkdir(join(dir, 'root'))
  records.length = 0
  const nas = pki.peers.nas as TestPeer
  server = createShareServer({
    root: join(dir, 'root'),
    shareName: 'office',
    transport: channelTransport({ identity: nas.identity, chain: nas.chain, trust: pki.trust }),
    authorize: () => ({ allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }),
    log: {
      append: async (r: DecisionRecord) => {
        records.push(r)
      }
    },
    maxConcurrentPerPeer: 1
  })
  port = (await server.listen()).port
})

afterEach(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('s3: an END frame whose payload is not a JSON object', () => {
  it.each([
    ['an array', Buffer.from('[]')],
    ['garbage', Buffer.from('{"sha256":')]
  ])(
    '(%s) ends the upload: the path and the peer’s slot are free again, nothing is left',
    async (_what, trailer) => {
      const mallory = await rawClient(pki.peers.mallory as TestPeer)
      const data = Buffer.from('half an upload\n')
      const closed = new Promise<void>((resolve) => mallory.stream.once('close', () => resolve()))
      const ready = mallory.reply()
      mallory.stream.write(frame(REQUEST, 1, Buffer.from(JSON.stringify({ op: 'write', path: 'plan.txt', size: data.length }))))
      expect(await ready).toMatchObject({ ok: true, ready: true })
      mallory.stream.write(frame(DATA, 1, data))
      const ended = new Promise<void>((resolve) => server.once('operation', () => resolve()))
      mallory.stream.write(frame(END, 1, trailer))
      await closed // the protocol error closes the connection
      // ...and ends the operation (it hung before, holding the path's writer queue)
      await ended
      expect(records).toContainEqual(expect.objectContaining({ kind: 'outcome', outcome: 'failed', op: 'write' }))
      // the same peer (one slot) and another peer write the path at once
      const content = Buffer.from('the real plan\n')
      for (const who of ['mallory', 'alice']) {
        const p = pki.peers[who] as TestPeer
        const client = await connectShare(
          { host: '127.0.0.1', port },
          { transport: channelTransport({ identity: p.identity, chain: p.chain, trust: pki.trust }) }
        )
        try {
          const r = await client.writeFile('plan.txt', content)
          expect(r.sha256).toBe(createHash('sha256').update(content).digest('hex'))
        } finally {
          client.close()
        }
      }
      expect(await readFile(join(dir, 'root', 'plan.txt'))).toEqual(content)
      expect(await leftovers(dir)).toEqual([])
    },
    60_000
  )
})
