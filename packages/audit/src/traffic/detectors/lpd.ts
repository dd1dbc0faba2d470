import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { addDistinct, clean } from './text.js'

/** LPD daemon commands (RFC 1179 5.1-5.5): print waiting, receive job, short/long queue, remove. */
const COMMANDS = ['', 'print-waiting', 'receive-job', 'queue-state-short', 'queue-state-long', 'remove-jobs']
/** Longest command or subcommand line kept (RFC 1179 allows short lines only). */
const MAX_LINE = 1024
/** Bytes of a control file kept for parsing. */
const MAX_CONTROL = 8192

/** An LPD daemon command from the client: code 1..5, a printable queue name, LF (RFC 1179 5). */
export function isLpdStart(buf: Buffer, off: number, len: number, fromClient: boolean): boolean {
  if (!fromClient || len < 3) return false
  const code = buf[off]!
  if (code < 1 || code > 5) return false
  const nl = buf.indexOf(0x0a, off + 1)
  if (nl < 0 || nl >= off + Math.min(len, 256) || nl === off + 1) return false
  for (let i = off + 1; i < nl; i++) {
    const c = buf[i]!
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

/**
 * LPD / LPR print jobs (RFC 1179): the queue, then per job the control file's host (H), user (P),
 * job name (J), source file names (N) and formats; data files are counted, never kept.
 */
export class LpdApp implements FlowApp {
  readonly name = 'lpd'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #queues: string[] = []
  readonly #commands: string[] = []
  readonly #users: string[] = []
  readonly #hosts: string[] = []
  readonly #jobNames: string[] = []
  readonly #files: string[] = []
  #jobs = 0
  #dataBytes = 0
  #frames: number[] = []
  /** 'command' (first line), 'sub' (receive-job subcommands), 'file' (inside a control/data file). */
  #state: 'command' | 'sub' | 'file' | 'off' = 'command'
  #line: number[] = []
  #fileLeft = 0
  #control: Buffer[] | undefined
  #controlBytes = 0

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (!fromClient) return
    let p = off
    const end = off + len
    while (p < end && this.#state !== 'off') {
      if (this.#state === 'file') {
        const take = Math.min(this.#fileLeft, end - p)
        if (this.#control !== undefined) {
          const keep = Math.min(take, MAX_CONTROL - this.#controlBytes)
          if (keep > 0) this.#control.push(Buffer.from(buf.subarray(p, p + keep)))
          this.#controlBytes += keep
        } else this.#dataBytes += take
        this.#fileLeft -= take
        p += take
        if (this.#fileLeft === 0) this.#endFile(frame)
        continue
      }
      const c = buf[p++]!
      if (c !== 0x0a) {
        if (this.#line.length >= MAX_LINE) {
          this.#ctx.errors.add('lpd-overlong-line', frame)
          this.#state = 'off'
          return
        }
        this.#line.push(c)
        continue
      }
      const line = Buffer.from(this.#line)
      this.#line = []
      this.#lineDone(line, frame)
    }
    if (this.#state === 'off') this.done = true
  }

  #lineDone(line: Buffer, frame: number): void {
    const code = line[0] ?? 0
    const rest = clean(line.toString('latin1', 1), 200)
    if (this.#state === 'command') {
      if (code < 1 || code > 5) {
        this.#ctx.errors.add('lpd-bad-command', frame)
        this.#state = 'off'
        return
      }
      const queue = rest.split(' ')[0] ?? ''
      addDistinct(this.#queues, queue)
      addDistinct(this.#commands, COMMANDS[code]!)
      noteFrame(this.#frames, frame)
      this.#state = code === 2 ? 'sub' : 'off'
      return
    }
    // Receive-job subcommands: 1 abort, 2 control file, 3 data file, each "count SP name".
    if (code === 1) return
    const m = /^(\d{1,12}) (.*)$/.exec(rest)
    if ((code !== 2 && code !== 3) || m === null) {
      this.#ctx.errors.add('lpd-bad-subcommand', frame)
      this.#state = 'off'
      return
    }
    // The file is followed by one NUL byte (RFC 1179 6.2, 6.3).
    this.#fileLeft = Number(m[1]) + 1
    this.#control = code === 2 ? [] : undefined
    this.#controlBytes = 0
    this.#state = 'file'
    if (code === 2) {
      this.#jobs++
      noteFrame(this.#frames, frame)
    }
  }

  #endFile(frame: number): void {
    this.#state = 'sub'
    const parts = this.#control
    this.#control = undefined
    if (parts === undefined) return
    // Control file lines (RFC 1179 7): H host, P user, J job name, N file name, L banner user.
    for (const raw of Buffer.concat(parts).toString('latin1').split('\n')) {
      const key = raw[0]
      const value = clean(raw.slice(1).replace(/\0+$/, ''), 200)
      if (value === '') continue
      if (key === 'P' || key === 'L') addDistinct(this.#users, value)
      else if (key === 'H') addDistinct(this.#hosts, value)
      else if (key === 'J') addDistinct(this.#jobNames, value)
      else if (key === 'N') addDistinct(this.#files, value)
    }
    noteFrame(this.#frames, frame)
  }

  gap(fromClient: boolean): void {
    if (fromClient && this.#state !== 'file') this.#state = 'off'
  }

  finish(): void {
    if (this.#queues.length === 0) return
    const flow = this.#flow.key()
    const who = this.#users.length > 0 ? ` by ${this.#users.join(', ')}` : ''
    this.#ctx.findings.add({
      code: 'lpd-print-job',
      title: `LPD ${this.#jobs > 0 ? `print job${who}` : this.#commands.join(', ')} in clear to ${flow.dst}:${flow.dstPort} (queue ${this.#queues.join(', ')})`,
      flow,
      evidence: {
        queues: this.#queues,
        commands: this.#commands,
        users: this.#users,
        hosts: this.#hosts,
        jobNames: this.#jobNames,
        files: this.#files,
        jobs: this.#jobs,
        dataBytes: this.#dataBytes
      },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, 'lpd', { encrypted: false })
  }
}
