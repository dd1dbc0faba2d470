import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { addDistinct, clean } from './text.js'

/** TFTP opcodes (RFC 1350 5): read and write requests. */
const RRQ = 1
const WRQ = 2
/** Transfer modes (RFC 1350) — the content check that makes a datagram a TFTP request. */
const MODES = new Set(['netascii', 'octet', 'mail'])

/** A parsed read or write request: file name, mode and RFC 2347 options. */
export interface TftpRequest {
  op: 'read' | 'write'
  file: string
  mode: string
  options: Record<string, string>
}

/** Parse a TFTP RRQ/WRQ datagram (RFC 1350 5, options RFC 2347); undefined for anything else. */
export function parseTftpRequest(buf: Buffer, off: number, len: number): TftpRequest | undefined {
  if (len < 4 || len > 1024 || buf[off] !== 0) return undefined
  const opcode = buf[off + 1]
  if (opcode !== RRQ && opcode !== WRQ) return undefined
  const end = off + len
  const strings: string[] = []
  let p = off + 2
  while (p < end && strings.length < 34) {
    const z = buf.indexOf(0, p)
    if (z < 0 || z >= end) return undefined
    strings.push(buf.toString('latin1', p, z))
    p = z + 1
  }
  const [file, mode] = strings
  if (file === undefined || file === '' || mode === undefined || !MODES.has(mode.toLowerCase())) return undefined
  if (!/^[\x20-\x7e]+$/.test(file)) return undefined
  const options: Record<string, string> = {}
  for (let i = 2; i + 1 < strings.length; i += 2) options[clean(strings[i]!.toLowerCase(), 32)] = clean(strings[i + 1]!, 64)
  return { op: opcode === RRQ ? 'read' : 'write', file: clean(file, 255), mode: mode.toLowerCase(), options }
}

/** True when the datagram is a TFTP read or write request (any port). */
export function isTftpRequest(buf: Buffer, off: number, len: number): boolean {
  return parseTftpRequest(buf, off, len) !== undefined
}

/**
 * TFTP (no authentication, no encryption): every file read or written, by name. The data flows
 * from the server's new port (RFC 1350 4) are separate flows and are not tied back here.
 */
export class TftpApp implements FlowApp {
  readonly name = 'tftp'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #reads: string[] = []
  readonly #writes: string[] = []
  readonly #modes: string[] = []
  #requests = 0
  #frames: number[] = []

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(_fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    const req = parseTftpRequest(buf, off, len)
    if (req === undefined) return
    this.#requests++
    addDistinct(req.op === 'read' ? this.#reads : this.#writes, req.file, 64)
    addDistinct(this.#modes, req.mode, 4)
    noteFrame(this.#frames, frame)
    if (this.#requests > 10_000) this.done = true
  }

  gap(): void {}

  finish(): void {
    if (this.#requests === 0) return
    const flow = this.#flow.key()
    const files = [...this.#reads, ...this.#writes]
    this.#ctx.findings.add({
      code: 'tftp-transfer',
      title: `TFTP ${this.#reads.length > 0 ? (this.#writes.length > 0 ? 'read and write' : 'read') : 'write'} of ${files.slice(0, 3).join(', ')} from ${flow.src} to ${flow.dst}:${flow.dstPort} (no authentication, no encryption)`,
      flow,
      evidence: { reads: this.#reads, writes: this.#writes, modes: this.#modes, requests: this.#requests },
      frames: this.#frames
    })
    for (const f of files.slice(0, 16))
      this.#ctx.classify(this.#flow, 'tftp', { encrypted: false, share: true, resource: `file:${f}` })
    this.#ctx.classify(this.#flow, 'tftp', { encrypted: false, share: true })
  }
}
