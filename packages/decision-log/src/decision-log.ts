import { peerIdFromPublicKey, sign, type KeyPair } from '@peerguard/identity'
import { type Clock, InvalidArgumentError, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import type { AppendFile } from './append-file.js'
import { checkpointMessage, entryMacKey, LOG_FORMAT_VERSION, MAX_LINE_BYTES, sealEntry } from './entry.js'
import { LogFileChangedError, LogWriteError } from './errors.js'
import { formatHead, type SignedHead, signHead } from './head.js'
import { checkRecord, type DecisionRecord } from './records.js'

export type LogSyncPolicy = 'always' | 'checkpoint'

export interface DecisionLogOptions {
  /** Path of the JSON Lines file; created (mode 0600) when absent, appended to when present. */
  path: string
  /** The node's identity: its secret key signs the checkpoints and the head, and keys the entry MACs. */
  identity: KeyPair
  /** Write a signed checkpoint after this many entries. Default 64. */
  checkpointEvery?: number
  /** Also checkpoint when entries are unsigned for this long (ms); 0 disables. Default 5000. */
  checkpointIntervalMs?: number
  /**
   * `always` (default): every append is written and fdatasync'ed before its promise resolves
   * (concurrent appends share one write and one sync). `checkpoint`: appends are written at once
   * but only synced at checkpoints — faster, and a power loss can lose unsynced entries.
   */
  sync?: LogSyncPolicy
  /**
   * Called with every new signed head (after each checkpoint, and the genesis head of a new log),
   * to ship it off the box: another disk, syslog, another peer (see `createCheckpointShipper`).
   * `audit log verify --checkpoints` later checks the log still holds every shipped head. Errors
   * it throws are passed to `onError` and never stop the log. Default: none.
   */
  onCheckpoint?: (head: SignedHead, line: string) => void | Promise<void>
  /** Told about problems that do not fail an append (head file or shipping failed). Default: ignore. */
  onError?: (err: unknown) => void
  clock?: Clock
  /** @internal Opens the file for appending; tests inject short writes and ENOSPC here. */
  openFile?: import('./append-file.js').LogFileOpener
}

export interface AppendResult {
  readonly seq: number
  readonly hash: string
}

interface Pending {
  line: string
  seq: number
  hash: string
  checkpoint: boolean
  resolve: () => void
  reject: (err: unknown) => void
}

/** Where the chain stands: in memory (ahead, with queued entries) or on disk (written and whole). */
interface ChainState {
  seq: number
  head: string
  signed: number
}

export interface DecisionLogState {
  readonly file: AppendFile
  readonly chain: ChainState
}

/**
 * An append-only, hash-chained, checkpoint-signed JSON Lines log of enforcement decisions.
 * Create with `openDecisionLog`.
 */
export class DecisionLog {
  readonly path: string
  /** Peer ID of the key that signs checkpoints. */
  readonly signer: string
  /** What opening the log found and repaired (temp files swept, a torn tail cut off), for the operator. */
  readonly notes: string[] = []
  #file: AppendFile
  #identity: KeyPair
  #macKey: Uint8Array
  #clock: Clock
  #mem: ChainState
  #disk: ChainState
  #every: number
  #sync: LogSyncPolicy
  #onCheckpoint: DecisionLogOptions['onCheckpoint']
  #onError: (err: unknown) => void
  #pending: Pending[] = []
  #flushing: Promise<void> | undefined
  #forceSync = false
  #unavailable: unknown
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #inflight = new Set<Promise<void>>()
  #publishing: Promise<void> = Promise.resolve()
  /** Entries the newest head written vouches for. */
  #published = 0

  /** @internal use openDecisionLog */
  constructor(
    options: DecisionLogOptions & { clock: Clock; checkpointEvery: number; checkpointIntervalMs: number; sync: LogSyncPolicy },
    state: DecisionLogState
  ) {
    this.path = options.path
    this.#file = state.file
    this.#identity = options.identity
    this.#macKey = entryMacKey(options.identity.secretKey)
    this.signer = peerIdFromPublicKey(options.identity.publicKey).toString()
    this.#clock = options.clock
    this.#mem = { ...state.chain }
    this.#disk = { ...state.chain }
    this.#every = options.checkpointEvery
    this.#sync = options.sync
    this.#onCheckpoint = options.onCheckpoint
    this.#onError = options.onError ?? (() => {})
    if (options.checkpointIntervalMs > 0) {
      this.#timer = setInterval(() => {
        if (this.#mem.seq > this.#mem.signed && !this.#closed) this.checkpoint().catch(() => {})
      }, options.checkpointIntervalMs)
      this.#timer.unref()
    }
  }

  /** Number of entries in the log (checkpoints included, queued ones too). */
  get entries(): number {
    return this.#mem.seq
  }

  /** Hash of the newest entry. */
  get headHash(): string {
    return this.#mem.head
  }

  /**
   * False after a write failed (disk full, I/O error) until a later write succeeds. Appends are
   * tried all the same: the log resumes by itself once the disk can be written again.
   */
  get available(): boolean {
    return this.#unavailable === undefined
  }

  /**
   * Append one decision. Resolves once the entry is written (and synced, with `sync: 'always'`).
   * Rejects with `log-unavailable` when it cannot be written (nothing of it stays in the file), and
   * with `aborted` when the log is closed.
   */
  append(record: DecisionRecord): Promise<AppendResult> {
    checkRecord(record)
    const result = this.#enqueue({ ...record })
    if (this.#mem.seq - this.#mem.signed >= this.#every) void this.checkpoint().catch(() => {})
    return result
  }

  /** @internal Put what open found (a torn tail, …) on the record; called by openDecisionLog. */
  async recordRecovery(fields: { code: string; reason: string } & Record<string, unknown>): Promise<void> {
    await this.#enqueue({ kind: 'recovery', ...fields }, true)
  }

  /**
   * Write a signed checkpoint now (a no-op when every entry is already signed), then replace
   * `<log>.head` with a signed head naming it and hand that head to `onCheckpoint`.
   */
  checkpoint(): Promise<void> {
    if (this.#mem.seq === this.#mem.signed || this.#closed) return Promise.resolve()
    const count = this.#mem.seq
    const head = this.#mem.head
    const sig = Buffer.from(sign(checkpointMessage(count, head), this.#identity.secretKey)).toString('base64')
    const written = this.#enqueue({ kind: 'checkpoint', count, head, signer: this.signer, sig }, true)
    const done = written.then((r) => this.#publishHead(signHead(r.seq + 1, r.hash, this.#identity, this.signer)))
    // close() waits for checkpoints in flight, head file included
    this.#inflight.add(done)
    void done.then(
      () => this.#inflight.delete(done),
      () => this.#inflight.delete(done)
    )
    return done
  }

  /**
   * Replace the head file and ship the head, one at a time and never going back to an older head;
   * failures go to `onError`, never to the caller.
   */
  #publishHead(head: SignedHead): Promise<void> {
    const run = this.#publishing.then(async () => {
      if (head.entries <= this.#published) return
      const line = formatHead(head)
      try {
        await writeFileAtomic(`${this.path}.head`, line)
        this.#published = head.entries
      } catch (err) {
        // The old head names an earlier checkpoint, which the log still holds: consistent, retried next time.
        this.#onError(err)
      }
      if (this.#onCheckpoint === undefined) return
      try {
        await this.#onCheckpoint(head, line)
      } catch (err) {
        this.#onError(err)
      }
    })
    this.#publishing = run.catch(() => {})
    return run
  }

  /** Write a final checkpoint and close the file. Idempotent; never throws for a full disk. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.#timer !== undefined) clearInterval(this.#timer)
    try {
      // Entries appended while closing (an operation's outcome landing during shutdown) are signed
      // too: checkpoint again until nothing is left unsigned, a few rounds at most. Entries left
      // unsigned (disk full) carry their MAC: the next open adopts them.
      for (let round = 0; round < 4; round++) {
        await this.checkpoint().catch((err: unknown) => this.#onError(err))
        await Promise.allSettled([...this.#inflight])
        await this.#flushing
        await this.#publishing
        if (this.#mem.seq === this.#mem.signed) break
      }
    } finally {
      this.#closed = true
      await this.#file.close().catch(() => {})
    }
  }

  #enqueue(fields: Record<string, unknown>, forceSync = false): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new PeerguardError('aborted', 'the decision log is closed'))
    const seq = this.#mem.seq
    const checkpoint = fields.kind === 'checkpoint'
    const { line, hash } = sealEntry(
      { v: LOG_FORMAT_VERSION, seq, ts: new Date(this.#clock.now()).toISOString(), ...fields, prev: this.#mem.head },
      checkpoint ? undefined : this.#macKey
    )
    // The verifier refuses longer lines; refuse them here, before the chain moves on.
    if (Buffer.byteLength(line) + 1 > MAX_LINE_BYTES) {
      throw new InvalidArgumentError(`record: ${Buffer.byteLength(line)} bytes as a log line, more than ${MAX_LINE_BYTES}`)
    }
    this.#mem.seq++
    this.#mem.head = hash
    if (checkpoint) this.#mem.signed = this.#mem.seq
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ line: `${line}\n`, seq, hash, checkpoint, resolve: () => resolve({ seq, hash }), reject })
      if (forceSync) this.#forceSync = true
      this.#kick()
    })
  }

  #kick(): void {
    if (this.#flushing !== undefined) return
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined
      if (this.#pending.length > 0) this.#kick()
    })
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending
      this.#pending = []
      const doSync = this.#sync === 'always' || this.#forceSync
      this.#forceSync = false
      try {
        await this.#file.append(Buffer.from(batch.map((p) => p.line).join('')), doSync)
      } catch (err) {
        this.#fail(batch, err)
        continue
      }
      this.#disk = this.#afterBatch(batch)
      if (this.#unavailable !== undefined) this.#unavailable = undefined
      for (const p of batch) p.resolve()
    }
  }

  /** The on-disk chain state after `batch` was written: recomputed from the entries' own fields. */
  #afterBatch(batch: Pending[]): ChainState {
    const last = batch[batch.length - 1] as Pending
    const lastCheckpoint = batch.findLast((p) => p.checkpoint)
    return {
      seq: last.seq + 1,
      head: last.hash,
      signed: lastCheckpoint === undefined ? this.#disk.signed : lastCheckpoint.seq + 1
    }
  }

  /**
   * A write failed and was cut back: reject the batch and every entry queued after it (they chain
   * onto the lost ones), and continue the chain from what is on disk.
   */
  #fail(batch: Pending[], err: unknown): void {
    this.#unavailable = err
    const queued = this.#pending
    this.#pending = []
    this.#mem = { ...this.#disk }
    const errno = (err as NodeJS.ErrnoException).code
    const why = errno === 'ENOSPC' ? 'ENOSPC: no space left on device' : (errno ?? (err as Error).message)
    const e =
      err instanceof LogFileChangedError
        ? err // the file is not ours to extend any more: no resuming by itself
        : new LogWriteError(
            `${this.path}: the decision log cannot be written (${why}); the operation is refused, and the log resumes once it can be written`,
            { cause: err }
          )
    for (const p of [...batch, ...queued]) p.reject(e)
  }
}
