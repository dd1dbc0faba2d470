import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { MessageFramer } from '../message-framer.js'
import { addDistinct, clean } from './text.js'

/** The plain share preface `PGSHARE1` (packages/share/SPEC.md section 2). */
export const SHARE_PREFACE = Buffer.from('PGSHARE1', 'latin1')

export function isPeerguardPlain(buf: Buffer, off: number, len: number): boolean {
  return len >= 8 && buf.compare(SHARE_PREFACE, 0, 8, off, off + 8) === 0
}

/** A cipher offer holds 1..16 cipher ids (packages/channel/SPEC.md section 2.6). */
const MAX_OFFERED_CIPHERS = 16

/**
 * The hardened channel's first message (packages/channel/SPEC.md sections 2.1 and 2.6): a u16 BE
 * length, then the 32-byte Noise XX ephemeral key, then either nothing (ChaChaPoly only: 34 bytes,
 * `00 20`) or a cipher offer `01 | count | count ids` (35..50 bytes in all). The prologue is not
 * sent, so this shape is the only marker; the responder's reply confirms it.
 */
export function isPeerguardChannelInit(buf: Buffer, off: number, len: number): boolean {
  if (len < 34 || buf[off] !== 0x00) return false
  const body = buf[off + 1] as number
  if (body !== len - 2) return false
  if (body === 32) return true
  const count = buf[off + 35] as number
  return buf[off + 34] === 0x01 && count >= 1 && count <= MAX_OFFERED_CIPHERS && body === 32 + 2 + count
}

/**
 * peerguard's hardened channel: recognised from the initiator's first message (above) and a
 * responder message 2 of at least 32 + 48 + 16 bytes (e, encrypted s, encrypted payload).
 */
export class PeerguardChannelApp implements FlowApp {
  readonly name = 'peerguard-channel'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  #confirmed = false
  #frames: number[] = []

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    noteFrame(this.#frames, frame)
    if (!fromClient && len >= 2) {
      const l = buf.readUInt16BE(off)
      this.#confirmed = l >= 96 && l <= 65535
      this.done = true
    }
  }

  gap(): void {}

  finish(): void {
    const flow = this.#flow.key()
    this.#ctx.findings.add({
      code: 'peerguard-channel',
      title: `peerguard hardened channel ${flow.src} → ${flow.dst}:${flow.dstPort}`,
      flow,
      evidence: { noise: 'XX', confidence: this.#confirmed ? 0.95 : 0.6 },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, 'peerguard-channel', { encrypted: true, share: true })
  }
}

/**
 * peerguard's plain share (packages/share/SPEC.md): preface, then frames `u32 length | u8 type |
 * u32 id | payload`; REQUEST payloads are JSON with `op` and paths.
 */
export class PeerguardPlainApp implements FlowApp {
  readonly name = 'peerguard-plain'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #framer: MessageFramer
  #prefaceLeft = 8
  readonly #ops: string[] = []
  readonly #paths: string[] = []
  #frames: number[] = []
  #dataFrames = 0

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#framer = new MessageFramer(
      4,
      65536 + 5,
      (h) => {
        const n = h.readUInt32BE(0)
        return n < 5 || n > 5 + 1024 * 1024 ? -1 : n
      },
      (_h, body, _len, frame) => this.#frame(body, frame)
    )
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (this.#frames.length === 0) noteFrame(this.#frames, frame)
    if (!fromClient) return
    if (this.#prefaceLeft > 0) {
      const take = Math.min(this.#prefaceLeft, len)
      this.#prefaceLeft -= take
      off += take
      len -= take
    }
    if (len > 0) this.#framer.push(buf, off, len, frame)
  }

  gap(fromClient: boolean, bytes: number): void {
    if (fromClient) this.#framer.gap(bytes)
  }

  #frame(body: Buffer, frame: number): void {
    const type = body[0]
    if (type === 3) this.#dataFrames++
    if (type !== 1 || body.length < 6) return
    noteFrame(this.#frames, frame)
    try {
      const req = JSON.parse(body.toString('utf8', 5)) as Record<string, unknown>
      if (typeof req.op === 'string') addDistinct(this.#ops, clean(req.op, 16))
      for (const k of ['path', 'from', 'to']) {
        const v = req[k]
        if (typeof v === 'string') addDistinct(this.#paths, clean(v, 200), 64)
      }
      // Each request as the policy verbs the hardened server would ask about (share SPEC §8).
      const op = typeof req.op === 'string' ? req.op : ''
      const at = (verb: 'list' | 'get' | 'put' | 'delete' | 'rename', v: unknown): void => {
        if (typeof v === 'string') this.#ctx.operation(this.#flow, { verb, path: v, command: op, frame })
      }
      if (op === 'list' || op === 'stat') at('list', req.path)
      else if (op === 'read') at('get', req.path)
      else if (op === 'write' || op === 'mkdir') at('put', req.path)
      else if (op === 'delete') at('delete', req.path)
      else if (op === 'rename') {
        at('rename', req.from)
        at('put', req.to)
      }
    } catch {
      this.#ctx.errors.add('peerguard-plain-bad-request', frame)
    }
  }

  finish(): void {
    const flow = this.#flow.key()
    this.#ctx.findings.add({
      code: 'peerguard-plain',
      title: `peerguard plain share ${flow.src} → ${flow.dst}:${flow.dstPort}${this.#paths.length > 0 ? ` (${this.#paths.slice(0, 3).join(', ')})` : ''}`,
      flow,
      evidence: { ops: this.#ops, paths: this.#paths, dataFrames: this.#dataFrames },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, 'peerguard-plain', { encrypted: false, share: true })
    for (const p of this.#paths)
      this.#ctx.classify(this.#flow, 'peerguard-plain', { encrypted: false, share: true, resource: `share:${p}` })
  }
}
