import type { NoiseChannel } from '@peerguard/channel'
import type { PeerInfo } from '@peerguard/interface'
import { isPeerguardError } from '@peerguard/interface'
import { pieceLength } from './manifest.js'
import type { RateLimiter } from './rate-limit.js'
import type { SwarmStore } from './store.js'
import { SwarmProtocolError } from './errors.js'
import { allocPieceMessage, encodeMessage, MessageDecoder, PIECE_HEADER_BYTES, type SwarmMessage } from './wire.js'

/** Most REQUESTs a peer may have outstanding on one connection (SWARM.md §4). */
export const MAX_OUTSTANDING_REQUESTS = 64
/** How long a connecting peer has to send HELLO, milliseconds. */
export const HELLO_TIMEOUT_MS = 10_000

export interface ServeHooks {
  /** Find the swarm a HELLO names; undefined when this peer does not serve it. */
  lookup(swarmId: string): SwarmStore | undefined
  /** Log that the peer asked for a swarm this peer does not serve (before it is closed). */
  unknown?(peer: PeerInfo, swarmId: string): Promise<void>
  /**
   * Decide (and log) whether the peer may fetch; resolves to an error code + reason to refuse.
   * `onLogged` gets the `seq` of the decision entry, when the log reports one; `onAdmitted` is
   * called in the very turn the final decision allows the peer (a re-check from then on covers it).
   */
  admit(
    peer: PeerInfo,
    store: SwarmStore,
    onLogged: (seq: number) => void,
    onAdmitted: () => void
  ): Promise<{ code: string; reason: string } | undefined>
  /** Upload limiter shared by all connections, if any. */
  limiter: RateLimiter | undefined
  /** Count of bytes served, per call. */
  onServed(bytes: number): void
  /** Protocol errors and closes, for the peer's logger. */
  onError(err: unknown, peer: PeerInfo): void
  /** Once, when the connection closed (for its session outcome). */
  onClosed?(conn: ServeConnection): void
}

/** Why a session ended: `ok` (the peer left), or the code it was closed with. */
export interface SessionEnd {
  readonly code: string
  readonly reason: string
}

/** Live figures of one serving connection (status displays, the session outcome). */
export interface ServeStats {
  /** When the channel was accepted (ms since the epoch). */
  readonly since: number
  /** Bytes of swarm messages received from the peer. */
  readonly bytesIn: number
  /** Bytes of swarm messages sent to the peer. */
  readonly bytesOut: number
  /** Piece bytes served (the payload of bytesOut). */
  readonly served: number
  /** Blocks (PIECE messages) served, and distinct pieces they came from. */
  readonly blocks: number
  readonly pieces: number
  /** Requests queued or being served now. */
  readonly pending: number
}

type Request = { piece: number; offset: number; length: number }

/**
 * The serving side of one channel (SWARM.md §3.3): wait for HELLO, check the policy, answer with
 * our HELLO and UNCHOKE, then serve REQUESTs in order from verified pieces only, announcing
 * newly verified pieces with HAVE. Any protocol violation sends ERROR and closes.
 */
