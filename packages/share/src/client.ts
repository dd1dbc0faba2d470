import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import type { PeerInfo } from '@peerguard/interface'
import { assertInteger, assertString, InvalidArgumentError, isPeerguardCode, isPeerguardError } from '@peerguard/interface'
import { FrameConnection } from './connection.js'
import { ShareConnectionClosedError, ShareConnectionRefusedError, ShareError, ShareProtocolError } from './errors.js'
import { CHUNK_BYTES, type Frame, FrameType, parseJson, PREFACE, readExactly } from './frame.js'
import { plainTransport, type ShareTransport } from './transport.js'

export interface ConnectShareOptions {
  /** How to secure the socket. Default plainTransport(). */
  transport?: ShareTransport
  /** Time allowed for TCP connect, handshake and preface (ms). Default 10000. */
  timeoutMs?: number
}

export interface Progress {
  readonly transferred: number
  readonly total: number
}

export interface TransferOptions {
  /** Called after each chunk. */
  onProgress?: (progress: Progress) => void
}

export interface ShareEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink' | 'other'
  readonly size: number
  readonly mtimeMs: number
}

export interface ReadResult {
  readonly size: number
  readonly mtimeMs: number
  readonly offset: number
  readonly length: number
  /** SHA-256 of the bytes received, when verified (see `verify`). */
  readonly sha256?: string
}

interface Handler {
  onReply(json: Record<string, unknown>): void
  onData?(chunk: Buffer): Promise<void> | void
  onEnd?(json: Record<string, unknown>): void
  onClose(err: Error): void
}

/** Parse `host:port` or `[v6]:port`. */
export function parseShareAddress(address: string): { host: string; port: number } {
  assertString('address', address, { nonEmpty: true, maxLength: 300 })
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535)
    throw new InvalidArgumentError(`address: expected HOST:PORT, got ${JSON.stringify(address)}`)
  return { host: (m[1] ?? m[2]) as string, port }
}

function remoteError(json: Record<string, unknown>): ShareError {
  const code = isPeerguardCode(json.code) ? json.code : 'share-protocol-error'
  const message = typeof json.message === 'string' ? json.message : String(json.code)
  const rule = typeof json.rule === 'string' ? json.rule : undefined
  return new ShareError(code, message, rule === undefined ? undefined : { details: { rule } })
}

/** A connection to a share server. Create with `connectShare`. */
export class ShareClient {
  /** The authenticated server, in hardened mode. */
  readonly remotePeer: PeerInfo | undefined
  #frames: FrameConnection
  #handlers = new Map<number, Handler>()
  #nextId = 1
  #closedError: Error | undefined

