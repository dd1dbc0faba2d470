import { AsyncResource } from 'node:async_hooks'
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { realpathSync, statSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { basename } from 'node:path'
import type { Duplex } from 'node:stream'
import type { PeerInfo } from '@peerguard/interface'
import {
  assertInteger,
  assertString,
  type ConnectionCheck,
  type ConnectionRefusal,
  type DecisionSink,
  InvalidArgumentError,
  isPeerguardError,
  type Logger,
  PeerguardError,
  runConnectionCheck,
  silentLogger,
  logPeer
} from '@peerguard/interface'
import type { Authorizer } from './authorize.js'
import { Enforcer, type OperationScope } from './enforcer.js'
import { RefusalSummarizer } from '@peerguard/decision-log'

import { FrameConnection } from './connection.js'
import { ShareError, ShareProtocolError } from './errors.js'
import { CHUNK_BYTES, type Frame, FrameType, parseJson, PREFACE, readExactly } from './frame.js'
import { fsError } from './fs-errors.js'
import { dropBoxName, formatSharePath } from './paths.js'
import { plainTransport, type ShareTransport } from './transport.js'
import { type OpenedRead, ShareRoot } from './share-root.js'
import type { SweepResult } from './sweep.js'
import type { AtomicUpload } from './upload.js'

/** Where decisions go: `@peerguard/decision-log`'s DecisionLog fits. */
export interface ShareServerOptions {
  /** The directory to share. */
  root: string
  /** Name of the share in policy resources (`share:<name>/…`). Default: the root's base name. */
  shareName?: string
  /** Socket → stream + peer. Default: plainTransport(). A hardened transport requires `authorize`. */
  transport?: ShareTransport
  /** Checks every operation before it touches the disk. Default in plain mode: allow everything. */
  authorize?: Authorizer
  /** Decision log; every connection and operation decision is appended before acting. Default none. */
  log?: DecisionSink
  /** Concurrent operations per peer, across its connections. Default 8. */
  maxConcurrentPerPeer?: number
  /** Largest REQUEST payload in bytes. Default 65536. */
  maxRequestBytes?: number
  /** Close a connection with no frame in either direction for this long (ms). Default 60000. */
  idleTimeoutMs?: number
  /** Time allowed for the handshake and preface (ms). Default 10000. */
  handshakeTimeoutMs?: number
  /**
   * Re-decides an authenticated peer after the node's trust or policy changed: run at the end of
   * every handshake and over every open connection by `recheck()`; a refusal closes the
   * connection. Default none.
   */
  connectionCheck?: ConnectionCheck
  logger?: Logger
}

/** Emitted as `dropped` when `recheck()` (or the end-of-handshake check) closes a connection. */
export interface DroppedEvent extends ConnectionRefusal {
  readonly peer: PeerInfo
}

/** Emitted as `operation` for each finished request (for progress displays and the demo). */
export interface OperationEvent {
  readonly peer: PeerInfo
  readonly op: string
  readonly path: string
  readonly ok: boolean
  readonly code: string
}

const OPS = new Set(['list', 'stat', 'read', 'write', 'delete', 'rename', 'mkdir'])

/** One open connection, for status displays (`connections()`). */
export interface ShareConnectionInfo {
  readonly peer: PeerInfo
  /** When the connection was accepted (ms since the epoch). */
  readonly since: number
  /** Operations running on it now. */
  readonly operations: number
  /** Bytes received and sent on its socket so far (channel framing included). */
  readonly bytesIn: number
  readonly bytesOut: number
  /** The operations running now, `read docs/a.txt`. */
  readonly current: readonly string[]
}

interface Conn {
  peer: PeerInfo
  since: number
  socket?: Socket
  current: Map<number, string>
  frames: FrameConnection
  uploads: Map<number, UploadState>
  reads: Map<number, ReadState>
  open: Set<number>
}

/** A read in progress: cancelled by the client, or refused when a reload decided it again (`denied`). */
interface ReadState {
  cancelled: boolean
  denied?: unknown
  redecide: () => Promise<void>
  /** The re-decision in progress: the read's END and outcome wait for it (its entry is theirs). */
  pending?: Promise<void>
}

interface UploadState {
  upload: AtomicUpload
  declaredSha?: string
  failed?: unknown
  finish: (result: Record<string, unknown>) => void
  /** `#policyEpoch` when the upload was decided; another at its END: `redecide` before the commit. */
  epoch: number
  redecide: () => Promise<void>
}

/** A folder share server. Create with `createShareServer`; call `listen()`. */
export class ShareServer extends EventEmitter {
  readonly root: string
  readonly shareName: string
  readonly mode: 'plain' | 'hardened'
  #transport: ShareTransport
  #enforcer: Enforcer
  #maxPerPeer: number
  #maxRequest: number
  #idleMs: number
  #handshakeMs: number
  #logger: Logger
  #server: Server | undefined
  #sockets = new Set<Socket>()
  #conns = new Set<Conn>()
  #active = new Map<string, number>()
  #idleTimer: NodeJS.Timeout | undefined
  #fs: ShareRoot
  #startedAt = Date.now()
  #sweeping: Promise<SweepResult | undefined> | undefined
  #check: ConnectionCheck | undefined
  /** Counts recheck() calls: a handshake that overlapped one is checked again as it registers. */
  #recheckEpoch = 0
  /** Counts every recheck() (trust or policy): an upload a reload overlapped is decided again at its END. */
  #policyEpoch = 0
  /** Refusals before authentication: counted per address and minute, not logged one by one. */
  #refusals: RefusalSummarizer | undefined
  /** Set by drain(): new operations are refused. */
  #draining = false
  /** Operations running now, each up to its outcome record: close() lets them end first. */
  readonly #running = new Set<Promise<void>>()

  constructor(options: Required<Pick<ShareServerOptions, 'root' | 'shareName'>> & ShareServerOptions, transport: ShareTransport) {
    super()
    this.root = options.root
    this.#fs = new ShareRoot(options.root)
    // an operation that waited for the lock or its path's turn does nothing once its connection closed
    this.#fs.onTurn = () => this.#enforcer.assertOpen()
    this.shareName = options.shareName
    this.#transport = transport
    this.mode = transport.mode
    this.#enforcer = new Enforcer({
      shareName: options.shareName,
      mode: transport.mode,
      authorize: options.authorize,
      log: options.log
    })
    this.#maxPerPeer = options.maxConcurrentPerPeer ?? 8
    this.#maxRequest = options.maxRequestBytes ?? 65536
    this.#idleMs = options.idleTimeoutMs ?? 60_000
    this.#handshakeMs = options.handshakeTimeoutMs ?? 10_000
    this.#logger = options.logger ?? silentLogger
    this.#check = options.connectionCheck
    this.#refusals = options.log === undefined ? undefined : new RefusalSummarizer(options.log)
  }

  /** Listen on TCP. Default host 127.0.0.1, port 0 (any free port). Resolves to the bound address. */
  async listen(options: { host?: string; port?: number } = {}): Promise<{ host: string; port: number }> {
    const host = options.host ?? '127.0.0.1'
    const port = options.port ?? 0
    assertString('host', host, { nonEmpty: true })
    assertInteger('port', port, 0, 65535)
    if (this.#server !== undefined) throw new PeerguardError('invalid-argument', 'the server is already listening')
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.handle(socket))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new PeerguardError(
            'io-error',
            `cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
            { cause: err }
          )
        )
      )
      server.listen(port, host, () => resolve())
    })
    this.#sweeping = this.sweep().then(
      (r) => {
        if (r.removed > 0 || r.truncated) this.#logger.info('share: removed leftover temporary upload files', { ...r })
        return r
      },
      (err) => {
        this.#logger.warn('share: sweeping leftover temporary upload files failed', { error: String(err) })
        return undefined
      }
    )
    const tick = Math.max(50, Math.min(1000, Math.floor(this.#idleMs / 4)))
    this.#idleTimer = setInterval(() => this.#checkIdle(), tick)
    this.#idleTimer.unref()
    const addr = server.address() as AddressInfo
    return { host: addr.address, port: addr.port }
  }

  /**
   * Remove the temporary upload files (`.pgtmp-*`) a killed server left in the share: regular
   * files older than this server's start (its own uploads are never touched). `listen()` starts
   * one sweep in the background; `swept` resolves when it is done.
   */
  sweep(): Promise<SweepResult> {
    return this.#fs.sweep(this.#startedAt)
  }

  /** The start-up sweep begun by `listen()` (undefined before). */
  get swept(): Promise<SweepResult | undefined> | undefined {
    return this.#sweeping
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    const addr = this.#server?.address()
    return addr === null || addr === undefined || typeof addr === 'string' ? undefined : { host: addr.address, port: addr.port }
  }

  /** The open connections now: peer, since when, operations running. */
  connections(): ShareConnectionInfo[] {
    return [...this.#conns].map((c) => ({
      peer: c.peer,
      since: c.since,
      operations: c.open.size,
      bytesIn: c.socket?.bytesRead ?? 0,
      bytesOut: c.socket?.bytesWritten ?? 0,
      current: [...c.current.values()]
    }))
  }

  /**
   * Stop accepting connections and new operations (refused with `aborted`), then wait until no
   * operation runs or `timeoutMs` passed. Resolves to true when drained. Call `close()` after.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    assertInteger('timeoutMs', timeoutMs, 0, 3_600_000)
    this.#draining = true
    this.#server?.close()
    const deadline = Date.now() + timeoutMs
    const busy = (): boolean => [...this.#conns].some((c) => c.open.size > 0)
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    return !busy()
  }

  /** Stop listening, close every connection, discard unfinished uploads. */
  async close(): Promise<void> {
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer)
    const server = this.#server
    this.#server = undefined
    for (const c of this.#conns) c.frames.close(new ShareError('aborted', 'server closing'))
    for (const s of this.#sockets) s.destroy()
    await Promise.all([...this.#conns].flatMap((c) => [...c.uploads.values()].map((u) => u.upload.abort())))
    // the aborted operations end and write their outcome now, not after the owner closed the log
    // (bounded: a stuck operation cannot hold the shutdown)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5000)
        timer.unref()
      })
    ])
    clearTimeout(timer)
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
    await this.#sweeping
    await this.#refusals?.close()
    await this.#fs.close() // after running operations finish: no descriptor number is reused under them
  }

  /**
   * Run `connectionCheck` over every open connection now (after a reload of trust or policy):
   * each refused peer's connection is closed in this same turn of the event loop, then the refusal
   * is logged (`connection` record, event `refused`, the check's code) and emitted as `dropped`.
   * Resolves to the number of connections closed. `{ trust: false }` (only the policy changed) closes
   * nothing: share operations are decided one by one, so the next one follows the new policy; a
   * read in progress is decided again now (refused: it stops), an upload before it commits.
   */
  async recheck(options: { trust?: boolean } = {}): Promise<number> {
    this.#policyEpoch++
    const check = this.#check
    if (check === undefined || options.trust === false) {
      await this.#redecideReads()
      return 0
    }
    this.#recheckEpoch++
    const dropped: Array<{ conn: Conn; refusal: ConnectionRefusal }> = []
    for (const conn of this.#conns) {
      const refusal = runConnectionCheck(check, conn.peer)
      if (refusal !== undefined) dropped.push({ conn, refusal })
    }
    for (const { conn, refusal } of dropped) conn.frames.close(new ShareError('share-connection-closed', refusal.reason))
    await Promise.all(dropped.map(({ conn, refusal }) => this.#dropped(conn.peer, refusal)))
    await this.#redecideReads()
    return dropped.length
  }

  /** Decide every read in progress again (logged); a refused one stops, its END names the refusal. */
  async #redecideReads(): Promise<void> {
    const reads = [...this.#conns].flatMap((c) => (c.frames.closed ? [] : [...c.reads.values()]))
    for (const r of reads) {
      const before = r.pending ?? Promise.resolve()
      r.pending = before.then(async () => {
        try {
          await r.redecide()
        } catch (err) {
          r.denied = err
          r.cancelled = true
        }
      })
    }
    await Promise.all(reads.map((r) => r.pending))
  }

  async #dropped(peer: PeerInfo, refusal: ConnectionRefusal): Promise<void> {
    this.#logger.info('share connection closed after a re-check', { peer: peer.peerId, code: refusal.code })
    await this.#enforcer
      .record({
        kind: 'connection',
        event: 'refused',
        code: refusal.code,
        reason: `open connection closed: ${refusal.reason}`,
        peer: logPeer(peer),
        mode: this.mode
      })
      .catch(() => {})
    this.emit('dropped', { peer, ...refusal } satisfies DroppedEvent)
  }

  /** Serve one accepted socket (used by listen(); exposed for custom listeners). */
  handle(socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', () => {})
    socket.setNoDelay(true)
    void this.#accept(socket)
  }

  async #accept(socket: Socket): Promise<void> {
    let stream: Duplex
    let peer: PeerInfo
    let authenticated: PeerInfo | undefined
    const address = `${socket.remoteAddress}:${socket.remotePort}`
    const epoch = this.#recheckEpoch
    try {
      const timeout = new Promise<never>((_, reject) => {
        const t = setTimeout(() => reject(new ShareError('timeout', 'handshake timed out')), this.#handshakeMs)
        t.unref()
      })
      ;({ stream, peer } = await Promise.race([this.#transport.accept(socket), timeout]))
      if (this.mode === 'hardened') authenticated = peer // a plain-mode peer is anonymous
      stream.on('error', () => {}) // errors are handled where the stream is read; never crash the process
      const { bytes, rest } = await Promise.race([readExactly(stream, PREFACE.length, this.#handshakeMs), timeout])
      if (!bytes.equals(PREFACE)) throw new ShareProtocolError('bad preface: not a peerguard share client')
      stream.write(PREFACE)
      await this.#enforcer.record({
        kind: 'connection',
        event: 'accepted',
        code: 'allow',
        reason: this.mode === 'plain' ? 'plain mode: no authentication' : 'certificate chain verified',
        peer: logPeer(peer),
        mode: this.mode
      })
      // Trust or policy may have changed while this peer was handshaking: decide again, in the
      // same turn as registering the connection, so recheck() cannot miss it.
      const refusal =
        this.#check === undefined || epoch === this.#recheckEpoch ? undefined : runConnectionCheck(this.#check, peer)
      if (refusal !== undefined) {
        stream.destroy()
        await this.#dropped(peer, refusal)
        return
      }
      this.emit('connection', peer)
      this.#serve(stream, peer, rest, socket)
    } catch (err) {
      const code = isPeerguardError(err) ? err.code : 'share-connection-refused'
      const reason = err instanceof Error ? err.message : String(err)
      this.#logger.info('share connection refused', { address, code })
      socket.destroy()
      // Before authentication nobody is accountable: count it (one summary per address and window,
      // so a flood cannot grow the log); an authenticated peer's refusal is logged on its own.
      if (authenticated === undefined && this.#refusals !== undefined)
        this.#refusals.refused(socket.remoteAddress ?? 'unknown', code)
      else
        await this.#enforcer
          .record({
            kind: 'connection',
            event: 'refused',
            code,
            reason,
            peer: authenticated === undefined ? { address } : { ...logPeer(authenticated), address },
            mode: this.mode
          })
          .catch(() => {})
      this.emit('refused', { address, code, reason })
    }
  }

  #serve(stream: Duplex, peer: PeerInfo, initial: Buffer, socket?: Socket): void {
    const conn: Conn = {
      peer,
      since: Date.now(),
      ...(socket === undefined ? {} : { socket }),
      current: new Map(),
      uploads: new Map(),
      reads: new Map(),
      open: new Set(),
      frames: new FrameConnection(
        stream,
        (f) => this.#onFrame(conn, f),
        () => this.#onClose(conn)
      )
    }
    this.#conns.add(conn)
    conn.frames.start(initial)
  }

  #onClose(conn: Conn): void {
    this.#conns.delete(conn)
    // `closed` ({ peer, since, bytesIn, bytesOut }): for the console's one line per connection closed
    this.emit('closed', {
      peer: conn.peer,
      since: conn.since,
      bytesIn: conn.socket?.bytesRead ?? 0,
      bytesOut: conn.socket?.bytesWritten ?? 0
    })
    for (const r of conn.reads.values()) r.cancelled = true
    for (const u of conn.uploads.values()) {
      u.failed ??= new ShareError('share-connection-closed', 'connection closed during upload')
      void u.upload.abort()
      u.finish({ ok: false, code: 'share-connection-closed' })
    }
    conn.uploads.clear()
  }

  #checkIdle(): void {
    const now = Date.now()
    for (const c of this.#conns) {
      if (now - c.frames.lastActivity > this.#idleMs) c.frames.close(new ShareError('share-idle-timeout', 'idle timeout'))
    }
  }

  async #onFrame(conn: Conn, frame: Frame): Promise<void> {
    switch (frame.type) {
      case FrameType.REQUEST:
        return this.#onRequest(conn, frame)
      case FrameType.DATA: {
        const u = conn.uploads.get(frame.id)
        if (u === undefined || u.failed !== undefined) return // a write that already ended: drop late data
        try {
          await u.upload.write(frame.payload)
        } catch (err) {
          u.failed = err
          conn.uploads.delete(frame.id)
          await u.upload.abort()
          u.finish(errorReply(err))
        }
        return
      }
      case FrameType.END: {
        const u = conn.uploads.get(frame.id)
        if (u === undefined) return
        conn.uploads.delete(frame.id)
        let trailer: Record<string, unknown>
        try {
          trailer = parseJson(frame.payload)
        } catch (err) {
          // the upload is off the connection already: end it here, then close on the protocol error
          u.failed = err
          await u.upload.abort()
          u.finish(errorReply(err))
          throw err
        }
        const sha = typeof trailer.sha256 === 'string' ? trailer.sha256 : u.declaredSha
        try {
          if (sha === undefined || !/^[0-9a-fA-F]{64}$/.test(sha))
            throw new ShareError('invalid-argument', 'write: sha256 missing or not 64 hex digits')
          // a reload since the upload was decided: nothing lands that the policy in force forbids
          // (again, while a reload lands during the re-decision's own log write)
          while (u.epoch !== this.#policyEpoch) {
            u.epoch = this.#policyEpoch
            await u.redecide()
          }
          const result = await u.upload.commit(sha)
          u.finish({ ok: true, ...result })
        } catch (err) {
          await u.upload.abort()
          u.finish(errorReply(err))
        }
        return
      }
      case FrameType.CANCEL: {
        const r = conn.reads.get(frame.id)
        if (r !== undefined) r.cancelled = true
        const u = conn.uploads.get(frame.id)
        if (u !== undefined) {
          conn.uploads.delete(frame.id)
          u.failed = new ShareError('aborted')
          await u.upload.abort()
          u.finish({ ok: false, code: 'aborted', message: 'cancelled by the client' })
        }
        return
      }
      default:
        throw new ShareProtocolError(`unexpected frame type ${frame.type} from a client`)
    }
  }

  async #onRequest(conn: Conn, frame: Frame): Promise<void> {
    if (frame.payload.length > this.#maxRequest) {
      await conn.frames
        .sendJson(FrameType.REPLY, frame.id, {
          ok: false,
          code: 'share-request-too-large',
          message: `request larger than ${this.#maxRequest} bytes`
        })
        .catch(() => {})
      conn.frames.close(new ShareError('share-request-too-large'))
      return
    }
    const req = parseJson(frame.payload)
    if (frame.id === 0 || conn.open.has(frame.id)) throw new ShareProtocolError(`request id ${frame.id} is zero or already open`)
    if (this.#draining) {
      await conn.frames.sendJson(FrameType.REPLY, frame.id, {
        ok: false,
        code: 'aborted',
        message: 'the server is shutting down'
      })
      return
    }
    // Hardened: the authenticated peer ID. Plain: the source host (the only identity there is).
    const key = this.mode === 'plain' ? (conn.peer.address ?? conn.peer.peerId).replace(/:\d+$/, '') : conn.peer.peerId
    const active = this.#active.get(key) ?? 0
    if (active >= this.#maxPerPeer) {
      await conn.frames.sendJson(FrameType.REPLY, frame.id, {
        ok: false,
        code: 'share-too-many-operations',
        message: `at most ${this.#maxPerPeer} concurrent operations per peer`
      })
      return
    }
    this.#active.set(key, active + 1)
    conn.open.add(frame.id)
    const running: Promise<void> = this.#run(conn, frame.id, req).finally(() => {
      conn.open.delete(frame.id)
      this.#running.delete(running)
      const n = (this.#active.get(key) ?? 1) - 1
      if (n <= 0) this.#active.delete(key)
      else this.#active.set(key, n)
    })
    this.#running.add(running)
  }

  async #run(conn: Conn, id: number, req: Record<string, unknown>): Promise<void> {
    const op = typeof req.op === 'string' && OPS.has(req.op) ? req.op : undefined
    const path = typeof req.path === 'string' ? req.path : typeof req.from === 'string' ? req.from : ''
    let reply: Record<string, unknown>
    const scope: OperationScope = { op: op ?? 'unknown', decisions: [], denied: false, closed: () => conn.frames.closed }
    conn.current.set(id, `${op ?? 'unknown'} ${path.slice(0, 256)}`)
    try {
      if (op === undefined) throw new ShareError('invalid-argument', `unknown op ${JSON.stringify(req.op)}`)
      reply = await this.#enforcer.within(scope, () => this.#dispatch(conn, id, op, req))
    } catch (err) {
      if (!isPeerguardError(err)) this.#logger.error('share operation failed', { op, error: String(err) })
      reply = errorReply(err)
    }
    // the outcome goes on the record before the reply: a client that saw the reply finds it logged
    const unlogged = await this.#enforcer.outcome(conn.peer, scope, reply)
    if (unlogged !== undefined)
      this.#logger.warn('share: the outcome of an operation could not be logged', { op, error: String(unlogged) })
    if (reply.streamed !== true) await conn.frames.sendJson(FrameType.REPLY, id, reply).catch(() => {})
    conn.current.delete(id)
    this.emit('operation', {
      peer: conn.peer,
      op: op ?? (typeof req.op === 'string' ? req.op : `(${typeof req.op})`),
      path,
      ok: reply.ok === true,
      code: typeof reply.code === 'string' ? reply.code : 'ok'
    } satisfies OperationEvent)
  }

  async #dispatch(conn: Conn, id: number, op: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (op) {
      case 'list':
        return { ok: true, ...(await this.#fs.list(await this.#enforcer.check(conn.peer, 'list', req.path))) }
      case 'stat':
        return { ok: true, ...(await this.#fs.stat(await this.#enforcer.check(conn.peer, 'list', req.path))) }
      case 'read': {
        const epoch = this.#policyEpoch
        const names = await this.#enforcer.check(conn.peer, 'get', req.path)
        const opened = await this.#fs.openRead(names, req)
        // asked again by recheck() (in this operation's scope) while the data streams
        const redecide = AsyncResource.bind(async (): Promise<void> => {
          this.#enforcer.redeciding()
          await this.#enforcer.authorize(conn.peer, 'get', names)
        })
        const trailer = await this.#stream(conn, id, opened, req.sha256 === true, redecide, epoch)
        return { ...trailer, streamed: true, ...(trailer.ok === true ? { bytes: opened.length } : {}) }
      }
      case 'write': {
        const mode = req.mode ?? 'overwrite'
        if (mode !== 'create' && mode !== 'overwrite' && mode !== 'append')
          throw new ShareError('invalid-argument', 'write: mode must be create, overwrite or append')
        if (typeof req.size !== 'number' || !Number.isSafeInteger(req.size) || req.size < 0)
          throw new ShareError('invalid-argument', 'write: size must be a non-negative integer')
        if (req.sha256 !== undefined && (typeof req.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(req.sha256)))
          throw new ShareError('invalid-argument', 'write: sha256 must be 64 hex digits')
        const epoch = this.#policyEpoch
        const size = req.size
        const names = await this.#enforcer.check(conn.peer, 'put', req.path, 'path', size)
        const dropName = await this.#dropBoxName(conn.peer, names, mode, size)
        const declaredSha = req.sha256 as string | undefined
        let decidedSize = size
        // an append is decided again with the size of the file it makes (a size limit is on files)
        const allowAppend = async (resultingSize: number): Promise<void> => {
          decidedSize = resultingSize
          await this.#enforcer.authorize(conn.peer, 'put', names, { size: resultingSize })
        }
        // run at END in this operation's scope (its entries name it): the same questions, asked again
        const redecide = AsyncResource.bind(async (): Promise<void> => {
          this.#enforcer.redeciding()
          await this.#enforcer.authorize(conn.peer, 'put', names, { size: decidedSize })
          if (dropName !== undefined)
            await this.#enforcer.authorize(conn.peer, 'put', [...names.slice(0, -1), dropName], { size })
        })
        const options = dropName === undefined ? { allowAppend } : { dropName, allowAppend }
        return this.#fs.write(names, mode, req.size, options, async (upload) => {
          const done = new Promise<Record<string, unknown>>((finish) => {
            conn.uploads.set(id, { upload, ...(declaredSha === undefined ? {} : { declaredSha }), finish, epoch, redecide })
          })
          if (conn.frames.closed) {
            conn.uploads.delete(id)
            throw new ShareError('share-connection-closed')
          }
          await conn.frames.sendJson(FrameType.REPLY, id, { ok: true, ready: true })
          return done
        })
      }
      case 'delete': {
        const names = await this.#enforcer.check(conn.peer, 'delete', req.path)
        const seen = await this.#fs.peek(names)
        if (seen === undefined) throw new ShareError('share-not-found', `${formatSharePath(names)}: no such file`)
        // unlink(2) never removes a directory, so only a directory needs its subtree authorised; without
        // an authorizer that decides subtrees, the path decision above is exact: only an empty one goes (rmdir)
        if (seen.type === 'dir' && this.#enforcer.subtrees)
          await this.#enforcer.authorize(conn.peer, 'delete', names, { scope: 'tree' })
        await this.#fs.remove(names, seen)
        return { ok: true }
      }
      case 'rename': {
        const from = await this.#enforcer.check(conn.peer, 'rename', req.from, 'from')
        const to = await this.#enforcer.check(conn.peer, 'put', req.to, 'to', 0)
        const seen = await this.#fs.peek(from)
        if (seen === undefined) throw new ShareError('share-not-found', `${formatSharePath(from)}: no such file`)
        await this.#authorizeRename(conn.peer, from, to, seen.type === 'dir', seen.size)
        await this.#fs.rename(from, to, req.overwrite === true, seen)
        return { ok: true }
      }
      case 'mkdir': {
        const names = await this.#enforcer.check(conn.peer, 'put', req.path, 'path', 0)
        await this.#fs.mkdir(names, req.parents === true, async (ancestor) => {
          await this.#enforcer.authorize(conn.peer, 'put', ancestor, { size: 0 })
        })
        return { ok: true }
      }
    }
    throw new ShareError('invalid-argument', `unknown op ${op}`)
  }

  /**
   * Drop-box semantics (SPEC.md §5.4): a `create` by a peer that may not `list` the target's folder
   * must not learn whether the name exists. Such an upload gets a second, server-chosen name,
   * authorised (and logged) now, before anything is looked up; the commit uses it if the typed
   * name is taken, and the reply is the same either way.
   */
  async #dropBoxName(peer: PeerInfo, names: string[], mode: string, size: number): Promise<string | undefined> {
    if (mode !== 'create' || names.length === 0) return undefined
    const parent = names.slice(0, -1)
    if ((await this.#enforcer.query(peer, 'list', parent)).allowed) return undefined
    const dropName = dropBoxName(names[names.length - 1] as string, randomBytes(6).toString('hex'))
    await this.#enforcer.authorize(peer, 'put', [...parent, dropName], { size })
    return dropName
  }

  /**
   * The rename rules of SPEC.md §8 beyond `rename` on `from` and `put` on `to`: a directory needs
   * them on its whole subtree at both ends; and a rename never lets the peer read (`get`, `list`)
   * at the destination what it could not read at the source — for a file, if the verb is allowed
   * at `to` it must be allowed at `from`; for a directory, the verb must be allowed on the whole
   * source subtree (a subtree query cannot tell "allowed somewhere below `to`", so assume it is).
   * An authorizer that does not decide subtrees gets none of these: the first is refused
   * (`share-subtree-unsupported`, logged as a `deny-error` decision) and nothing is renamed.
   */
  async #authorizeRename(peer: PeerInfo, from: string[], to: string[], directory: boolean, size: number): Promise<void> {
    if (directory) {
      await this.#enforcer.authorize(peer, 'rename', from, { scope: 'tree' })
      // the size of what lands below `to` is not known: a size rule there fails closed
      await this.#enforcer.authorize(peer, 'put', to, { scope: 'tree' })
      for (const verb of ['get', 'list'] as const) await this.#enforcer.authorize(peer, verb, from, { scope: 'tree' })
      return
    }
    // `to` was decided as a put of 0 bytes: a size limit is on files, so decide it with this file's size
    if (size > 0) await this.#enforcer.authorize(peer, 'put', to, { size })
    for (const verb of ['get', 'list'] as const) {
      const atDestination = await this.#enforcer.query(peer, verb, to)
      if (atDestination.allowed || atDestination.code === 'deny-error') await this.#enforcer.authorize(peer, verb, from)
    }
  }

  /** Send an opened range as DATA frames (one chunk read ahead), then END. */
  async #stream(
    conn: Conn,
    id: number,
    opened: OpenedRead,
    withHash: boolean,
    redecide: () => Promise<void>,
    /** `#policyEpoch` when the read was decided: a reload since then decides it again before it streams. */
    epoch: number
  ): Promise<Record<string, unknown>> {
    const { handle, offset, length, label } = opened
    try {
      const state: ReadState = { cancelled: false, redecide }
      conn.reads.set(id, state)
      // a reload between the decision and here found no read to decide again: decide it now
      if (epoch !== this.#policyEpoch)
        state.pending = redecide().catch((err: unknown) => {
          state.denied = err
          state.cancelled = true
        })
      await conn.frames.sendJson(FrameType.REPLY, id, { ok: true, size: opened.size, mtimeMs: opened.mtimeMs, offset, length })
      const hash = withHash ? createHash('sha256') : undefined
      let pos = offset
      const end = offset + length
      const readChunk = (p: number): Promise<Buffer> => {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, end - p))
        return handle.read(buf, 0, buf.length, p).then(({ bytesRead }) => buf.subarray(0, bytesRead))
      }
      let next = pos < end ? readChunk(pos) : undefined
      try {
        while (next !== undefined) {
          const chunk = await next
          if (chunk.length === 0) throw new ShareError('share-io-error', `${label}: file shrank while reading`)
          pos += chunk.length
          next = pos < end && !state.cancelled ? readChunk(pos) : undefined
          if (state.cancelled) break
          hash?.update(chunk)
          await conn.frames.send(FrameType.DATA, id, chunk)
        }
        // no re-decision starts from here; one in progress decides the END (and is in the outcome)
        conn.reads.delete(id)
        await state.pending
        const trailer =
          state.denied !== undefined
            ? errorReply(state.denied)
            : state.cancelled
              ? { ok: false, code: 'aborted', message: 'cancelled by the client' }
              : hash === undefined
                ? { ok: true }
                : { ok: true, sha256: hash.digest('hex') }
        await next?.catch(() => {})
        await conn.frames.sendJson(FrameType.END, id, trailer)
        return trailer
      } catch (err) {
        await next?.catch(() => {})
        const failed = errorReply(fsError(err, label))
        await conn.frames.sendJson(FrameType.END, id, failed).catch(() => {})
        return failed
      } finally {
        conn.reads.delete(id)
        await state.pending
      }
    } finally {
      await handle.close().catch(() => {})
    }
  }
}

