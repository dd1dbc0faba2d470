import { readFile } from 'node:fs/promises'
import { peerIdFromPublicKey, peerIdFromString, verify as verifySignature } from '@peerguard/identity'
import { assertString, InvalidArgumentError, PeerguardError, type PeerguardCode } from '@peerguard/interface'
import { checkpointMessage, describeField, GENESIS_HASH, LOG_FORMAT_VERSION, MAX_LINE_BYTES, openEntry } from './entry.js'
import { parseHead } from './head.js'

export interface LogVerifyOptions {
  /**
   * The key that must have signed every checkpoint: a peer ID in text form or a 32-byte Ed25519
   * public key. Default: none — the first checkpoint's signer is trusted (a warning says so).
   */
  key?: string | Uint8Array
  /**
   * A signed head (the `<log>.head` file the writer keeps, or a copy kept elsewhere). Its signature
   * must verify, by the log's signer, and the log must contain the entry it names; a shorter log is
   * `log-truncated`. Default: none.
   */
  head?: string
  /**
   * Shipped checkpoints: text with one signed head per line (what `onCheckpoint` shipped to a file
   * or syslog; text before the first `{` of a line is ignored, blank lines are skipped). The log must
   * still contain every one of them. Default: none.
   */
  checkpoints?: string
}

/** The first thing wrong with a log: verification stops there. */
export interface LogProblem {
  readonly code: PeerguardCode
  /** 1-based line number of the first bad entry. */
  readonly line: number
  /** Byte offset where that line starts. */
  readonly offset: number
  readonly message: string
}

export interface LogVerifyReport {
  /** True when every whole entry verified, no torn tail and no truncation. */
  readonly ok: boolean
  /** Entries (checkpoints included) that verified, from the start of the file. */
  readonly entries: number
  /** Signed checkpoints that verified. */
  readonly checkpoints: number
  /** Entries covered by the last verified checkpoint's signature. */
  readonly signedEntries: number
  /** Verified entries after the last checkpoint: not yet signed, so their removal is undetectable. */
  readonly unsignedTail: number
  /** Peer ID that signed the checkpoints. */
  readonly signer?: string
  /** Hash of the last verified entry (GENESIS_HASH for an empty log). */
  readonly headHash: string
  /** The first bad entry, when any. */
  readonly firstBad?: LogProblem
  /** A partial last line (crash mid-write or truncation inside an entry). */
  readonly tornTail?: { readonly offset: number; readonly bytes: number }
  readonly warnings: readonly string[]
  /** Byte length of the verified prefix (where an appender continues). */
  readonly validBytes: number
  /** Byte length of the prefix the last verified checkpoint covers (0 without one). */
  readonly signedBytes: number
  /** Entries the head file (or the newest shipped checkpoint) vouches for, when one was given. */
  readonly headEntries?: number
  /** Shipped checkpoints checked against the log. */
  readonly shippedChecked: number
}

function expectedKey(key: string | Uint8Array | undefined): string | undefined {
  if (key === undefined) return undefined
  if (typeof key === 'string') return peerIdFromString(key).toString()
  if (key instanceof Uint8Array) return peerIdFromPublicKey(key).toString()
  throw new InvalidArgumentError(`key: expected peer ID string or Uint8Array, got ${typeof key}`)
}

/**
 * Verify a decision log given as bytes or text. Never throws for bad content: every problem is
 * reported with a stable code and the first bad entry. Throws InvalidArgumentError for a bad
 * `data` or `options`.
 */