export class ServeConnection {
  readonly channel: NoiseChannel
  readonly peer: PeerInfo
  readonly #hooks: ServeHooks
  readonly #decoder = new MessageDecoder()
  readonly #queue: Request[] = []
  #store: SwarmStore | undefined
  #pumping = false
  #closed = false
  #helloTimer: NodeJS.Timeout | undefined
  readonly #since = Date.now()
  #bytesIn = 0
  #bytesOut = 0
  #served = 0
  #blocks = 0
  #serving = false
  readonly #pieces = new Set<number>()
  #end: SessionEnd | undefined
  /** `seq` of the decision entry that admitted the peer, when logged. */
  admittedSeq: number | undefined
  #onHave = (piece: number): void => {
    this.#send(encodeMessage({ type: 'have', piece }))
  }

  constructor(channel: NoiseChannel, peer: PeerInfo, hooks: ServeHooks) {
    this.channel = channel
    this.peer = peer
    this.#hooks = hooks
    this.#helloTimer = setTimeout(() => this.fail('swarm-protocol-error', 'no HELLO in time'), HELLO_TIMEOUT_MS)
    channel.on('data', (chunk: Buffer) => this.#onData(chunk))
    channel.on('error', (err) => {
      hooks.onError(err, peer)
      this.#end ??= {
        code: isPeerguardError(err) ? err.code : 'io-error',
        reason: err instanceof Error ? err.message : 'the channel failed'
      }
      this.close()
    })
    channel.on('end', () => this.close())
    channel.on('close', () => this.close())
  }

  /** The swarm this peer was admitted to, once its HELLO passed the policy. */
  get store(): SwarmStore | undefined {
    return this.#store
  }

  /** True once closed (by either side, a failure or `close`). */
  get closed(): boolean {
    return this.#closed
  }

  get stats(): ServeStats {
    return {
      since: this.#since,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      served: this.#served,
      blocks: this.#blocks,
      pieces: this.#pieces.size,
      pending: this.#queue.length + (this.#serving ? 1 : 0)
    }
  }

  /** How the session ended (`ok` when the peer left or the serving peer closed); undefined while open. */
  get end(): SessionEnd | undefined {
    return this.#closed ? (this.#end ?? { code: 'ok', reason: 'session ended' }) : undefined
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return
    this.#bytesIn += chunk.length
    let messages: SwarmMessage[]
    try {
      messages = this.#decoder.push(chunk)
    } catch (err) {
      this.fail(isPeerguardError(err) ? err.code : 'swarm-protocol-error', (err as Error).message)
      return
    }
    for (const m of messages) {
      if (this.#closed) return
      this.#onMessage(m)
    }
  }

  #onMessage(m: SwarmMessage): void {
    if (this.#store === undefined) {
      if (m.type !== 'hello' || this.#helloTimer === undefined) {
        this.fail('swarm-protocol-error', m.type === 'hello' ? 'HELLO sent twice' : `expected HELLO, got ${m.type.toUpperCase()}`)
        return
      }
      clearTimeout(this.#helloTimer)
      this.#helloTimer = undefined
      void this.#hello(m.swarmId, m.pieceCount)
      return
    }
    const store = this.#store
    switch (m.type) {
      case 'request': {
        const len = m.piece < store.pieceCount ? pieceLength(store.manifest, m.piece) : 0
        if (m.piece >= store.pieceCount || m.offset + m.length > len) {
          this.fail('swarm-protocol-error', `REQUEST outside piece ${m.piece}`)
          return
        }
        if (!store.has(m.piece)) {
          this.fail('swarm-protocol-error', `REQUEST for piece ${m.piece}, which this peer does not have`)
          return
        }
        if (this.#queue.length >= MAX_OUTSTANDING_REQUESTS) {
          this.fail('swarm-protocol-error', `more than ${MAX_OUTSTANDING_REQUESTS} outstanding requests`)
          return
        }
        this.#queue.push({ piece: m.piece, offset: m.offset, length: m.length })
        void this.#pump()
        return
      }
      case 'cancel': {
        const i = this.#queue.findIndex((r) => r.piece === m.piece && r.offset === m.offset && r.length === m.length)
        if (i >= 0) this.#queue.splice(i, 1)
        return
      }
      default:
        this.fail('swarm-protocol-error', `unexpected ${m.type.toUpperCase()} from a fetching peer`)
    }
  }

  async #hello(swarmIdBytes: Uint8Array, pieceCount: number): Promise<void> {
    const swarmId = Buffer.from(swarmIdBytes).toString('hex')
    const store = this.#hooks.lookup(swarmId)
    if (store === undefined) {
      await this.#hooks.unknown?.(this.peer, swarmId).catch(() => {})
      this.fail('swarm-unknown', `this peer does not serve swarm ${swarmId}`)
      return
    }
    if (pieceCount !== store.pieceCount) {
      this.fail('swarm-protocol-error', 'HELLO piece count does not match the manifest')
      return
    }
    let refusal: { code: string; reason: string } | undefined
    try {
      refusal = await this.#hooks.admit(
        this.peer,
        store,
        (seq) => {
          this.admittedSeq = seq
        },
        () => {
          // set in the turn the peer is admitted, so a recheck() between the decision and this
          // continuation decides this connection on the swarm's policy too
          this.#store = store
        }
      )
    } catch (err) {
      refusal = { code: isPeerguardError(err) ? err.code : 'swarm-denied', reason: (err as Error).message }
    }
    if (this.#closed) return
    if (refusal !== undefined) {
      this.fail(refusal.code, refusal.reason)
      return
    }
    this.#store = store
    this.#send(
      encodeMessage({ type: 'hello', swarmId: store.swarmIdBytes, pieceCount: store.pieceCount, bitfield: store.bitfield() })
    )
    store.on('have', this.#onHave)
    this.#send(encodeMessage({ type: 'unchoke' }))
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      const store = this.#store as SwarmStore
      while (!this.#closed && this.#queue.length > 0) {
        const r = this.#queue.shift() as Request
        this.#serving = true
        if (this.#hooks.limiter !== undefined) await this.#hooks.limiter.take(r.length)
        if (this.#closed) return
        const msg = allocPieceMessage(r.piece, r.offset, r.length)
        const { bytesRead } = await store.fh.read(
          msg,
          PIECE_HEADER_BYTES,
          r.length,
          r.piece * store.manifest.pieceSize + r.offset
        )
        if (bytesRead !== r.length) throw new SwarmProtocolError(`short read serving piece ${r.piece}`)
        if (this.#closed) return
        this.#hooks.onServed(r.length)
        this.#served += r.length
        this.#bytesOut += msg.length
        this.#blocks++
        this.#pieces.add(r.piece)
        if (!this.channel.write(msg))
          await new Promise<void>((resolve) => {
            const done = (): void => {
              this.channel.off('drain', done)
              this.channel.off('close', done)
              resolve()
            }
            this.channel.on('drain', done)
            this.channel.on('close', done)
          })
        this.#serving = false
      }
    } catch (err) {
      this.#hooks.onError(err, this.peer)
      this.fail('io-error', 'cannot read the piece')
    } finally {
      this.#pumping = false
      this.#serving = false
    }
  }

  #send(buf: Buffer): void {
    if (this.#closed || this.channel.destroyed) return
    this.#bytesOut += buf.length
    this.channel.write(buf)
  }

  /** Send ERROR and close. */
  fail(code: string, reason: string): void {
    if (this.#closed) return
    this.#end ??= { code, reason }
    try {
      this.#send(encodeMessage({ type: 'error', code, message: reason }))
    } catch {
      // an unencodable code: close without the ERROR
    }
    this.#hooks.onError(new SwarmProtocolError(`${code}: ${reason}`), this.peer)
    this.close(true)
  }

  /**
   * Stop serving; `graceful` ends the channel (flushing an ERROR) instead of destroying it. `end`
   * says why, for the session outcome (default: `ok`, the session simply ended).
   */
  close(graceful = false, end?: SessionEnd): void {
    if (this.#closed) return
    this.#closed = true
    if (end !== undefined) this.#end ??= end
    if (this.#helloTimer !== undefined) clearTimeout(this.#helloTimer)
    this.#store?.off('have', this.#onHave)
    this.#queue.length = 0
    if (graceful) {
      this.channel.end()
      setTimeout(() => this.channel.destroy(), 2000).unref()
    } else this.channel.destroy()
    this.#hooks.onClosed?.(this)
  }
}