  /** @internal use connectShare */
  constructor(stream: import('node:stream').Duplex, initial: Buffer, remotePeer: PeerInfo | undefined) {
    this.remotePeer = remotePeer
    this.#frames = new FrameConnection(
      stream,
      (f) => this.#onFrame(f),
      (err) => this.#onClose(err)
    )
    this.#frames.start(initial)
  }

  /** List a directory (`""` = the share root). */
  async list(path = ''): Promise<{ entries: ShareEntry[]; truncated: boolean }> {
    assertString('path', path, { maxLength: 8192 })
    const r = await this.#simple({ op: 'list', path })
    return { entries: r.entries as ShareEntry[], truncated: r.truncated === true }
  }

  async stat(path: string): Promise<{ type: ShareEntry['type']; size: number; mtimeMs: number }> {
    assertString('path', path, { maxLength: 8192 })
    const r = await this.#simple({ op: 'stat', path })
    return { type: r.type as ShareEntry['type'], size: r.size as number, mtimeMs: r.mtimeMs as number }
  }

  async delete(path: string): Promise<void> {
    assertString('path', path, { nonEmpty: true, maxLength: 8192 })
    await this.#simple({ op: 'delete', path })
  }

  async rename(from: string, to: string, options: { overwrite?: boolean } = {}): Promise<void> {
    assertString('from', from, { nonEmpty: true, maxLength: 8192 })
    assertString('to', to, { nonEmpty: true, maxLength: 8192 })
    await this.#simple({ op: 'rename', from, to, overwrite: options.overwrite === true })
  }

  async mkdir(path: string, options: { parents?: boolean } = {}): Promise<void> {
    assertString('path', path, { nonEmpty: true, maxLength: 8192 })
    await this.#simple({ op: 'mkdir', path, parents: options.parents === true })
  }

  /**
   * Read a byte range, handing each chunk to `sink` (awaited: a slow sink slows the sender).
   * Checks the SHA-256 the server sends at the end against the bytes received.
   */
  async read(
    path: string,
    sink: (chunk: Buffer) => Promise<void> | void,
    options: TransferOptions & {
      offset?: number
      length?: number
      ifMatch?: { size: number; mtimeMs: number }
      /**
       * Ask the server for the SHA-256 of the bytes sent and check it. Default: true in plain mode;
       * false over a hardened channel, whose AEAD already authenticates every byte.
       */
      verify?: boolean
      /** Called with the server's first reply (size, mtimeMs, offset, length) before any data. */
      onStart?: (head: { size: number; mtimeMs: number; offset: number; length: number }) => Promise<void> | void
    } = {}
  ): Promise<ReadResult> {
    assertString('path', path)
    if (typeof sink !== 'function') throw new InvalidArgumentError('sink: expected a function')
    if (options.offset !== undefined) assertInteger('offset', options.offset)
    if (options.length !== undefined) assertInteger('length', options.length)
    const id = this.#id()
    const verify = options.verify ?? this.remotePeer === undefined
    const hash = verify ? createHash('sha256') : undefined
    let head: Record<string, unknown> | undefined
    let transferred = 0
    let started = false
    return new Promise<ReadResult>((resolve, reject) => {
      this.#handlers.set(id, {
        onReply: (json) => {
          if (json.ok !== true) {
            this.#handlers.delete(id)
            reject(remoteError(json))
          } else head = json
        },
        onData: async (chunk) => {
          if (head === undefined) throw new ShareProtocolError('DATA before REPLY')
          if (!started) {
            started = true
            await options.onStart?.(head as { size: number; mtimeMs: number; offset: number; length: number })
          }
          hash?.update(chunk)
          transferred += chunk.length
          await sink(chunk)
          options.onProgress?.({ transferred, total: head.length as number })
        },
        onEnd: (json) => {
          this.#handlers.delete(id)
          if (json.ok !== true || head === undefined) return reject(remoteError(json))
          if (transferred !== head.length)
            return reject(
              new ShareError('share-verify-failed', `${path}: received ${transferred} bytes, expected ${head.length}`)
            )
          const sha256 = hash?.digest('hex')
          if (sha256 !== undefined && json.sha256 !== sha256)
            return reject(new ShareError('share-verify-failed', `${path}: download does not match the server's SHA-256`))
          resolve({
            size: head.size as number,
            mtimeMs: head.mtimeMs as number,
            offset: head.offset as number,
            length: head.length as number,
            ...(sha256 === undefined ? {} : { sha256 })
          })
        },
        onClose: reject
      })
      const req: Record<string, unknown> = { op: 'read', path }
      if (options.offset !== undefined) req.offset = options.offset
      if (options.length !== undefined) req.length = options.length
      if (options.ifMatch !== undefined) req.ifMatch = options.ifMatch
      if (verify) req.sha256 = true
      this.#frames.sendJson(FrameType.REQUEST, id, req).catch(reject)
    })
  }

  /** Read a whole (small) file into memory. */
  async readFile(path: string): Promise<Buffer> {
    const chunks: Buffer[] = []
    await this.read(path, (c) => {
      chunks.push(Buffer.from(c))
    })
    return Buffer.concat(chunks)
  }

  /**
   * Download to a local file via `<local>.pgpart`, renamed into place when complete and verified.
   * With `resume: true`, an interrupted download continues by range where it stopped, provided
   * the remote file did not change (else `share-file-changed`).
   */
  async download(
    remotePath: string,
    localPath: string,
    options: TransferOptions & { resume?: boolean; verify?: boolean } = {}
  ): Promise<ReadResult & { resumedFrom: number }> {
    assertString('localPath', localPath, { nonEmpty: true })
    const part = `${localPath}.pgpart`
    const meta = `${part}.json`
    let offset = 0
    let ifMatch: { size: number; mtimeMs: number } | undefined
    if (options.resume === true) {
      const saved = await readFile(meta, 'utf8')
        .then((t) => JSON.parse(t) as { size: number; mtimeMs: number })
        .catch(() => undefined)
      const have = await stat(part).catch(() => undefined)
      if (saved !== undefined && have !== undefined && have.size <= saved.size) {
        offset = have.size
        ifMatch = { size: saved.size, mtimeMs: saved.mtimeMs }
      }
    }
    const fh = await open(part, offset > 0 ? 'a' : 'w', 0o644)
    // Disk writes are pipelined (up to 8 MiB in flight) so the network and the disk overlap.
    let chain: Promise<void> = Promise.resolve()
    let inflight = 0
    let failure: unknown
    try {
      const result = await this.read(
        remotePath,
        async (chunk) => {
          if (failure !== undefined) throw failure
          inflight += chunk.length
          chain = chain.then(async () => {
            try {
              if (failure === undefined) await fh.write(chunk)
            } catch (err) {
              failure = err
            } finally {
              inflight -= chunk.length
            }
          })
          if (inflight > 8 * 1024 * 1024) await chain
        },
        {
          offset,
          ...(ifMatch === undefined ? {} : { ifMatch }),
          ...(options.verify === undefined ? {} : { verify: options.verify }),
          onStart: async (head) => {
            if (ifMatch === undefined) await writeFile(meta, JSON.stringify({ size: head.size, mtimeMs: head.mtimeMs }))
          },
          onProgress: (p) => options.onProgress?.({ transferred: offset + p.transferred, total: offset + p.total })
        }
      )
      await chain
      if (failure !== undefined)
        throw new ShareError('io-error', `${localPath}: ${(failure as NodeJS.ErrnoException).code ?? 'write failed'}`, {
          cause: failure
        })
      await fh.close()
      await rename(part, localPath)
      await unlink(meta).catch(() => {})
      return { ...result, resumedFrom: offset }
    } catch (err) {
      await chain
      await fh.close().catch(() => {})
      throw err
    }
  }

  /**
   * Write `size` bytes from `source` to `path`. The server stores them in a temporary file and
   * renames it into place only when the size and SHA-256 match; a failure leaves the old content.
   */
  async write(
    path: string,
    source: Uint8Array | AsyncIterable<Uint8Array>,
    options: TransferOptions & { mode?: 'create' | 'overwrite' | 'append'; size?: number } = {}
  ): Promise<{ size: number; sha256: string }> {
    assertString('path', path)
    const size = source instanceof Uint8Array ? source.length : options.size
    if (size === undefined) throw new InvalidArgumentError('size: required when source is a stream')
    assertInteger('size', size)
    const mode = options.mode ?? 'overwrite'
    if (mode !== 'create' && mode !== 'overwrite' && mode !== 'append')
      throw new InvalidArgumentError(`mode: expected create, overwrite or append, got ${JSON.stringify(mode)}`)
    const id = this.#id()
    let ready!: () => void
    let failed!: (err: Error) => void
    let finished!: (r: { size: number; sha256: string }) => void
    let stage = 0
    const readyP = new Promise<void>((res, rej) => {
      ready = res
      failed = rej
    })
    let settled: Error | undefined
    const doneP = new Promise<{ size: number; sha256: string }>((res, rej) => {
      finished = res
      const prevFailed = failed
      failed = (err) => {
        settled = err
        prevFailed(err)
        rej(err)
      }
    })
    doneP.catch(() => {})
    this.#handlers.set(id, {
      onReply: (json) => {
        if (json.ok !== true) {
          this.#handlers.delete(id)
          return failed(remoteError(json))
        }
        if (stage === 0 && json.ready === true) {
          stage = 1
          return ready()
        }
        this.#handlers.delete(id)
        finished({ size: json.size as number, sha256: json.sha256 as string })
      },
      onClose: (err) => failed(err)
    })
    await this.#frames.sendJson(FrameType.REQUEST, id, { op: 'write', path, mode, size })
    await readyP
    const hash = createHash('sha256')
    let sent = 0
    const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source
    for await (const piece of chunks) {
      for (let off = 0; off < piece.length && settled === undefined; off += CHUNK_BYTES) {
        const chunk = piece.subarray(off, Math.min(piece.length, off + CHUNK_BYTES))
        hash.update(chunk)
        sent += chunk.length
        await this.#frames.send(FrameType.DATA, id, chunk)
        options.onProgress?.({ transferred: sent, total: size })
      }
      if (settled !== undefined) break
    }
    if (settled === undefined) await this.#frames.sendJson(FrameType.END, id, { sha256: hash.digest('hex') })
    return doneP
  }

  /** Upload a local file. */
  async upload(
    localPath: string,
    remotePath: string,
    options: TransferOptions & { mode?: 'create' | 'overwrite' | 'append' } = {}
  ): Promise<{ size: number; sha256: string }> {
    assertString('localPath', localPath, { nonEmpty: true })
    const st = await stat(localPath).catch((err) =>
      Promise.reject(
        new ShareError('not-found', `${localPath}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}`, { cause: err })
      )
    )
    if (!st.isFile()) throw new InvalidArgumentError(`${localPath}: not a regular file`)
    const stream = createReadStream(localPath, { highWaterMark: 4 * CHUNK_BYTES })
    try {
      return await this.write(remotePath, stream as AsyncIterable<Buffer>, { ...options, size: st.size })
    } finally {
      stream.destroy()
    }
  }

  /** Write a small buffer (convenience). */
  writeFile(
    path: string,
    data: Uint8Array | string,
    options: { mode?: 'create' | 'overwrite' | 'append' } = {}
  ): Promise<{ size: number; sha256: string }> {
    return this.write(path, typeof data === 'string' ? Buffer.from(data) : data, options)
  }

  /** Close the connection; pending operations fail with `share-connection-closed`. */
  close(): void {
    this.#frames.close()
  }

  get closed(): boolean {
    return this.#frames.closed
  }

  #id(): number {
    if (this.#closedError !== undefined) throw this.#closedError
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    return id
  }

  #simple(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    let id: number
    try {
      id = this.#id()
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      this.#handlers.set(id, {
        onReply: (json) => {
          this.#handlers.delete(id)
          if (json.ok === true) resolve(json)
          else reject(remoteError(json))
        },
        onClose: reject
      })
      this.#frames.sendJson(FrameType.REQUEST, id, req).catch(reject)
    })
  }

  async #onFrame(frame: Frame): Promise<void> {
    const h = this.#handlers.get(frame.id)
    if (h === undefined) return
    switch (frame.type) {
      case FrameType.REPLY:
        return h.onReply(parseJson(frame.payload))
      case FrameType.DATA:
        if (h.onData === undefined) throw new ShareProtocolError('unexpected DATA')
        return h.onData(frame.payload)
      case FrameType.END:
        if (h.onEnd === undefined) throw new ShareProtocolError('unexpected END')
        return h.onEnd(parseJson(frame.payload))
      default:
        throw new ShareProtocolError(`unexpected frame type ${frame.type} from the server`)
    }
  }

  #onClose(err: Error | undefined): void {
    const e = new ShareConnectionClosedError(
      err === undefined ? 'the share connection closed' : `the share connection closed: ${err.message}`,
      err === undefined ? undefined : { cause: err }
    )
    this.#closedError = e
    for (const h of this.#handlers.values()) h.onClose(e)
    this.#handlers.clear()
  }
}