export function verifyDecisionLog(data: Uint8Array | string, options: LogVerifyOptions = {}): LogVerifyReport {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new InvalidArgumentError(`data: expected Uint8Array or string, got ${data === null ? 'null' : typeof data}`)
  }
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (options.head !== undefined) assertString('head', options.head)
  if (options.checkpoints !== undefined) assertString('checkpoints', options.checkpoints)
  const pinned = expectedKey(options.key)
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const warnings: string[] = []
  let signer = pinned
  /** Set when every checkpoint so far is signed by one key that is not the pinned one. */
  let foreign: { signer: string; line: number; offset: number } | undefined
  let entries = 0
  let checkpoints = 0
  let signedEntries = 0
  let signedBytes = 0
  let head = GENESIS_HASH
  let offset = 0
  let firstBad: LogProblem | undefined
  let tornTail: { offset: number; bytes: number } | undefined
  const hashesBySeq: string[] = []
  const decoder = new TextDecoder('utf-8', { fatal: true })

  while (offset < bytes.length) {
    const nl = bytes.indexOf(0x0a, offset)
    if (nl === -1) {
      tornTail = { offset, bytes: bytes.length - offset }
      break
    }
    const lineNo = entries + 1
    const bad = (code: PeerguardCode, message: string): LogProblem => ({
      code,
      line: lineNo,
      offset,
      message: `line ${lineNo}: ${message}`
    })
    if (nl - offset > MAX_LINE_BYTES) {
      firstBad = bad('log-entry-malformed', `longer than ${MAX_LINE_BYTES} bytes`)
      break
    }
    let line: string
    try {
      line = decoder.decode(bytes.subarray(offset, nl))
    } catch {
      firstBad = bad('log-entry-malformed', 'not valid UTF-8')
      break
    }
    const opened = openEntry(line)
    if (!opened.ok) {
      firstBad = bad(opened.reason === 'malformed' ? 'log-entry-malformed' : 'log-entry-hash-mismatch', opened.message)
      break
    }
    const f = opened.fields
    if (f.v !== LOG_FORMAT_VERSION) {
      firstBad = bad('log-entry-malformed', `unsupported format version ${describeField(f.v)}`)
      break
    }
    if (f.seq !== entries) {
      firstBad = bad(
        'log-sequence-broken',
        `sequence number ${describeField(f.seq)}, expected ${entries} (an entry was deleted, inserted or moved)`
      )
      break
    }
    if (f.prev !== head) {
      firstBad = bad('log-chain-broken', `does not link to the entry before it (an entry was deleted, inserted, moved or edited)`)
      break
    }
    if (typeof f.kind !== 'string' || typeof f.ts !== 'string') {
      firstBad = bad('log-entry-malformed', 'missing "kind" or "ts"')
      break
    }
    if (f.kind === 'checkpoint') {
      let problem = checkCheckpoint(f, entries, head, signer)
      if (problem?.code === 'log-signer-mismatch' && checkpoints === 0 && pinned !== undefined) {
        // Signed by another key from the start: a wrong --key or another node's log, not an edit —
        // check the rest under that key and report a wrong signer if it all holds.
        foreign = { signer: peerIdFromString(f.signer as string).toString(), line: lineNo, offset }
        signer = foreign.signer
        problem = checkCheckpoint(f, entries, head, signer)
      }
      if (problem !== undefined) {
        firstBad = bad(problem.code, problem.message)
        break
      }
      if (signer === undefined) {
        signer = f.signer as string
        warnings.push(`checkpoints are signed by ${signer}, which was not pinned: pass --key to check the signer`)
      }
      checkpoints++
      signedEntries = entries + 1
      signedBytes = nl + 1
    }
    head = opened.hash
    hashesBySeq.push(head)
    entries++
    offset = nl + 1
  }

  let truncated: LogProblem | undefined
  let headEntries: number | undefined
  let shippedChecked = 0
  const against = (text: string, what: string): LogProblem | undefined => {
    const parsed = parseHead(text)
    if (parsed.ok && checkpoints === 0 && pinned !== undefined && foreign === undefined && parsed.head.signer !== pinned) {
      // no checkpoint yet: the head alone shows the log is another key's
      foreign = { signer: parsed.head.signer, line: entries + 1, offset }
      signer = foreign.signer
    }
    const r = checkHead(text, what, hashesBySeq, entries, offset, signer)
    if (r.problem === undefined) {
      headEntries = Math.max(headEntries ?? 0, r.entries as number)
      if (signer === undefined && r.signer !== undefined) {
        signer = r.signer
        warnings.push(`the ${what} is signed by ${signer}, which was not pinned: pass --key to check the signer`)
      }
    }
    return r.problem
  }
  if (firstBad === undefined && options.head !== undefined) truncated = against(options.head, 'head file')
  if (firstBad === undefined && truncated === undefined && options.checkpoints !== undefined) {
    const shipped = options.checkpoints.split('\n')
    // Anyone on the box can write to syslog under the tag: a line that is not a head signed by the
    // log's signer proves nothing about the log, so it is skipped (and counted), never reported in
    // place of what the genuine heads show.
    const ignored: number[] = []
    for (let i = 0; i < shipped.length && truncated === undefined; i++) {
      if ((shipped[i] as string).trim() === '') continue
      const parsed = parseHead(shipped[i] as string)
      // the signer is known from the log's own checkpoints; before the first one, a head by another
      // key than the pinned one goes to `against`, which reports the log as that key's (log-wrong-signer)
      const known = checkpoints > 0 || foreign !== undefined ? signer : undefined
      if (!parsed.ok || (known !== undefined && parsed.head.signer !== known)) {
        ignored.push(i + 1)
        continue
      }
      truncated = against(shipped[i] as string, `shipped checkpoint on line ${i + 1} of the checkpoints file`)
      if (truncated === undefined) shippedChecked++
    }
    if (ignored.length > 0)
      warnings.push(
        `${ignored.length} line${ignored.length === 1 ? '' : 's'} of the checkpoints file (first: line ${ignored[0]}) ${ignored.length === 1 ? 'is' : 'are'} not a head signed by ${signer ?? "the log's signer"} and ${ignored.length === 1 ? 'was' : 'were'} ignored (anyone on the machine can write to syslog)`
      )
  }
  if (firstBad === undefined && truncated === undefined && foreign !== undefined && pinned !== undefined) {
    truncated = {
      code: 'log-wrong-signer',
      line: foreign.line,
      offset: foreign.offset,
      message: `line ${foreign.line}: the log is signed by ${foreign.signer}, not by the expected ${pinned}; it verifies under that key (a wrong --key, or another node's log)`
    }
  }
  const unsignedTail = entries - signedEntries
  if (unsignedTail > 0 && firstBad === undefined) {
    warnings.push(`${unsignedTail} entr${unsignedTail === 1 ? 'y' : 'ies'} after the last checkpoint are not signed yet`)
  }
  if (entries > 0 && checkpoints === 0 && firstBad === undefined) warnings.push('the log has no signed checkpoint')
  const problem = firstBad ?? truncated
  return {
    ok: problem === undefined && tornTail === undefined,
    entries,
    checkpoints,
    signedEntries,
    unsignedTail,
    ...(signer === undefined ? {} : { signer }),
    headHash: head,
    ...(problem === undefined ? {} : { firstBad: problem }),
    ...(tornTail === undefined || firstBad !== undefined ? {} : { tornTail }),
    warnings,
    validBytes: offset,
    signedBytes,
    ...(headEntries === undefined ? {} : { headEntries }),
    shippedChecked
  }
}

