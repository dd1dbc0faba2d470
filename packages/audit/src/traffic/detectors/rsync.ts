import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { LineReader } from './line-reader.js'
import { addDistinct, clean } from './text.js'

/** The rsync daemon greeting, sent first by both sides (rsyncd protocol, clientserver.c). */
const GREETING = '@RSYNCD: '
const MAX_LINE = 4096
/** Arguments the client sends after `@RSYNCD: OK` (NUL-separated since protocol 30), bounded. */
const MAX_ARGS = 64

export function isRsyncdStart(buf: Buffer, off: number, len: number): boolean {
  return len >= 9 && buf.toString('latin1', off, off + 9) === GREETING
}

/**
 * The rsync daemon protocol in clear (TCP 873, any port): the module list, the module opened, the
 * user of an `auth users` module (the challenge response is never kept: it can be cracked
 * offline), the server-side arguments (paths, direction) and the bytes transferred.
 */
export class RsyncApp implements FlowApp {
  readonly name = 'rsync'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #server: LineReader
  #serverText = true
  #serverBinary = 0
  #clientState: 'greeting' | 'module' | 'after-module' | 'auth' | 'args' | 'binary' = 'greeting'
  #clientLine: number[] = []
  #clientBinary = 0
  #authRequested = false
  #ok = false
  #listing = false
  readonly #modules: string[] = []
  readonly #listed: string[] = []
  readonly #users: string[] = []
  readonly #args: string[] = []
  readonly #errors: string[] = []
  #version = ''
  #frames: number[] = []

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#server = new LineReader((line, frame) => this.#serverLine(line, frame), MAX_LINE)
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (!fromClient) {
      if (this.#serverText) this.#server.push(buf, off, len, frame)
      else this.#serverBinary += len
      return
    }
    const end = off + len
    for (let p = off; p < end; p++) {
      if (this.#clientState === 'binary') {
        this.#clientBinary += end - p
        return
      }
      if (this.#clientState === 'after-module') this.#clientState = this.#authRequested ? 'auth' : 'args'
      const c = buf[p]!
      const sep = this.#clientState === 'args' ? 0 : 0x0a
      if (c !== sep) {
        if (this.#clientLine.length >= MAX_LINE) {
          this.#ctx.errors.add('rsync-overlong-line', frame)
          this.#clientState = 'binary'
          continue
        }
        this.#clientLine.push(c)
        continue
      }
      const line = Buffer.from(this.#clientLine).toString('latin1')
      this.#clientLine = []
      this.#clientDone(line, frame)
    }
  }

  #clientDone(line: string, frame: number): void {
    switch (this.#clientState) {
      case 'greeting':
        this.#clientState = line.startsWith(GREETING) ? 'module' : 'binary'
        return
      case 'module': {
        const module = clean(line.trim(), 128)
        if (module === '' || module === '#list') this.#listing = true
        else addDistinct(this.#modules, module)
        noteFrame(this.#frames, frame)
        this.#clientState = 'after-module'
        return
      }
      case 'auth': {
        // "user response": the user is evidence, the response (a hash of the password) is not kept.
        const user = line.split(' ')[0] ?? ''
        if (user !== '') addDistinct(this.#users, clean(user, 64))
        noteFrame(this.#frames, frame)
        this.#clientState = 'args'
        return
      }
      case 'args':
        if (line === '' || this.#args.length >= MAX_ARGS) this.#clientState = 'binary'
        else addDistinct(this.#args, clean(line, 200), MAX_ARGS)
        return
      default:
        return
    }
  }

  #serverLine(line: string, frame: number): void {
    if (line.startsWith(GREETING)) {
      const rest = line.slice(GREETING.length).trim()
      if (this.#version === '') this.#version = clean(rest.split(' ')[0] ?? '', 16)
      else if (rest.startsWith('AUTHREQD')) this.#authRequested = true
      else if (rest === 'OK') {
        this.#ok = true
        this.#serverText = false
        noteFrame(this.#frames, frame)
      } else if (rest === 'EXIT') this.#serverText = false
      return
    }
    if (line.startsWith('@ERROR')) {
      addDistinct(this.#errors, clean(line, 200), 8)
      this.#serverText = false
      return
    }
    // A module list line: "name<spaces>\tcomment".
    if (this.#listing) {
      const name = clean(line.split('\t')[0]!.trim(), 128)
      if (name !== '') addDistinct(this.#listed, name, 256)
      noteFrame(this.#frames, frame)
    }
  }

  gap(fromClient: boolean): void {
    if (fromClient) this.#clientState = 'binary'
    else this.#serverText = false
  }

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    if (this.#listing && this.#listed.length > 0) {
      add({
        code: 'rsync-module-list',
        title: `rsync daemon ${flow.dst}:${flow.dstPort} lists its modules in clear: ${this.#listed.slice(0, 5).join(', ')}`,
        flow,
        evidence: { modules: this.#listed, protocolVersion: this.#version },
        frames: this.#frames
      })
    }
    if (this.#modules.length > 0) {
      const sender = this.#args.includes('--sender')
      add({
        code: 'rsync-daemon-transfer',
        title: `rsync module ${this.#modules.join(', ')} ${sender ? 'read' : 'written'} in clear on ${flow.dst}:${flow.dstPort}${this.#users.length > 0 ? ` by ${this.#users.join(', ')}` : ' without authentication'}`,
        flow,
        evidence: {
          modules: this.#modules,
          users: this.#users,
          authenticated: this.#users.length > 0,
          passwordMasked: this.#users.length > 0,
          accepted: this.#ok,
          direction: sender ? 'download' : 'upload',
          arguments: this.#args.filter((a) => !a.startsWith('-') || a === '--sender'),
          bytes: { toClient: this.#serverBinary, toServer: this.#clientBinary },
          errors: this.#errors,
          protocolVersion: this.#version
        },
        frames: this.#frames
      })
    }
    const resources = this.#modules.map((m) => `share:${m}`)
    this.#ctx.classify(this.#flow, 'rsync', { encrypted: false, share: this.#modules.length > 0 })
    for (const r of resources) this.#ctx.classify(this.#flow, 'rsync', { encrypted: false, share: true, resource: r })
  }
}
