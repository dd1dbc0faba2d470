import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import {
  encodeManifest,
  parseManifest,
  type SwarmManifest,
  SwarmManifestInvalidError,
  SwarmProtocolError
} from '@peerguard/swarm'
import {
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MAX_PIECES,
  MAX_REQUEST_BYTES,
  MessageDecoder,
  type SwarmMessage
} from '@peerguard/swarm/wire'

const u32 = fc.integer({ min: 0, max: 0xffffffff })
const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max })

const hello = fc.integer({ min: 1, max: 300 }).chain((n) =>
  fc.record({
    type: fc.constant('hello' as const),
    swarmId: bytes(32, 32),
    pieceCount: fc.constant(n),
    bitfield: fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((bits) => {
      const out = new Uint8Array(Math.ceil(n / 8))
      bits.forEach((b, i) => {
        if (b) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7))
      })
      return out
    })
  })
)

const message: fc.Arbitrary<SwarmMessage> = fc.oneof(
  hello,
  fc.record({ type: fc.constant('have' as const), piece: u32 }),
  fc.record({
    type: fc.constantFrom('request' as const, 'cancel' as const),
    piece: u32,
    offset: u32,
    length: fc.integer({ min: 1, max: MAX_REQUEST_BYTES })
  }),
  fc.record({ type: fc.constant('piece' as const), piece: u32, offset: u32, data: bytes(1, 2048) }),
  fc.record({ type: fc.constantFrom('choke' as const, 'unchoke' as const) }),
  fc.record({
    type: fc.constant('error' as const),
    code: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,63}$/),
    message: fc.string({ maxLength: 200 })
  })
)

const norm = (m: SwarmMessage): unknown =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]))

describe('swarm wire codec', () => {
  it('round-trips every message (encode → decode)', () => {
    fc.assert(
      fc.property(message, (m) => {
        const wire = encodeMessage(m)
        expect(wire.readUInt32BE(0)).toBe(wire.length - 4)
        expect(norm(decodeMessage(wire.subarray(4)))).toEqual(norm(m))
      })
    )
  })

  it('reassembles a stream of messages cut at any points', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 20 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map(encodeMessage))
          const d = new MessageDecoder()
          const got: SwarmMessage[] = []
          let at = 0
          for (const c of cuts) {
            got.push(...d.push(stream.subarray(at, at + c)))
            at += c
          }
          got.push(...d.push(stream.subarray(at)))
          expect(got.map(norm)).toEqual(msgs.map(norm))
          expect(d.buffered).toBe(0)
        }
      )
    )
  })

  it('garbage gives only SwarmProtocolError (or messages), never another exception', () => {
    fc.assert(
      fc.property(bytes(0, 600), (junk) => {
        try {
          decodeMessage(junk)
        } catch (err) {
          expect(err).toBeInstanceOf(SwarmProtocolError)
          expect((err as SwarmProtocolError).code).toBe('swarm-protocol-error')
        }
        try {
          new MessageDecoder().push(junk)
        } catch (err) {
          expect(err).toBeInstanceOf(SwarmProtocolError)
        }
      })
    )
  })

  it('refuses oversized and malformed frames with exact reasons', () => {
    const d = new MessageDecoder()
    const head = Buffer.alloc(4)
    head.writeUInt32BE(MAX_MESSAGE_BYTES + 1)
    expect(() => d.push(head)).toThrow(/declared message length/)
    expect(() => decodeMessage(Buffer.from([0x03, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/request length 0/)
    expect(() => decodeMessage(Buffer.from([0x99]))).toThrow(/unknown message type 153/)
    // hello with spare bits set
    const h = encodeMessage({ type: 'hello', swarmId: new Uint8Array(32), pieceCount: 3, bitfield: new Uint8Array([0xe0]) })
    h[h.length - 1] = 0xff
    expect(() => decodeMessage(h.subarray(4))).toThrow(/spare bitfield bits/)
    const big = Buffer.alloc(1 + 1 + 32 + 4)
    big[0] = 1
    big[1] = 1
    big.writeUInt32BE(MAX_PIECES + 1, 34)
    expect(() => decodeMessage(big)).toThrow(/piece count/)
  })

  it('encode checks its arguments', () => {
    expect(() => encodeMessage(null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => encodeMessage({ type: 'request', piece: -1, offset: 0, length: 1 })).toThrow(/piece/)
    expect(() => encodeMessage({ type: 'request', piece: 0, offset: 0, length: MAX_REQUEST_BYTES + 1 })).toThrow(/length/)
    expect(() => encodeMessage({ type: 'piece', piece: 0, offset: 0, data: new Uint8Array(0) })).toThrow(/data/)
    expect(() => encodeMessage({ type: 'error', code: 'Bad Code', message: '' })).toThrow(/code/)
    expect(() => encodeMessage({ type: 'nope' } as never)).toThrow(/unknown message type/)
  })
})

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const manifestArb: fc.Arbitrary<SwarmManifest> = fc
  .record({
    name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
    pieceExp: fc.integer({ min: 14, max: 24 }),
    pieces: fc.integer({ min: 1, max: 20 }),
    tail: fc.integer({ min: 1, max: 1 << 14 }),
    sha256: hex64,
    publisher: fc.stringMatching(/^pg1-[a-z0-9]{10,30}$/),
    chain: fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 3 }),
    created: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
    signature: fc.uint8Array({ minLength: 64, maxLength: 64 })
  })
  .chain((r) =>
    fc.array(hex64, { minLength: r.pieces, maxLength: r.pieces }).map((pieces) => {
      const pieceSize = 2 ** r.pieceExp
      return {
        name: r.name,
        size: (r.pieces - 1) * pieceSize + Math.min(r.tail, pieceSize),
        pieceSize,
        sha256: r.sha256,
        pieces,
        publisher: r.publisher,
        chain: r.chain.map((c) => Buffer.from(c).toString('base64')),
        created: r.created.toISOString(),
        signature: Buffer.from(r.signature).toString('base64'),
        swarmId: ''
      }
    })
  )

