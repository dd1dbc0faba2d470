/**
 * "Throws only our errors" for the share server's request handling (SPEC.md §4, §7): any JSON a
 * peer sends as a REQUEST gets one final reply with a stable code, and the server keeps serving.
 * JSON can carry objects whose `toString` / `valueOf` are not functions; a server that calls
 * `String()` into such a field (to name a bad path or op) threw a TypeError instead: the reply was
 * `internal error`, and a refused path went unrecorded in the decision log.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CODES, type DecisionRecord } from '@peerguard/interface'
import { createShareServer, type ShareServer } from '@peerguard/share'
import fc from 'fast-check'
// The wire codec is internal (SPEC.md describes the format); this spec speaks it raw.
import { encodeFrame, FrameType, PREFACE } from '../src/frame.js'

let dir: string
let server: ShareServer
let wire: Wire
const records: DecisionRecord[] = []
const logged: Array<{ msg: string; fields: unknown }> = []

interface Wire {
  /** Send one REQUEST and resolve with its final reply (after the stream of a read, or a cancelled upload). */
  request(req: unknown): Promise<Record<string, unknown>>
  socket: Socket
}

async function open(port: number): Promise<Wire> {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise((r) => socket.once('connect', r))
  socket.write(PREFACE)
  const pending = new Map<number, (v: { type: number; body: Record<string, unknown> }) => void>()
  let buf = Buffer.alloc(0)
  let preface = false
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    if (!preface && buf.length >= 8) {
      preface = true
      buf = buf.subarray(8)
    }
    while (preface && buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0)
      const type = buf[4] as number
      const id = buf.readUInt32BE(5)
      const payload = buf.subarray(9, 4 + len)
      buf = buf.subarray(4 + len)
      if (type === FrameType.REPLY || type === FrameType.END) pending.get(id)?.({ type, body: JSON.parse(payload.toString()) })
    }
  })
  socket.on('error', () => {})
  let nextId = 1
  return {
    socket,
    async request(req) {
      const id = nextId++
      const frames: Array<{ type: number; body: Record<string, unknown> }> = []
      let wake: (() => void) | undefined
      pending.set(id, (f) => {
        frames.push(f)
        wake?.()
      })
      const next = async () => {
        while (frames.length === 0) await new Promise<void>((r) => (wake = r))
        return frames.shift() as { type: number; body: Record<string, unknown> }
      }
      socket.write(Buffer.concat(encodeFrame(FrameType.REQUEST, id, Buffer.from(JSON.stringify(req)))))
      let f = await next()
      if (f.body.ready === true) {
        // an upload the server accepted: cancel it, its final reply follows
        socket.write(Buffer.concat(encodeFrame(FrameType.CANCEL, id, Buffer.alloc(0))))
        f = await next()
      } else if (f.type === FrameType.REPLY && f.body.ok === true && 'length' in f.body && 'offset' in f.body) {
        while (f.type !== FrameType.END) f = await next() // a read: its END trailer is the final word
      }
      pending.delete(id)
      return f.body
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-share-hostile-'))
  await mkdir(join(dir, 'a', 'b'), { recursive: true })
  await writeFile(join(dir, 'a', 'f'), 'x')
  server = createShareServer({
    root: dir,
    shareName: 'office',
    authorize: () => ({ allowed: true, code: 'allow', reason: 'test allows', matchedGroups: [] }),
    log: {
      append: async (r) => {
        records.push(r)
      }
    },
    logger: {
      debug: () => {},
      info: () => {},
      warn: (msg: string, fields?: unknown) => void logged.push({ msg, fields }),
      error: (msg: string, fields?: unknown) => void logged.push({ msg, fields })
    } as never
  })
  const { port } = await server.listen({ host: '127.0.0.1' })
  wire = await open(port)
})

afterAll(async () => {
  wire.socket.destroy()
  await server.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

const OPS = ['list', 'stat', 'read', 'write', 'delete', 'rename', 'mkdir'] as const
/** Objects that break `String()`: `toString` / `valueOf` that are not functions (JSON can say so). */
const hostile = fc.dictionary(fc.constantFrom('toString', 'valueOf', 'length', 'then', 'path'), fc.jsonValue({ maxDepth: 2 }), {
  minKeys: 1
})
const value = fc.oneof(
  fc.constantFrom('', 'a', 'a/f', 'a/b', 'new', '../x', 'a/../..', '/abs', 'a\\b', 'nul\u0000'),
  fc.jsonValue({ maxDepth: 2 }),
  hostile,
  fc.array(hostile, { maxLength: 2 })
)
const request = fc.record(
  {
    op: fc.oneof(fc.constantFrom(...OPS), value),
    path: value,
    from: value,
    to: value,
    mode: fc.oneof(fc.constantFrom('create', 'overwrite', 'append'), value),
    size: fc.oneof(fc.nat({ max: 10 }), value),
    sha256: value,
    offset: value,
    length: value,
    overwrite: value,
    parents: value
  },
  { requiredKeys: ['op'] }
)

describe('any JSON request gets a final reply with a stable code', () => {
  it('never an internal error; the server keeps answering', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const reply = await wire.request(req)
        if (reply.ok !== true) {
          expect(Object.keys(CODES)).toContain(reply.code)
          expect(reply.message).not.toBe('internal error')
        }
        expect(logged.splice(0)).toEqual([])
        expect(await wire.request({ op: 'stat', path: '' })).toMatchObject({ ok: true, type: 'dir' })
      }),
      {
        numRuns: 200,
        examples: [
          // a path whose toString/valueOf are not functions: String(path) threw in the enforcer
          [{ op: 'list', path: { toString: 1, valueOf: 1 } }],
          [{ op: 'rename', from: 'a/f', to: [{ toString: [], valueOf: {} }] }],
          // an op of that shape: String(op) threw after the reply, while emitting 'operation'
          [{ op: { toString: null, valueOf: null } }]
        ]
      }
    )
  }, 120_000)

  it('an authorizer that throws a non-Error object is a logged deny-error, not an internal error', async () => {
    const seen: DecisionRecord[] = []
    const throwing = createShareServer({
      root: dir,
      shareName: 'office',
      authorize: () => {
        throw { toString: 1, valueOf: 1 }
      },
      log: {
        append: async (r) => {
          seen.push(r)
        }
      }
    })
    const { port } = await throwing.listen({ host: '127.0.0.1' })
    const other = await open(port)
    try {
      expect(await other.request({ op: 'stat', path: 'a' })).toMatchObject({ ok: false, code: 'share-denied' })
      expect(seen).toContainEqual(
        expect.objectContaining({ allowed: false, code: 'deny-error', reason: 'the authorizer failed: object' })
      )
    } finally {
      other.socket.destroy()
      await throwing.close()
    }
  })

  it('a path refused for its type is recorded as a denial naming its shape', async () => {
    const before = records.length
    const reply = await wire.request({ op: 'list', path: { toString: 1, valueOf: 1 } })
    expect(reply).toMatchObject({ ok: false, code: 'invalid-argument' })
    expect(records.slice(before)).toContainEqual(
      expect.objectContaining({
        kind: 'operation',
        allowed: false,
        code: 'invalid-argument',
        resource: 'share:office/(an object)'
      })
    )
  })
})
