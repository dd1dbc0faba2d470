import { open, readFile, truncate, type FileHandle } from 'node:fs/promises'
import { peerIdFromPublicKey, sign, type KeyPair } from '@peerguard/identity'
import {
  assertBytes,
  assertInteger,
  assertString,
  type Clock,
  InvalidArgumentError,
  PeerguardError,
  systemClock,
  writeFileAtomic
} from '@peerguard/interface'
import { checkpointMessage, LOG_FORMAT_VERSION, MAX_LINE_BYTES, sealEntry, sha256Hex } from './entry.js'
import { LogCorruptError, LogWriteError } from './errors.js'
import { verifyDecisionLog } from './verify.js'

/** Who a decision was about, as written in the log. */
export interface LogPeer {
  readonly peerId?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly address?: string
}

/** A connection accepted or refused by an enforcement point. */
export interface ConnectionRecord {
  readonly kind: 'connection'
  readonly event: 'accepted' | 'refused'
  /** Stable code: `allow`, or the error code that refused (e.g. `certificate-expired`). */
  readonly code: string
  readonly reason: string
  readonly peer?: LogPeer
  /** `hardened` or `plain`. */
  readonly mode?: string
}

/** An operation allowed or denied by the policy. */
export interface OperationRecord {
  readonly kind: 'operation'
  readonly allowed: boolean
  /** Decision code (`allow`, `deny-rule`, `deny-default`) or a refusal code (`share-path-traversal`). */
  readonly code: string
  readonly reason: string
  readonly peer?: LogPeer
  /** `read` or `write`. */
  readonly action: string
  /** Protocol verb: `list`, `stat`, `read`, `write`, `delete`, `rename`, `mkdir`. */
  readonly verb: string
  /** Policy resource, e.g. `share:docs/report.pdf`. */
  readonly resource: string
  /** The deciding rule, absent for a default deny. */
  readonly rule?: { readonly id: string; readonly source?: unknown }
}

/** A running node applied or rejected new configuration (policy, trust roots and CRLs, certificate). */
export interface ReloadRecord {
  readonly kind: 'reload'
  readonly event: 'applied' | 'rejected'
  /** What was reloaded: `policy`, `trust`, `crl`, `certificate` (comma-separated when several). */
  readonly what: string
  /** `ok`, or the error code that made the node keep its previous configuration. */
  readonly code: string
  readonly reason: string
  /** SHA-256 (hex) of the policy file in force after this event, when there is a policy. */
  readonly policySha256?: string
}

/**
 * Refusals before authentication (bad handshakes, unknown certificates, floods), counted per
 * address and time window instead of written one by one, so an unauthenticated peer cannot grow
 * the log without bound.
 */
export interface RefusalSummaryRecord {
  readonly kind: 'refusal-summary'
  /** The remote address (host, without port). */
  readonly address: string
  /** Refusals in the window. */
  readonly count: number
  /** Refusals per code in the window. */
  readonly codes: Readonly<Record<string, number>>
  /** Window start and end (ISO 8601). */
  readonly since: string
  readonly until: string
  readonly code: string
  readonly reason: string
}

export type DecisionRecord = ConnectionRecord | OperationRecord | ReloadRecord | RefusalSummaryRecord

export type LogSyncPolicy = 'always' | 'checkpoint'

export interface DecisionLogOptions {
  /** Path of the JSON Lines file; created (mode 0600) when absent, appended to when present. */
  path: string
  /** The node's identity: its secret key signs the checkpoints. */
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
  /** Keep `<path>.head`, a copy of the last checkpoint, to detect truncation. Default true. */
  headFile?: boolean
  clock?: Clock
}

export interface AppendResult {
  readonly seq: number
  readonly hash: string
}

interface Pending {
  line: string
  resolve: () => void
  reject: (err: unknown) => void
}

const RESERVED = new Set(['v', 'seq', 'ts', 'prev', 'hash', 'count', 'head', 'signer', 'sig'])

/**
 * An append-only, hash-chained, checkpoint-signed JSON Lines log of enforcement decisions.
 * Create with `openDecisionLog`.
 */
export class DecisionLog {
  readonly path: string
  /** Peer ID of the key that signs checkpoints. */
  readonly signer: string
  #handle: FileHandle | undefined
  #identity: KeyPair
  #clock: Clock
  #seq: number
  #head: string
  #signed: number
  #every: number
  #sync: LogSyncPolicy
  #headFile: boolean
  #pending: Pending[] = []
  #flushing: Promise<void> | undefined
  #failed: unknown
  #timer: NodeJS.Timeout | undefined
  #closed = false

