import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { LineReader } from './line-reader.js'
import { addDistinct, clean } from './text.js'

/** PJL Universal Exit Language (HP PJL Technical Reference, 2-2): ESC %-12345X. */
const UEL = '\x1b%-12345X'
/** The JetDirect / AppSocket raw printing port (no protocol of its own). */
export const RAW_PRINT_PORT = 9100
/** Bytes of a job scanned for PJL commands; the document itself is only counted. */
const PJL_SCAN_BYTES = 64 * 1024

/**
 * A raw print job: PJL (UEL or `@PJL`) from the client on any port, or PostScript / PCL sent to
 * port 9100, where printers take whatever arrives as the document.
 */
export function isRawPrintStart(buf: Buffer, off: number, len: number, fromClient: boolean, serverPort: number): boolean {
  if (!fromClient || len < 4) return false
  const head = buf.toString('latin1', off, off + Math.min(len, 10))
  if (head.startsWith(UEL) || head.startsWith('@PJL')) return true
  return serverPort === RAW_PRINT_PORT && (head.startsWith('%!PS') || head.startsWith('\x1bE'))
}

/** `NAME="value"` or `NAME=value` out of a PJL command line. */
function pjlValue(line: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|(\\S+))`, 'i').exec(line)
  return m === null ? undefined : clean(m[1] ?? m[2] ?? '', 200)
}

/**
 * Raw printing (port 9100 / AppSocket, or PJL anywhere): who printed what, from the PJL job
 * header drivers put in front of the document (JOB NAME, SET USERNAME / JOBNAME, JOBATTR
 * "@JOAU", ENTER LANGUAGE). The document is counted, never kept.
 */
export class RawPrintApp implements FlowApp {
  readonly name = 'raw-print'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #lines: LineReader
  readonly #users: string[] = []
  readonly #jobNames: string[] = []
  readonly #languages: string[] = []
  #pjl = 0
  #bytes = 0
  #scanned = 0
  #frames: number[] = []
  #first = ''

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#lines = new LineReader((line, frame) => this.#line(line, frame), 1024)
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (!fromClient) return
    if (this.#bytes === 0) {
      this.#first = buf.toString('latin1', off, off + Math.min(len, 4))
      noteFrame(this.#frames, frame)
    }
    this.#bytes += len
    if (this.#scanned < PJL_SCAN_BYTES) {
      const take = Math.min(len, PJL_SCAN_BYTES - this.#scanned)
      this.#scanned += take
      this.#lines.push(buf, off, take, frame)
    }
  }

  gap(fromClient: boolean): void {
    if (fromClient) this.#lines.reset()
  }

  #line(raw: string, frame: number): void {
    let line = raw
    while (line.startsWith(UEL)) line = line.slice(UEL.length)
    if (!line.startsWith('@PJL')) return
    this.#pjl++
    const cmd = line.slice(4).trim()
    const upper = cmd.toUpperCase()
    let hit = false
    if (upper.startsWith('JOB')) {
      const n = pjlValue(cmd, 'NAME')
      if (n !== undefined) addDistinct(this.#jobNames, n)
      hit = n !== undefined
    } else if (upper.startsWith('SET')) {
      for (const key of ['USERNAME', 'USER', 'OWNER']) {
        const u = pjlValue(cmd, key)
        if (u !== undefined) {
          addDistinct(this.#users, u)
          hit = true
        }
      }
      const j = pjlValue(cmd, 'JOBNAME')
      if (j !== undefined) addDistinct(this.#jobNames, j)
      // JOBATTR="@JOAU=name" (job originating user), "@JOHO=host".
      const attr = pjlValue(cmd, 'JOBATTR')
      const joau = attr === undefined ? null : /^@JOAU=(.+)$/i.exec(attr)
      if (joau !== null) addDistinct(this.#users, clean(joau[1]!, 200))
      hit ||= j !== undefined || joau !== null
    } else if (upper.startsWith('ENTER')) {
      const l = pjlValue(cmd, 'LANGUAGE')
      if (l !== undefined) addDistinct(this.#languages, l.toUpperCase(), 8)
    }
    if (hit) noteFrame(this.#frames, frame)
  }

  finish(): void {
    if (this.#bytes === 0) return
    const flow = this.#flow.key()
    if (this.#languages.length === 0 && this.#pjl === 0)
      addDistinct(this.#languages, this.#first.startsWith('%!') ? 'POSTSCRIPT' : 'PCL', 8)
    const who = this.#users.length > 0 ? ` by ${this.#users.join(', ')}` : ''
    this.#ctx.findings.add({
      code: 'raw-print-job',
      title: `raw print job${who} sent in clear to ${flow.dst}:${flow.dstPort}${this.#jobNames.length > 0 ? ` (${this.#jobNames.slice(0, 3).join(', ')})` : ''}`,
      flow,
      evidence: {
        users: this.#users,
        jobNames: this.#jobNames,
        languages: this.#languages,
        pjlCommands: this.#pjl,
        bytes: this.#bytes
      },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, 'raw-print', { encrypted: false })
  }
}