/** Connect to a share server at `host:port`, run the transport's handshake and the preface. */
export async function connectShare(
  address: string | { host: string; port: number },
  options: ConnectShareOptions = {}
): Promise<ShareClient> {
  const { host, port } = typeof address === 'string' ? parseShareAddress(address) : address
  assertString('host', host, { nonEmpty: true })
  assertInteger('port', port, 1, 65535)
  const timeoutMs = options.timeoutMs ?? 10_000
  assertInteger('timeoutMs', timeoutMs, 1)
  const transport = options.transport ?? plainTransport()
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = netConnect({ host, port, noDelay: true })
    const t = setTimeout(() => {
      s.destroy()
      reject(new ShareError('timeout', `connecting to ${host}:${port} timed out`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(t)
      s.removeAllListeners('error')
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t)
      reject(new ShareError('io-error', `cannot connect to ${host}:${port}: ${err.code ?? err.message}`, { cause: err }))
    })
  })
  try {
    const { stream, peer } = await transport.connect(socket)
    stream.on('error', () => {}) // errors surface as failed operations, never as a crash
    stream.write(PREFACE)
    const { bytes, rest } = await readExactly(stream, PREFACE.length, timeoutMs).catch((err) => {
      throw new ShareConnectionRefusedError(`${host}:${port} closed the connection during the handshake`, { cause: err })
    })
    if (!bytes.equals(PREFACE)) throw new ShareProtocolError(`${host}:${port} is not a peerguard share server`)
    return new ShareClient(stream, rest, peer)
  } catch (err) {
    socket.destroy()
    if (isPeerguardError(err)) throw err
    throw new ShareConnectionRefusedError(`${host}:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