describe('swarm manifest parser', () => {
  it('round-trips (encode → parse → encode) and computes a stable swarm ID', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const text = encodeManifest(m)
        const parsed = parseManifest(text)
        expect(encodeManifest(parsed)).toBe(text)
        expect(parsed.swarmId).toMatch(/^[0-9a-f]{64}$/)
        expect(parseManifest(Buffer.from(text)).swarmId).toBe(parsed.swarmId)
      })
    )
  })

  it('any change to a signed field changes the swarm ID', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const a = parseManifest(encodeManifest(m))
        const b = parseManifest(
          encodeManifest({ ...m, size: m.size - 1 >= (m.pieces.length - 1) * m.pieceSize + 1 ? m.size - 1 : m.size + 1 })
        )
        expect(b.swarmId).not.toBe(a.swarmId)
      })
    )
  })

  it('garbage and mutations give only SwarmManifestInvalidError', () => {
    const base = encodeManifest({
      name: 'x',
      size: 1,
      pieceSize: 16384,
      sha256: '0'.repeat(64),
      pieces: ['1'.repeat(64)],
      publisher: 'pg1-abc',
      chain: [randomBytes(10).toString('base64')],
      created: new Date(0).toISOString(),
      signature: randomBytes(64).toString('base64'),
      swarmId: ''
    })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json(),
          fc
            .tuple(fc.integer({ min: 0, max: base.length - 1 }), fc.string({ minLength: 1, maxLength: 3 }))
            .map(([i, s]) => base.slice(0, i) + s + base.slice(i + 1)),
          fc.uint8Array({ maxLength: 300 })
        ),
        (input) => {
          try {
            parseManifest(input)
          } catch (err) {
            expect(err).toBeInstanceOf(SwarmManifestInvalidError)
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it('refuses specific bad fields with a located reason', () => {
    const m: SwarmManifest = parseManifest(
      encodeManifest({
        name: 'team-x',
        size: 20000,
        pieceSize: 16384,
        sha256: 'a'.repeat(64),
        pieces: ['b'.repeat(64), 'c'.repeat(64)],
        publisher: 'pg1-abc',
        chain: [Buffer.from('cert').toString('base64')],
        created: '2026-01-01T00:00:00.000Z',
        signature: Buffer.alloc(64).toString('base64'),
        swarmId: ''
      })
    )
    const bad = (patch: Partial<SwarmManifest>): string => encodeManifest({ ...m, ...patch })
    expect(() => parseManifest(bad({ name: '../etc' }))).toThrow(/name:/)
    expect(() => parseManifest(bad({ pieceSize: 20000 }))).toThrow(/pieceSize:/)
    expect(() => parseManifest(bad({ pieces: ['b'.repeat(64)] }))).toThrow(/pieces: expected 2/)
    expect(() => parseManifest(bad({ sha256: 'A'.repeat(64) }))).toThrow(/sha256:/)
    expect(() => parseManifest(bad({ size: 0 }))).toThrow(/size:/)
    expect(() => parseManifest(bad({ chain: [] }))).toThrow(/chain:/)
    expect(() => parseManifest(bad({ signature: 'AAAA' }))).toThrow(/signature:/)
    expect(() => parseManifest(`${encodeManifest(m).slice(0, -2)},"extra":1}`)).toThrow(/exactly the keys/)
    expect(() => parseManifest(42 as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })
})