function checkCheckpoint(
  f: Record<string, unknown>,
  count: number,
  head: string,
  signer: string | undefined
): { code: PeerguardCode; message: string } | undefined {
  if (f.count !== count || f.head !== head) {
    return {
      code: 'log-checkpoint-invalid',
      message: `checkpoint names count ${describeField(f.count)}, expected ${count}, or a wrong head hash`
    }
  }
  if (typeof f.signer !== 'string' || typeof f.sig !== 'string')
    return { code: 'log-checkpoint-invalid', message: 'checkpoint without signer or signature' }
  let publicKey: Uint8Array
  let text: string
  try {
    const id = peerIdFromString(f.signer)
    publicKey = id.publicKey
    text = id.toString()
  } catch {
    return { code: 'log-checkpoint-invalid', message: 'checkpoint signer is not a valid peer ID' }
  }
  if (signer !== undefined && text !== signer) {
    return { code: 'log-signer-mismatch', message: `checkpoint signed by ${text}, expected ${signer}` }
  }
  const sig = Buffer.from(f.sig, 'base64')
  if (sig.length !== 64 || !verifySignature(sig, checkpointMessage(count, head), publicKey)) {
    return { code: 'log-checkpoint-invalid', message: 'checkpoint signature does not verify (entries before it were changed)' }
  }
  return undefined
}

function checkHead(
  text: string,
  what: string,
  hashes: readonly string[],
  entries: number,
  offset: number,
  signer: string | undefined
): { problem?: LogProblem; entries?: number; signer?: string } {
  const at = (code: PeerguardCode, line: number, message: string): { problem: LogProblem } => ({
    problem: { code, line, offset, message }
  })
  const parsed = parseHead(text)
  if (!parsed.ok) return at(parsed.code, entries + 1, `the ${what} is not valid: ${parsed.message}`)
  const h = parsed.head
  if (signer !== undefined && h.signer !== signer) {
    return at('log-head-invalid', entries + 1, `the ${what} is signed by ${h.signer}, not by the log's signer ${signer}`)
  }
  if (h.entries > entries) {
    return at(
      'log-truncated',
      entries + 1,
      `the log ends after ${entries} entries but its ${what} vouches for ${h.entries}: entries were cut off`
    )
  }
  if (h.entries > 0 && hashes[h.entries - 1] !== h.hash) {
    return at('log-chain-broken', h.entries, `line ${h.entries}: differs from the entry the ${what} vouches for`)
  }
  return { entries: h.entries, signer: h.signer }
}

/**
 * Read and verify a decision-log file. When `<path>.head` exists and `options.head` is not given,
 * it is used as the saved head checkpoint. Throws `not-found`/`io-error` when the file cannot be read.
 */
export async function verifyDecisionLogFile(path: string, options: LogVerifyOptions = {}): Promise<LogVerifyReport> {
  assertString('path', path, { nonEmpty: true })
  let data: Buffer
  try {
    data = await readFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new PeerguardError(
      e.code === 'ENOENT' ? 'not-found' : 'io-error',
      `${path}: ${e.code === 'ENOENT' ? 'no such file' : (e.code ?? 'read failed')}`,
      { cause: err }
    )
  }
  let head = options.head
  if (head === undefined) head = await readFile(`${path}.head`, 'utf8').catch(() => undefined)
  const report = verifyDecisionLog(data, { ...options, ...(head === undefined ? {} : { head }) })
  if (head === undefined && report.entries > 0) {
    return {
      ...report,
      warnings: [...report.warnings, `no head file (${path}.head): entries cut off after the last checkpoint cannot be detected`]
    }
  }
  return report
}
