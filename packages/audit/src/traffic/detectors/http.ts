import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { PeripheralTracker } from './http-peripherals.js'
import { NtlmTracker } from './ntlm.js'
import { addDistinct, clean } from './text.js'

const METHODS = [
  'GET',
  'POST',
  'PUT',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'PROPFIND',
  'PROPPATCH',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'SEARCH',
  'TRACE'
]
const REQUEST_LINE = new RegExp(`^(${METHODS.join('|')}) (\\S+) HTTP/1\\.[01]$`)
/** WebDAV (RFC 4918) methods and PUT: file-share operations. */
const FILE_METHODS = new Set(['PUT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'DELETE'])
/** Policy verbs of the HTTP/WebDAV methods that move or change files (RFC 9110, RFC 4918). */
const HTTP_VERBS: Readonly<Record<string, 'list' | 'get' | 'put' | 'delete' | 'rename'>> = {
  GET: 'get',
  PUT: 'put',
  POST: 'put',
  DELETE: 'delete',
  MOVE: 'rename',
  COPY: 'get',
  MKCOL: 'put',
  PROPFIND: 'list',
  PROPPATCH: 'put'
}

/** The path of a request target without query, percent-decoded where valid. */
function decodeUrlPath(target: string): string {
  const p = target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split(/[?#]/)[0] ?? ''
  try {
    return decodeURIComponent(p).replace(/^\/+/, '')
  } catch {
    return p.replace(/^\/+/, '')
  }
}

/** Extensions of pages rather than files. */
const PAGE_EXT = /\.(html?|php|aspx?|jsp|cgi|js|css|ico|png|gif|jpe?g|svg|woff2?)$/i

/** A request line from the client, or a status line from the server (content, not port). */
export function isHttpStart(buf: Buffer, off: number, len: number, fromClient: boolean): boolean {
  const head = buf.toString('latin1', off, off + Math.min(len, 16))
  if (!fromClient) return head.startsWith('HTTP/1.')
  const sp = head.indexOf(' ')
  return sp > 2 && METHODS.includes(head.slice(0, sp))
}

interface Request {
  method: string
  path: string
  frame: number
}

interface Message {
  start: string
  headers: Map<string, string>
  frame: number
}

/**
 * One direction of HTTP/1.x: request or status line, headers (bounded), then a body skipped by
 * Content-Length or chunk sizes; a close-delimited body ends parsing of that direction. When
 * `onMessage` asks for it, the first bytes of a body are copied and handed to `onBody` (IPP
 * attributes, scan settings); the rest is skipped without copying.
 */
class HttpDirection {
  #buf = ''
  #skip = 0
  /** Bytes at the end of `#skip` that are not body (a chunk's CRLF). */
  #skipTail = 0
  #frame = 0
  #body: Buffer[] | undefined
  #bodyLeft = 0
  #bodyMsg: Message | undefined
  /** Inside a chunked body (RFC 9112 7.1): reading chunk-size lines, skipping chunk data. */
  #chunked = false
  #chunkLine = ''
  #chunkTrailer = false
  stopped = false

  constructor(
    readonly onMessage: (m: Message) => number,
    readonly onBody: (m: Message, body: Buffer) => void = () => {}
  ) {}

  /** Consume `take` skipped bytes at `buf[p]`, copying the wanted body prefix. */
  #consume(buf: Buffer, p: number, take: number): void {
    if (this.#body !== undefined) {
      const bodyBytes = Math.max(0, Math.min(take, this.#skip - this.#skipTail))
      const c = Math.min(bodyBytes, this.#bodyLeft)
      if (c > 0) {
        this.#body.push(Buffer.from(buf.subarray(p, p + c)))
        this.#bodyLeft -= c
      }
      if (this.#bodyLeft === 0) this.#emitBody()
    }
    this.#skip -= take
    if (this.#skip === 0) {
      this.#skipTail = 0
      if (!this.#chunked) this.#emitBody()
    }
  }

  #emitBody(): void {
    const parts = this.#body
    const msg = this.#bodyMsg
    this.#body = undefined
    this.#bodyMsg = undefined
    if (parts !== undefined && msg !== undefined && parts.length > 0) this.onBody(msg, Buffer.concat(parts))
  }

  push(buf: Buffer, off: number, len: number, frame: number): void {
    if (this.stopped) return
    let p = off
    const end = off + len
    while (p < end && !this.stopped) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, end - p)
        this.#consume(buf, p, take)
        p += take
        continue
      }
      if (this.#chunked) {
        p = this.#chunk(buf, p, end)
        continue
      }
      if (this.#buf === '') this.#frame = frame
      const text = buf.toString('latin1', p, Math.min(end, p + 16384 - this.#buf.length))
      const combined = this.#buf + text
      const hdrEnd = combined.indexOf('\r\n\r\n')
      if (hdrEnd < 0) {
        if (combined.length >= 16384) this.stopped = true
        this.#buf = combined
        return
      }
      const consumed = hdrEnd + 4 - this.#buf.length
      this.#buf = ''
      p += consumed
      const lines = combined.slice(0, hdrEnd).split('\r\n')
      const headers = new Map<string, string>()
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':')
        if (c > 0 && headers.size < 100) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim())
      }
      const msg = { start: lines[0] ?? '', headers, frame: this.#frame }
      const want = this.onMessage(msg)
      if (want > 0) {
        this.#body = []
        this.#bodyLeft = want
        this.#bodyMsg = msg
      }
      const te = headers.get('transfer-encoding')
      const cl = headers.get('content-length')
      if (te !== undefined && /chunked/i.test(te)) this.#chunked = true
      else if (cl !== undefined && /^\d+$/.test(cl)) {
        this.#skip = Number(cl)
        if (this.#skip === 0) this.#emitBody()
      } else if (msg.start.startsWith('HTTP/') && !/^HTTP\/1\.[01] (1\d\d|204|304)/.test(msg.start)) this.stopped = true
    }
  }

  /** One step through a chunked body: a size line (then skip the data and its CRLF), or the end. */
  #chunk(buf: Buffer, p: number, end: number): number {
    const nl = buf.indexOf(0x0a, p)
    if (nl < 0 || nl >= end) {
      this.#chunkLine += buf.toString('latin1', p, end)
      if (this.#chunkLine.length > 1024) this.stopped = true
      return end
    }
    const line = (this.#chunkLine + buf.toString('latin1', p, nl)).replace(/\r$/, '')
    this.#chunkLine = ''
    if (this.#chunkTrailer) {
      // Trailer fields until an empty line ends the message.
      if (line === '') {
        this.#chunked = false
        this.#chunkTrailer = false
      }
      return nl + 1
    }
    const m = /^([0-9A-Fa-f]{1,8})(;.*)?$/.exec(line.trim())
    if (m === null) {
      this.stopped = true
      return end
    }
    const size = Number.parseInt(m[1]!, 16)
    if (size === 0) {
      this.#chunkTrailer = true
      this.#emitBody()
    } else {
      this.#skip = size + 2
      this.#skipTail = 2
    }
    return nl + 1
  }

  gap(): void {
    if (this.#skip === 0) this.stopped = true
  }
}

/**
 * HTTP over plain TCP: Basic credentials (user shown, password masked), Digest user names, NTLM
 * and Negotiate tokens, WebDAV methods, uploads and file downloads as cleartext file transfers.
 */
export class HttpApp implements FlowApp {
  readonly name = 'http'
  readonly #ctx: AuditContext
  readonly #flow: Flow
  /** Each direction in a field of its own (no array between the app and it on every packet). */
  readonly #fromClient: HttpDirection
  readonly #fromServer: HttpDirection
  readonly #ntlm: NtlmTracker
  readonly #queue: Request[] = []
  readonly #basicUsers: string[] = []
  #basicFrames: number[] = []
  readonly #digestUsers: string[] = []
  #digestFrames: number[] = []
  readonly #transfers: { method: string; path: string; status?: string; contentType?: string; contentLength?: number }[] = []
  #transferFrames: number[] = []
  /** Printing (IPP) and scanning (eSCL, WSD) carried over this HTTP connection. */
  readonly #peripherals: PeripheralTracker

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#ntlm = new NtlmTracker('http', ctx, () => flow.client.addr)
    this.#peripherals = new PeripheralTracker(ctx, flow)
    this.#fromClient = new HttpDirection(
      (m) => this.#request(m),
      (m, body) => this.#peripherals.body(m.start, body, m.frame)
    )
    this.#fromServer = new HttpDirection((m) => this.#response(m))
  }

  get done(): boolean {
    return this.#fromClient.stopped && this.#fromServer.stopped
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).push(buf, off, len, frame)
  }

  gap(fromClient: boolean): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).gap()
  }

  /** A request: returns how many body bytes the peripheral parsers want copied. */
  #request(m: Message): number {
    const rl = REQUEST_LINE.exec(m.start)
    if (rl === null) {
      this.#ctx.errors.add('http-bad-request-line', m.frame)
      return 0
    }
    const method = rl[1]!
    const path = clean(rl[2]!, 300)
    if (this.#queue.length < 256) this.#queue.push({ method, path, frame: m.frame })
    const want = this.#peripherals.request(method, path, m.headers, m.frame)
    const auth = m.headers.get('authorization') ?? m.headers.get('proxy-authorization')
    if (auth !== undefined) this.#authorization(auth, m.frame)
    const ctype = m.headers.get('content-type') ?? ''
    const upload = method === 'POST' && /multipart\/form-data|application\/octet-stream/i.test(ctype)
    if (FILE_METHODS.has(method) || upload) {
      this.#transfer(
        { method, path, contentType: ctype || undefined, contentLength: numberOrUndefined(m.headers.get('content-length')) },
        m.frame
      )
    }
    return want
  }

  #authorization(value: string, frame: number): void {
    const sp = value.indexOf(' ')
    const scheme = (sp < 0 ? value : value.slice(0, sp)).toLowerCase()
    const rest = sp < 0 ? '' : value.slice(sp + 1).trim()
    if (scheme === 'basic') {
      const decoded = Buffer.from(rest, 'base64').toString('latin1')
      const c = decoded.indexOf(':')
      addDistinct(this.#basicUsers, clean(c < 0 ? decoded : decoded.slice(0, c), 128))
      noteFrame(this.#basicFrames, frame)
    } else if (scheme === 'digest') {
      const u = /username="([^"]*)"/i.exec(rest)
      addDistinct(this.#digestUsers, clean(u?.[1] ?? '', 128))
      noteFrame(this.#digestFrames, frame)
    } else if (scheme === 'ntlm' || scheme === 'negotiate') {
      const token = Buffer.from(rest, 'base64')
      this.#ntlm.scan(token, 0, token.length, frame)
    }
  }

  #response(m: Message): number {
    const st = /^HTTP\/1\.[01] (\d{3})/.exec(m.start)
    if (st === null) {
      this.#ctx.errors.add('http-bad-status-line', m.frame)
      return 0
    }
    const status = st[1]!
    if (status.startsWith('1')) return 0
    const req = this.#queue.shift()
    if (req !== undefined) this.#peripherals.response(req.method, req.path, status, m.headers, m.frame)
    if (req === undefined || req.method !== 'GET' || !status.startsWith('2')) return 0
    const ctype = m.headers.get('content-type') ?? ''
    const disposition = m.headers.get('content-disposition') ?? ''
    const file = req.path.split('?')[0]!.split('/').pop() ?? ''
    const looksLikeFile =
      /attachment/i.test(disposition) ||
      /octet-stream|zip|pdf|x-tar|gzip/i.test(ctype) ||
      (/\.[A-Za-z0-9]{1,8}$/.test(file) && !PAGE_EXT.test(file))
    if (looksLikeFile) {
      this.#transfer(
        {
          method: 'GET',
          path: req.path,
          status,
          contentType: ctype || undefined,
          contentLength: numberOrUndefined(m.headers.get('content-length'))
        },
        m.frame
      )
    }
    return 0
  }

  #transfer(
    t: { method: string; path: string; status?: string; contentType?: string | undefined; contentLength?: number | undefined },
    frame: number
  ): void {
    if (this.#transfers.length < 64)
      this.#transfers.push(
        Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as typeof t & { method: string; path: string }
      )
    noteFrame(this.#transferFrames, frame)
    const verb = HTTP_VERBS[t.method]
    if (verb !== undefined) {
      const path = decodeUrlPath(t.path)
      this.#ctx.operation(this.#flow, { verb, path, command: t.method, frame })
    }
  }

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    if (this.#basicUsers.length > 0) {
      add({
        code: 'http-basic-auth',
        title: `HTTP Basic login ${this.#basicUsers.join(', ')} in clear to ${flow.dst}:${flow.dstPort}`,
        flow,
        evidence: { users: this.#basicUsers, passwordMasked: true },
        frames: this.#basicFrames
      })
    }
    if (this.#digestUsers.length > 0) {
      add({
        code: 'http-digest-auth',
        title: `HTTP Digest login ${this.#digestUsers.join(', ')} over plain HTTP`,
        flow,
        evidence: { users: this.#digestUsers },
        frames: this.#digestFrames
      })
    }
    if (this.#transfers.length > 0) {
      const webdav = this.#transfers.some((t) => FILE_METHODS.has(t.method) && t.method !== 'PUT')
      add({
        code: 'cleartext-file-transfer',
        title: `${webdav ? 'WebDAV' : 'HTTP'} ${this.#transfers
          .map((t) => `${t.method} ${t.path}`)
          .slice(0, 3)
          .join(', ')} in clear`,
        flow,
        evidence: { protocol: webdav ? 'webdav' : 'http', transfers: this.#transfers },
        frames: this.#transferFrames
      })
    }
    this.#ntlm.finish(flow)
    const peripheral = this.#peripherals.finish()
    this.#ctx.classify(this.#flow, peripheral ?? 'http', { encrypted: false, share: this.#transfers.length > 0 })
  }
}

function numberOrUndefined(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined
}
