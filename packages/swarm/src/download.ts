import { createHash } from 'node:crypto'
import type { NoiseChannel } from '@peerguard/channel'
import type { PeerInfo } from '@peerguard/interface'
import { isPeerguardError, PeerguardError } from '@peerguard/interface'
import { SwarmFileMismatchError, SwarmPieceCorruptError, SwarmProtocolError, SwarmStalledError } from './errors.js'
import { pieceLength } from './manifest.js'
import { bitsFrom, type SwarmStore } from './store.js'
import { encodeMessage, MAX_REQUEST_BYTES, MessageDecoder, type SwarmMessage } from './wire.js'

/** Progress of a fetch, reported after each verified piece. */
export interface FetchProgress {
  /** Verified pieces, including resumed ones. */
  readonly pieces: number
  readonly totalPieces: number
  /** Verified bytes. */
  readonly bytes: number
  readonly size: number
}

/** A peer the download stopped using, and why. */
export interface DroppedPeer {
  readonly address: string
  readonly peerId?: string
  /** Stable code: `swarm-piece-corrupt`, `swarm-denied`, `cert-unknown-issuer`, … */
  readonly code: string
  readonly reason: string
}

export interface FetchResult {
  /** Where the verified file is. */
  readonly path: string
  readonly size: number
  readonly sha256: string
  readonly swarmId: string
  /** Pieces that were already verified in a partial file from an earlier run. */
  readonly resumedPieces: number
  /** Verified pieces received from each peer, by peer ID. */
  readonly piecesFrom: Readonly<Record<string, number>>
  /** Peers dropped for good (bad piece, policy, certificate, protocol). */
  readonly dropped: readonly DroppedPeer[]
}

/** What the download needs from its swarm peer. */
export interface DownloadContext {
  store: SwarmStore
  /** Open an authenticated channel to `address` (TCP + Noise handshake). */
  connect(address: string): Promise<{ channel: NoiseChannel; peer: PeerInfo }>
  /** Policy check (and log) that the remote may serve (seed) this swarm; a refusal code or undefined. */
  admitServer(peer: PeerInfo): Promise<{ code: string; reason: string } | undefined>
  /** Log a corrupt piece from a peer. */
  recordCorrupt(peer: PeerInfo, piece: number): Promise<void>
  requestsPerPeer: number
  stallTimeoutMs: number
  /** Drop a peer that leaves requests unanswered this long, milliseconds. */
  requestTimeoutMs: number
  onProgress?: ((p: FetchProgress) => void) | undefined
}

/** Error codes after which a peer is tried again (the condition may pass); others drop it for good. */
const RETRYABLE = new Set([
  'io-error',
  'channel-closed',
  'channel-truncated',
  'channel-handshake-timeout',
  'channel-too-many-handshakes',
  'swarm-unknown',
  'swarm-too-many-peers',
  'swarm-closed'
])
/** Delay before dialling a peer again, milliseconds. */
export const REDIAL_DELAY_MS = 500
/** Block size requested from peers, bytes (a piece is fetched in blocks of this size). */
export const BLOCK_BYTES = MAX_REQUEST_BYTES

interface PieceState {
  readonly piece: number
  readonly length: number
  /** The piece's bytes: made when its first block arrives (a piece that is one block is that block's data). */
  buf: Uint8Array | undefined
  nextOffset: number
  received: number
}

class FetchConnection {
  readonly address: string
  readonly channel: NoiseChannel
  readonly peer: PeerInfo
  readonly decoder = new MessageDecoder()
  remoteHave: Uint8Array | undefined
  choked = true
  admitted = false
  /** When the last PIECE arrived, or when requests were first outstanding after a pause. */
  lastProgress = performance.now()
  dropped = false
  readonly outstanding = new Map<string, number>()
  /** Requests cancelled after another peer delivered the piece; a late PIECE for one is ignored. */
  readonly cancelled = new Set<string>()
  readonly inProgress = new Map<number, PieceState>()
  constructor(address: string, channel: NoiseChannel, peer: PeerInfo) {
    this.address = address
    this.channel = channel
    this.peer = peer
  }
}

function codeOf(err: unknown): string {
  return isPeerguardError(err) ? err.code : 'io-error'
}