  /** @internal use openDecisionLog */
  constructor(
    handle: FileHandle,
    options: Required<Omit<DecisionLogOptions, 'checkpointIntervalMs'>> & { checkpointIntervalMs: number },
    seq: number,
    head: string,
    signed: number
  ) {
    this.path = options.path
    this.#handle = handle
    this.#identity = options.identity
    this.signer = peerIdFromPublicKey(options.identity.publicKey).toString()
    this.#clock = options.clock
    this.#seq = seq
    this.#head = head
    this.#signed = signed
    this.#every = options.checkpointEvery
    this.#sync = options.sync
    this.#headFile = options.headFile
    if (options.checkpointIntervalMs > 0) {
      this.#timer = setInterval(() => {
        if (this.#seq > this.#signed && !this.#closed) this.checkpoint().catch(() => {})
      }, options.checkpointIntervalMs)
      this.#timer.unref()
    }
  }

  /** Number of entries in the log (checkpoints included). */
  get entries(): number {
    return this.#seq
  }

  /** Hash of the newest entry. */
  get headHash(): string {
    return this.#head
  }

  /**
   * Append one decision. Resolves once the entry is written (and synced, with `sync: 'always'`).
   * Rejects when the log is closed or a previous write failed (the log then fails closed).
   */
  append(record: DecisionRecord): Promise<AppendResult> {
    checkRecord(record)
    const result = this.#enqueue({ ...record })
    if (this.#seq - this.#signed >= this.#every) void this.checkpoint().catch(() => {})
    return result
  }

  /**
   * @internal Record that a torn tail was cut off when the log was opened, so the loss is itself
   * on the record (called by openDecisionLog).
   */
  async recordRecovery(torn: { bytes: number; sha256: string }): Promise<void> {
    await this.#enqueue(
      {
        kind: 'recovery',
        code: 'log-torn-tail',
        reason: `cut off a torn tail of ${torn.bytes} bytes left by a crash`,
        tornBytes: torn.bytes,
        tornSha256: torn.sha256
      },
      true
    )
  }

  /** Write a signed checkpoint now (a no-op when every entry is already signed). */
  async checkpoint(): Promise<void> {
    if (this.#seq === this.#signed || this.#closed) return
    const count = this.#seq
    const head = this.#head
    const sig = Buffer.from(sign(checkpointMessage(count, head), this.#identity.secretKey)).toString('base64')
    const r = await this.#enqueue({ kind: 'checkpoint', count, head, signer: this.signer, sig }, true)
    if (this.#headFile)
      await writeFileAtomic(`${this.path}.head`, `${JSON.stringify({ seq: r.seq, hash: r.hash, count, signer: this.signer })}\n`)
  }

  /** Write a final checkpoint and close the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.#timer !== undefined) clearInterval(this.#timer)
    try {
      if (this.#failed === undefined) await this.checkpoint()
      await this.#flushing
    } finally {
      this.#closed = true
      await this.#handle?.close().catch(() => {})
      this.#handle = undefined
    }
  }

  #enqueue(fields: Record<string, unknown>, forceSync = false): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new PeerguardError('aborted', 'the decision log is closed'))
    if (this.#failed !== undefined)
      return Promise.reject(new LogWriteError('the decision log failed earlier; refusing to continue', { cause: this.#failed }))
    const seq = this.#seq
    const { line, hash } = sealEntry({
      v: LOG_FORMAT_VERSION,
      seq,
      ts: new Date(this.#clock.now()).toISOString(),
      ...fields,
      prev: this.#head
    })
    // The verifier refuses longer lines; refuse them here, before the chain moves on.
    if (Buffer.byteLength(line) + 1 > MAX_LINE_BYTES) {
      throw new InvalidArgumentError(`record: ${Buffer.byteLength(line)} bytes as a log line, more than ${MAX_LINE_BYTES}`)
    }
    this.#seq++
    this.#head = hash
    if (fields.kind === 'checkpoint') this.#signed = this.#seq
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ line: `${line}\n`, resolve: () => resolve({ seq, hash }), reject })
      if (forceSync) this.#forceSync = true
      this.#kick()
    })
  }

  #forceSync = false

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
        if (this.#failed !== undefined) throw this.#failed
        const handle = this.#handle
        if (handle === undefined) throw new PeerguardError('aborted', 'the decision log is closed')
        await handle.write(batch.map((p) => p.line).join(''))
        if (doSync) await handle.datasync()
        for (const p of batch) p.resolve()
      } catch (err) {
        this.#failed ??= err
        const e = new LogWriteError(`${this.path}: ${(err as NodeJS.ErrnoException).code ?? 'write failed'}`, { cause: err })
        for (const p of batch) p.reject(e)
      }
    }
  }
}

function checkRecord(record: DecisionRecord): void {
  if (typeof record !== 'object' || record === null) throw new InvalidArgumentError('record: expected an object')
  if (!RECORD_KINDS.has(record.kind)) {
    throw new InvalidArgumentError(
      `record.kind: expected one of ${[...RECORD_KINDS].join(', ')}, got ${JSON.stringify((record as { kind?: unknown }).kind)}`
    )
  }
  assertString('record.code', record.code, { nonEmpty: true, maxLength: 128 })
  assertString('record.reason', record.reason, { maxLength: 4096 })
  for (const key of Object.keys(record)) {
    if (RESERVED.has(key)) throw new InvalidArgumentError(`record.${key}: reserved field name`)
  }
  if (record.kind === 'operation') {
    if (typeof record.allowed !== 'boolean') throw new InvalidArgumentError('record.allowed: expected boolean')
    assertString('record.action', record.action, { nonEmpty: true })
    assertString('record.verb', record.verb, { nonEmpty: true })
    assertString('record.resource', record.resource, { maxLength: 8192 })
  } else if (record.kind === 'connection') {
    if (record.event !== 'accepted' && record.event !== 'refused')
      throw new InvalidArgumentError(`record.event: expected 'accepted' or 'refused', got ${JSON.stringify(record.event)}`)
  } else if (record.kind === 'reload') {
    if (record.event !== 'applied' && record.event !== 'rejected')
      throw new InvalidArgumentError(`record.event: expected 'applied' or 'rejected', got ${JSON.stringify(record.event)}`)
    assertString('record.what', record.what, { nonEmpty: true, maxLength: 256 })
    if (record.policySha256 !== undefined && !/^[0-9a-f]{64}$/.test(record.policySha256))
      throw new InvalidArgumentError('record.policySha256: expected 64 lowercase hex digits')
  } else {
    assertString('record.address', record.address, { nonEmpty: true, maxLength: 256 })
    assertInteger('record.count', record.count, 1)
    if (typeof record.codes !== 'object' || record.codes === null) throw new InvalidArgumentError('record.codes: expected an object')
    assertString('record.since', record.since, { nonEmpty: true, maxLength: 64 })
    assertString('record.until', record.until, { nonEmpty: true, maxLength: 64 })
  }
}

const RECORD_KINDS = new Set<string>(['connection', 'operation', 'reload', 'refusal-summary'])

/**
 * Open (or create) a decision log for appending. An existing log is verified first against this
 * node's key: a log that does not verify is refused with `log-corrupt`; a torn tail left by a
 * crash is cut off and a `recovery` entry recording its length and SHA-256 is appended, so the
 * loss is itself on the record.
 */
export async function openDecisionLog(options: DecisionLogOptions): Promise<DecisionLog> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  assertString('path', options.path, { nonEmpty: true })
  if (typeof options.identity !== 'object' || options.identity === null)
    throw new InvalidArgumentError('identity: expected a key pair')
  assertBytes('identity.publicKey', options.identity.publicKey, 32)
  assertBytes('identity.secretKey', options.identity.secretKey, 64)
  const every = options.checkpointEvery ?? 64
  assertInteger('checkpointEvery', every, 1, 1_000_000)
  const interval = options.checkpointIntervalMs ?? 5000
  assertInteger('checkpointIntervalMs', interval, 0, 86_400_000)
  const sync = options.sync ?? 'always'
  if (sync !== 'always' && sync !== 'checkpoint')
    throw new InvalidArgumentError(`sync: expected 'always' or 'checkpoint', got ${JSON.stringify(sync)}`)

  const existing = await readFile(options.path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw new PeerguardError('io-error', `${options.path}: ${err.code ?? 'read failed'}`, { cause: err })
  })
  let seq = 0
  let head = '0'.repeat(64)
  let signed = 0
  let torn: { bytes: number; sha256: string } | undefined
  if (existing !== undefined && existing.length > 0) {
    const report = verifyDecisionLog(existing, { key: options.identity.publicKey })
    if (report.firstBad !== undefined) {
      throw new LogCorruptError(
        `${options.path}: ${report.firstBad.message}; refusing to append (run \`peerguard audit log verify\`)`,
        {
          details: { firstBad: report.firstBad }
        }
      )
    }
    seq = report.entries
    head = report.headHash
    signed = report.signedEntries
    if (report.tornTail !== undefined) {
      torn = { bytes: report.tornTail.bytes, sha256: sha256Hex(existing.subarray(report.validBytes)) }
      await truncate(options.path, report.validBytes)
    }
  }
  let handle: FileHandle
  try {
    handle = await open(options.path, 'a', 0o600)
  } catch (err) {
    throw new PeerguardError('io-error', `${options.path}: ${(err as NodeJS.ErrnoException).code ?? 'open failed'}`, {
      cause: err
    })
  }
  const log = new DecisionLog(
    handle,
    {
      path: options.path,
      identity: options.identity,
      checkpointEvery: every,
      checkpointIntervalMs: interval,
      sync,
      headFile: options.headFile ?? true,
      clock: options.clock ?? systemClock
    },
    seq,
    head,
    signed
  )
  if (torn !== undefined) await log.recordRecovery(torn)
  return log
}
