import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { LineReader } from './line-reader.js'
import { addDistinct, clean } from './text.js'

const FTP_COMMAND =
  /^(USER|PASS|AUTH|ACCT|CWD|PWD|SYST|FEAT|TYPE|PASV|EPSV|PORT|EPRT|LIST|NLST|RETR|STOR|STOU|APPE|QUIT|OPTS|MLSD|HELP|NOOP) ?/i

/** Server greeting `220` (not SMTP), or a client opening with an FTP command (RFC 959). */
export function isFtpStart(buf: Buffer, off: number, len: number, fromClient: boolean): boolean {
  const head = buf.toString('latin1', off, off + Math.min(len, 128))
  if (!fromClient) return /^220[ -]/.test(head) && !/SMTP|Postfix|Exim|Sendmail/i.test(head)
  return /^(USER|AUTH (TLS|SSL)|FEAT|SYST) ?/i.test(head) && head.includes('\n')
}

interface Attempt {
  user: string
  frame: number
  outcome: 'success' | 'failed' | 'unknown'
}

/**
 * FTP control channel: USER/PASS in clear (password masked in findings), transfers by file name,
 * PASV/EPSV/PORT/EPRT data connections announced, AUTH TLS recognised as the good case.
 */
export class FtpApp implements FlowApp {
  name = 'ftp'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #client: LineReader
  readonly #server: LineReader
  #user = ''
  #awaitingLogin: Attempt | undefined
  readonly #attempts: Attempt[] = []
  #authTls = false
  #authFrames: number[] = []
  readonly #files: { verb: string; file: string; path: string; frame: number }[] = []
  #cwd = ''
  #lastTransfer: { verb: string; file: string } | undefined

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#client = new LineReader((l, f) => this.#command(l, f), 4096)
    this.#server = new LineReader((l, f) => this.#reply(l, f), 4096)
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    ;(fromClient ? this.#client : this.#server).push(buf, off, len, frame)
    // A control channel is short lines; a stream of overlong lines is not FTP (or not any more).
    if (this.#client.overlong + this.#server.overlong > 16) this.done = true
  }

  gap(fromClient: boolean): void {
    ;(fromClient ? this.#client : this.#server).reset()
  }

  #command(line: string, frame: number): void {
    const m = /^([A-Za-z]{3,4})(?: (.*))?$/.exec(line)
    if (m === null) {
      this.#junk()
      return
    }
    const verb = m[1]!.toUpperCase()
    const arg = clean(m[2] ?? '', 200)
    switch (verb) {
      case 'USER':
        this.#user = arg
        break
      case 'CWD':
        this.#cwd = arg.startsWith('/') ? arg : this.#cwd === '' ? arg : `${this.#cwd.replace(/\/+$/, '')}/${arg}`
        break
      case 'PASS': {
        const attempt: Attempt = { user: this.#user, frame, outcome: 'unknown' }
        if (this.#attempts.length < 1000) this.#attempts.push(attempt)
        this.#awaitingLogin = attempt
        break
      }
      case 'AUTH':
        noteFrame(this.#authFrames, frame)
        break
      case 'RETR':
      case 'STOR':
      case 'STOU':
      case 'APPE':
        if (this.#files.length < 64)
          this.#files.push({
            verb,
            file: arg,
            path: this.#cwd === '' || arg.startsWith('/') ? arg : `${this.#cwd.replace(/\/+$/, '')}/${arg}`,
            frame
          })
        this.#lastTransfer = { verb, file: arg }
        this.#operation(verb === 'RETR' ? 'get' : 'put', verb, arg, frame)
        break
      case 'LIST':
      case 'NLST':
      case 'MLSD':
        this.#lastTransfer = { verb, file: arg }
        this.#operation('list', verb, arg.startsWith('-') ? '' : arg, frame)
        break
      case 'DELE':
      case 'RMD':
        this.#operation('delete', verb, arg, frame)
        break
      case 'MKD':
      case 'RNTO':
        this.#operation('put', verb, arg, frame)
        break
      case 'RNFR':
        this.#operation('rename', verb, arg, frame)
        break
      case 'PORT': {
        const n = arg.split(',').map(Number)
        if (n.length === 6 && n.every((x) => Number.isInteger(x) && x >= 0 && x <= 255))
          this.#expect(`${n[0]}.${n[1]}.${n[2]}.${n[3]}`, n[4]! * 256 + n[5]!)
        break
      }
      case 'EPRT': {
        const parts = arg.split(arg[0] ?? '|')
        const port = Number(parts[3])
        if (parts[2] !== undefined && Number.isInteger(port)) this.#expect(parts[2], port)
        break
      }
      default:
        if (!FTP_COMMAND.test(line)) return
    }
  }

  #reply(line: string, frame: number): void {
    const code = line.slice(0, 3)
    if (!/^\d{3}$/.test(code)) {
      // Continuation lines of multi-line replies start with a space or the text itself.
      if (!/^[ \t]|^[\x20-\x7e]*$/.test(line)) this.#junk()
      return
    }
    if (code === '230' && this.#awaitingLogin !== undefined) this.#loginDone(true)
    else if (code === '530' && this.#awaitingLogin !== undefined) this.#loginDone(false)
    else if (code === '234') {
      // AUTH TLS accepted: everything after this is TLS (RFC 4217).
      this.#authTls = true
      noteFrame(this.#authFrames, frame)
      this.done = true
    } else if (code === '227') {
      const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line)
      if (m !== null) this.#expect(`${m[1]}.${m[2]}.${m[3]}.${m[4]}`, Number(m[5]) * 256 + Number(m[6]))
    } else if (code === '229') {
      const m = /\(\|\|\|(\d+)\|\)/.exec(line)
      if (m !== null) this.#expect(this.#flow.server.addr, Number(m[1]))
    }
  }

  #junkLines = 0

  /** A line that is not FTP: after a few, this is not (or no longer) an FTP control channel. */
  #junk(): void {
    if (++this.#junkLines > 16) this.done = true
  }

  #loginDone(ok: boolean): void {
    const a = this.#awaitingLogin!
    a.outcome = ok ? 'success' : 'failed'
    this.#awaitingLogin = undefined
    this.#ctx.ftpLogin(this.#flow.client.addr, this.#flow.server.addr, a.user, ok, a.frame, this.#flow.server.port)
  }

  /** A file operation for the per-path policy checks (path relative to the FTP root). */
  #operation(verb: 'list' | 'get' | 'put' | 'delete' | 'rename', command: string, arg: string, frame: number): void {
    const path = arg.startsWith('/') || this.#cwd === '' ? arg : `${this.#cwd.replace(/\/+$/, '')}/${arg}`
    this.#ctx.operation(this.#flow, { verb, path: path.replace(/^\/+/, ''), command, frame })
  }

  #expect(addr: string, port: number): void {
    if (port <= 0 || port > 65535) return
    this.#ctx.expectFtpData(addr, port, { control: this.#flow.key(), command: () => this.#lastTransfer })
  }

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    if (this.#attempts.length > 0) {
      const users: string[] = []
      for (const a of this.#attempts) addDistinct(users, a.user)
      const anonymous = users.every((u) => /^(anonymous|ftp)$/i.test(u))
      add({
        code: 'ftp-cleartext-credentials',
        title: `FTP login ${users.join(', ')} in clear to ${flow.dst}`,
        flow,
        evidence: {
          users,
          passwordMasked: true,
          anonymous,
          attempts: this.#attempts.length,
          succeeded: this.#attempts.filter((a) => a.outcome === 'success').length,
          failed: this.#attempts.filter((a) => a.outcome === 'failed').length
        },
        frames: this.#attempts.map((a) => a.frame),
        ...(anonymous ? { severity: 'low' as const } : {})
      })
    }
    if (this.#files.length > 0) {
      add({
        code: 'cleartext-file-transfer',
        title: `FTP ${this.#files
          .map((f) => `${f.verb} ${f.file}`)
          .slice(0, 3)
          .join(', ')} in clear`,
        flow,
        evidence: { protocol: 'ftp', files: this.#files.map((f) => ({ command: f.verb, file: f.file, path: f.path })) },
        frames: this.#files.map((f) => f.frame)
      })
    }
    if (this.#authTls) {
      this.name = 'ftps'
      add({
        code: 'ftp-auth-tls',
        title: `FTP upgraded with AUTH TLS to ${flow.dst}`,
        flow,
        evidence: { protocol: 'ftp', tls: true },
        frames: this.#authFrames
      })
    }
    const resources = this.#files.map((f) => `file:${f.path}`)
    this.#ctx.classify(this.#flow, this.name, { encrypted: this.#authTls && this.#attempts.length === 0, share: true })
    for (const r of resources) this.#ctx.classify(this.#flow, this.name, { encrypted: false, share: true, resource: r })
  }
}