/**
 * One fetch (SWARM.md §6): dial every peer, request blocks of pieces the peer has and nobody else
 * is fetching (random order, `requestsPerPeer` blocks in flight per peer), verify each piece's
 * SHA-256 before writing it, drop a peer that sends a bad piece, and finish when every piece is
 * verified and the whole-file SHA-256 matches.
 */
export class Download {
  readonly #ctx: DownloadContext
  readonly #store: SwarmStore
  readonly #conns = new Set<FetchConnection>()
  readonly #assigned = new Map<number, FetchConnection>()
  readonly #permanent = new Set<string>()
  readonly #pendingDials = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #piecesFrom: Record<string, number> = {}
  readonly #dropped: DroppedPeer[] = []
  #stallTimer: NodeJS.Timeout | undefined
  #watchdog: NodeJS.Timeout | undefined
  #finished = false
  /** The whole-file SHA-256, fed in piece order as the leading pieces are verified. */
  readonly #whole = createHash('sha256')
  #hashed = 0
  #hashing: Promise<void> = Promise.resolve()
  #hashBuf: Buffer | undefined
  #resolve!: () => void
  #reject!: (err: Error) => void
  readonly done: Promise<void>

  constructor(ctx: DownloadContext) {
    this.#ctx = ctx
    this.#store = ctx.store
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.done.catch(() => {})
  }

  get piecesFrom(): Readonly<Record<string, number>> {
    return this.#piecesFrom
  }

  get dropped(): readonly DroppedPeer[] {
    return this.#dropped
  }

  /** Start dialling; `done` settles when every piece is verified (or on failure). */
  start(addresses: readonly string[]): void {
    this.#advanceHash()
    if (this.#store.complete) {
      this.#finish()
      return
    }
    this.#armStall()
    this.#watchdog = setInterval(() => this.#checkSlowPeers(), Math.min(1000, this.#ctx.requestTimeoutMs))
    for (const a of new Set(addresses)) void this.#dial(a)
  }

  /** The swarm being fetched. */
  get store(): SwarmStore {
    return this.#store
  }