function errorReply(err: unknown): Record<string, unknown> {
  if (isPeerguardError(err)) {
    const rule = (err.details as { rule?: unknown } | undefined)?.rule
    return { ok: false, code: err.code, message: err.message, ...(typeof rule === 'string' ? { rule } : {}) }
  }
  return { ok: false, code: 'share-io-error', message: 'internal error' }
}

/**
 * Create a share server for `root`. In hardened mode (a transport from `hardenedTransport`) an
 * `authorize` function is required: the server refuses to start without one (fail closed).
 */
export function createShareServer(options: ShareServerOptions): ShareServer {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  assertString('root', options.root, { nonEmpty: true })
  let rootReal: string
  try {
    rootReal = realpathSync(options.root)
    if (!statSync(rootReal).isDirectory()) throw new Error('not a directory')
  } catch (err) {
    throw new InvalidArgumentError(`root: ${options.root} is not an existing directory`, { cause: err })
  }
  const shareName = options.shareName ?? (basename(rootReal) || 'share')
  assertString('shareName', shareName, { nonEmpty: true, maxLength: 255 })
  if (/[/\\\0*?[\]{}]/.test(shareName)) throw new InvalidArgumentError('shareName: must not contain / \\ NUL or glob characters')
  for (const k of ['maxConcurrentPerPeer', 'maxRequestBytes', 'idleTimeoutMs', 'handshakeTimeoutMs'] as const) {
    if (options[k] !== undefined) assertInteger(k, options[k], 1)
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('authorize: expected a function')
  if (options.connectionCheck !== undefined && typeof options.connectionCheck !== 'function')
    throw new InvalidArgumentError('connectionCheck: expected a function')
  if (options.log !== undefined && (typeof options.log !== 'object' || typeof options.log.append !== 'function'))
    throw new InvalidArgumentError('log: expected a DecisionLog')
  const transport = options.transport ?? plainTransport()
  if (transport.mode === 'hardened' && options.authorize === undefined) {
    throw new InvalidArgumentError('authorize: a hardened share needs a policy (refusing to start without one)')
  }
  return new ShareServer({ ...options, root: rootReal, shareName }, transport)
}