  /**
   * Decide every open connection again (after a reload of trust or policy): a peer `decide` refuses
   * is dropped for good (its pieces go to other peers). Returns the peers dropped.
   */
  recheck(decide: (peer: PeerInfo) => { code: string; reason: string } | undefined): Array<{
    peer: PeerInfo
    refusal: { code: string; reason: string }
  }> {
    const dropped: Array<{ peer: PeerInfo; refusal: { code: string; reason: string } }> = []
    if (this.#finished) return dropped
    for (const c of [...this.#conns]) {
      const refusal = decide(c.peer)
      if (refusal === undefined) continue
      dropped.push({ peer: c.peer, refusal })
      this.#drop(c, refusal.code, `open connection closed: ${refusal.reason}`, true)
    }
    return dropped
  }

  /** Stop with an error (e.g. the peer is closing). */
  abort(err: Error): void {
    this.#fail(err)
  }

  async #dial(address: string): Promise<void> {
    if (this.#finished || this.#permanent.has(address)) return
    this.#pendingDials.add(address)
    let conn: FetchConnection
    try {
      const { channel, peer } = await this.#ctx.connect(address)
      conn = new FetchConnection(address, channel, peer)
    } catch (err) {
      this.#pendingDials.delete(address)
      this.#lost(address, undefined, codeOf(err), (err as Error).message)
      return
    }
    this.#pendingDials.delete(address)
    if (this.#finished) {
      conn.channel.destroy()
      return
    }
    this.#conns.add(conn)
    const { channel } = conn
    channel.on('data', (chunk: Buffer) => this.#onData(conn, chunk))
    channel.on('error', (err) => this.#drop(conn, codeOf(err), err.message))
    channel.on('end', () => this.#drop(conn, 'swarm-closed', 'the peer closed the connection'))
    channel.on('close', () => this.#drop(conn, 'swarm-closed', 'the connection closed'))
    const store = this.#store
    channel.write(
      encodeMessage({ type: 'hello', swarmId: store.swarmIdBytes, pieceCount: store.pieceCount, bitfield: store.bitfield() })
    )
  }

  #onData(conn: FetchConnection, chunk: Buffer): void {
    if (conn.dropped) return
    let messages: SwarmMessage[]
    try {
      messages = conn.decoder.push(chunk)
    } catch (err) {
      this.#drop(conn, codeOf(err), (err as Error).message)
      return
    }
    for (const m of messages) {
      if (conn.dropped) return
      try {
        this.#onMessage(conn, m)
      } catch (err) {
        this.#drop(conn, codeOf(err), (err as Error).message)
      }
    }
  }

  #onMessage(conn: FetchConnection, m: SwarmMessage): void {
    const store = this.#store
    if (m.type === 'error') {
      this.#drop(conn, m.code, `peer refused: ${m.message}`)
      return
    }
    if (conn.remoteHave === undefined) {
      if (m.type !== 'hello') throw new SwarmProtocolError(`expected HELLO, got ${m.type.toUpperCase()}`)
      if (Buffer.compare(Buffer.from(m.swarmId), Buffer.from(store.swarmIdBytes)) !== 0 || m.pieceCount !== store.pieceCount) {
        throw new SwarmProtocolError('HELLO names another swarm')
      }
      conn.remoteHave = bitsFrom(m.bitfield, m.pieceCount)
      void this.#ctx.admitServer(conn.peer).then(
        (refusal) => {
          if (refusal !== undefined) this.#drop(conn, refusal.code, refusal.reason)
          else {
            conn.admitted = true
            this.#schedule(conn)
          }
        },
        (err) => this.#drop(conn, codeOf(err), (err as Error).message)
      )
      return
    }
    switch (m.type) {
      case 'unchoke':
        conn.choked = false
        this.#schedule(conn)
        return
      case 'choke':
        conn.choked = true
        this.#release(conn)
        this.#scheduleAll()
        return
      case 'have':
        if (m.piece >= store.pieceCount) throw new SwarmProtocolError(`HAVE for piece ${m.piece} of ${store.pieceCount}`)
        conn.remoteHave[m.piece] = 1
        this.#schedule(conn)
        return
      case 'piece':
        this.#onPiece(conn, m.piece, m.offset, m.data)
        return
      default:
        throw new SwarmProtocolError(`unexpected ${m.type.toUpperCase()} from a serving peer`)
    }
  }

  #onPiece(conn: FetchConnection, piece: number, offset: number, data: Uint8Array): void {
    const key = `${piece}:${offset}`
    if (conn.cancelled.delete(key)) return
    const ps = conn.inProgress.get(piece)
    if (conn.outstanding.get(key) !== data.length || ps === undefined) {
      throw new SwarmProtocolError(`unrequested PIECE ${piece} at ${offset} (${data.length} bytes)`)
    }
    conn.outstanding.delete(key)
    conn.lastProgress = performance.now()
    // A piece fetched in one block (the default: pieces and blocks are both 256 KiB) keeps the
    // message's bytes as they are, which no one else holds; only a piece of several blocks is copied together.
    if (offset === 0 && data.length === ps.length) ps.buf = data
    else (ps.buf ??= Buffer.allocUnsafe(ps.length)).set(data, offset)
    ps.received += data.length
    if (ps.received === ps.length) {
      conn.inProgress.delete(piece)
      void this.#verify(conn, ps)
    }
    this.#schedule(conn)
  }

  async #verify(conn: FetchConnection, ps: PieceState): Promise<void> {
    const store = this.#store
    const release = (): void => {
      if (this.#assigned.get(ps.piece) === conn) this.#assigned.delete(ps.piece)
    }
    if (store.has(ps.piece)) return release() // a duplicate from the end game, already verified
    const buf = ps.buf as Uint8Array // every block has arrived
    const digest = createHash('sha256').update(buf).digest('hex')
    if (digest !== store.manifest.pieces[ps.piece]) {
      if (this.#assigned.get(ps.piece) === conn) this.#assigned.delete(ps.piece)
      const err = new SwarmPieceCorruptError(
        `piece ${ps.piece} from ${conn.peer.peerId} (${conn.address}) does not match its SHA-256`
      )
      this.#drop(conn, err.code, err.message, true)
      try {
        await this.#ctx.recordCorrupt(conn.peer, ps.piece)
      } catch (e) {
        this.#fail(e as Error)
      }
      return
    }
    if (store.has(ps.piece)) return release() // another peer delivered it first (end game)
    try {
      await store.fh.write(buf, 0, ps.length, ps.piece * store.manifest.pieceSize)
    } catch (err) {
      this.#fail(new PeerguardError('io-error', `cannot write piece ${ps.piece}: ${(err as Error).message}`, { cause: err }))
      return
    }
    release()
    if (this.#finished || store.has(ps.piece)) return
    store.add(ps.piece)
    this.#advanceHash()
    this.#cancelDuplicates(conn, ps.piece)
    this.#piecesFrom[conn.peer.peerId] = (this.#piecesFrom[conn.peer.peerId] ?? 0) + 1
    this.#armStall()
    this.#ctx.onProgress?.({
      pieces: store.haveCount,
      totalPieces: store.pieceCount,
      bytes: Math.min(store.haveCount * store.manifest.pieceSize, store.manifest.size),
      size: store.manifest.size
    })
    if (store.complete) this.#finish()
    else this.#scheduleAll()
  }

  /** Hash (read back from the file) every verified piece that now follows the hashed prefix. */
  #advanceHash(): void {
    this.#hashing = this.#hashing.then(async () => {
      const store = this.#store
      const m = store.manifest
      while (this.#hashed < store.pieceCount && store.has(this.#hashed)) {
        const len = pieceLength(m, this.#hashed)
        this.#hashBuf ??= Buffer.allocUnsafe(m.pieceSize)
        const { bytesRead } = await store.fh.read(this.#hashBuf, 0, len, this.#hashed * m.pieceSize)
        if (bytesRead !== len) throw new SwarmFileMismatchError(`short read of piece ${this.#hashed} while hashing the file`)
        this.#whole.update(this.#hashBuf.subarray(0, len))
        this.#hashed++
      }
    })
    this.#hashing.catch(() => {})
  }

  /**
   * SHA-256 of the whole file as written, once every piece is verified (SWARM.md §6). Computed
   * while the download runs, from the file itself, so the final check costs little.
   */
  async fileDigest(): Promise<string> {
    this.#advanceHash()
    await this.#hashing
    if (this.#hashed !== this.#store.pieceCount) throw new SwarmFileMismatchError('the file is not complete')
    return this.#whole.digest('hex')
  }

  /** Keep `requestsPerPeer` blocks in flight on this connection. */
  #schedule(conn: FetchConnection): void {
    if (this.#finished || conn.dropped || conn.choked || !conn.admitted || conn.remoteHave === undefined) return
    const store = this.#store
    while (conn.outstanding.size < this.#ctx.requestsPerPeer) {
      let ps: PieceState | undefined
      for (const p of conn.inProgress.values()) {
        if (p.nextOffset < p.length) {
          ps = p
          break
        }
      }
      if (ps === undefined) {
        let piece = this.#pick(conn.remoteHave)
        if (piece < 0) piece = this.#pickEndGame(conn)
        if (piece < 0) break
        const length = pieceLength(store.manifest, piece)
        ps = { piece, length, buf: undefined, nextOffset: 0, received: 0 }
        if (!this.#assigned.has(piece)) this.#assigned.set(piece, conn)
        conn.inProgress.set(piece, ps)
      }
      const length = Math.min(BLOCK_BYTES, ps.length - ps.nextOffset)
      if (conn.outstanding.size === 0) conn.lastProgress = performance.now()
      conn.outstanding.set(`${ps.piece}:${ps.nextOffset}`, length)
      conn.channel.write(encodeMessage({ type: 'request', piece: ps.piece, offset: ps.nextOffset, length }))
      ps.nextOffset += length
    }
  }

  /** Drop peers that sit on requests (a withholding peer must not hold pieces hostage). */
  #checkSlowPeers(): void {
    const now = performance.now()
    for (const c of [...this.#conns]) {
      if (c.outstanding.size > 0 && now - c.lastProgress > this.#ctx.requestTimeoutMs) {
        this.#drop(
          c,
          'swarm-stalled',
          `no PIECE for ${this.#ctx.requestTimeoutMs} ms with ${c.outstanding.size} requests outstanding`,
          true
        )
      }
    }
  }

  #scheduleAll(): void {
    for (const c of this.#conns) this.#schedule(c)
  }

  /** A piece the remote has, we lack and nobody is fetching; random start so peers spread out. */
  #pick(remoteHave: Uint8Array): number {
    const store = this.#store
    const n = store.pieceCount
    const start = Math.floor(Math.random() * n)
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n
      if (remoteHave[i] === 1 && !store.has(i) && !this.#assigned.has(i)) return i
    }
    return -1
  }

  /**
   * End game (as in BitTorrent): when nothing unclaimed is left, also ask this peer for a piece
   * another peer is still fetching, so one slow or withholding peer cannot hold up the end.
   */
  #pickEndGame(conn: FetchConnection): number {
    const remoteHave = conn.remoteHave as Uint8Array
    for (const [piece, owner] of this.#assigned) {
      if (owner !== conn && remoteHave[piece] === 1 && !this.#store.has(piece) && !conn.inProgress.has(piece)) return piece
    }
    return -1
  }

  /** A piece arrived: withdraw the requests other peers still have for it (CANCEL). */
  #cancelDuplicates(from: FetchConnection, piece: number): void {
    for (const c of this.#conns) {
      if (c === from) continue
      const ps = c.inProgress.get(piece)
      if (ps === undefined) continue
      c.inProgress.delete(piece)
      if (this.#assigned.get(piece) === c) this.#assigned.delete(piece)
      for (let offset = 0; offset < ps.nextOffset; offset += BLOCK_BYTES) {
        const key = `${piece}:${offset}`
        const length = c.outstanding.get(key)
        if (length === undefined) continue
        c.outstanding.delete(key)
        c.cancelled.add(key)
        c.channel.write(encodeMessage({ type: 'cancel', piece, offset, length }))
      }
      if (c.outstanding.size === 0) c.lastProgress = performance.now()
    }
  }

  /** Give back the pieces a connection was fetching. */
  #release(conn: FetchConnection): void {
    for (const ps of conn.inProgress.values()) if (this.#assigned.get(ps.piece) === conn) this.#assigned.delete(ps.piece)
    conn.inProgress.clear()
    conn.outstanding.clear()
    conn.cancelled.clear()
  }

  #drop(conn: FetchConnection, code: string, reason: string, permanent = !RETRYABLE.has(code)): void {
    if (conn.dropped) return
    conn.dropped = true
    this.#conns.delete(conn)
    this.#release(conn)
    conn.channel.destroy()
    if (this.#finished) return
    this.#lost(conn.address, conn.peer.peerId, code, reason, permanent)
    this.#scheduleAll()
  }

  /** A dial failed or a connection ended: dial again later, or drop the address for good. */
  #lost(address: string, peerId: string | undefined, code: string, reason: string, permanent = !RETRYABLE.has(code)): void {
    if (this.#finished) return
    if (permanent) {
      this.#permanent.add(address)
      this.#dropped.push({ address, ...(peerId === undefined ? {} : { peerId }), code, reason })
    } else {
      const t = setTimeout(() => {
        this.#timers.delete(t)
        void this.#dial(address)
      }, REDIAL_DELAY_MS)
      this.#timers.add(t)
    }
    if (this.#conns.size === 0 && this.#pendingDials.size === 0 && this.#timers.size === 0) {
      const why = this.#dropped.map((d) => `${d.address}: ${d.code}`).join('; ')
      this.#fail(
        new SwarmStalledError(`no usable peer left (${why || 'none given'})`, { details: { dropped: [...this.#dropped] } })
      )
    }
  }

  #armStall(): void {
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer)
    this.#stallTimer = setTimeout(() => {
      const why = this.#dropped.map((d) => `${d.address}: ${d.code}`).join('; ')
      this.#fail(
        new SwarmStalledError(
          `no verified piece for ${this.#ctx.stallTimeoutMs} ms; ${this.#store.haveCount}/${this.#store.pieceCount} pieces${why ? ` (dropped ${why})` : ''}`,
          { details: { dropped: [...this.#dropped] } }
        )
      )
    }, this.#ctx.stallTimeoutMs)
  }

  #stop(): void {
    this.#finished = true
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer)
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog)
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const c of this.#conns) {
      c.dropped = true
      c.channel.end()
      setTimeout(() => c.channel.destroy(), 1000).unref()
    }
    this.#conns.clear()
  }

  #finish(): void {
    if (this.#finished) return
    this.#stop()
    this.#resolve()
  }

  #fail(err: Error): void {
    if (this.#finished) return
    this.#stop()
    this.#reject(err)
  }
}
