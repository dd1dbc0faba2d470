import { readFile, stat, truncate } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { peerIdFromPublicKey } from '@peerguard/identity'
import {
  assertBytes,
  assertInteger,
  assertString,
  InvalidArgumentError,
  PeerguardError,
  type PeerguardCode,
  systemClock,
  writeFileAtomic
} from '@peerguard/interface'
import { AppendFile, type LogFileHandle, openForAppend } from './append-file.js'
import { DecisionLog, type DecisionLogOptions } from './decision-log.js'
import { entryMacKey, entryMacValid, GENESIS_HASH, sha256Hex } from './entry.js'
import { LogCorruptError } from './errors.js'
import { formatHead, parseHead, signHead } from './head.js'
import { sweepLogTempFiles } from './sweep.js'
import { verifyDecisionLog } from './verify.js'

const HINT =
  'run `peerguard audit log verify FILE --key <this node>`; to start over, move the log and its .head aside (keep them as evidence)'

/**
 * Open (or create) a decision log for appending. Nothing is adopted silently:
 *
 * - leftover temporary files of the head file (a `kill -9` mid-replace) are removed;
 * - a new log gets a signed genesis head (`<log>.head`, 0 entries) before its first entry;
 * - an existing log must verify under this node's key AND contain the entry its signed head
 *   vouches for; entries after the last checkpoint must carry this node's entry MAC (a crash
 *   leaves such a tail; entries someone else appended do not have it);
 * - a torn last line (a crash mid-write) is cut off and a `recovery` entry records its length and
 *   SHA-256 — never reported as tampering.
 *
 * Anything else is refused with a LogCorruptError whose code names it: `log-head-missing`,
 * `log-head-invalid`, `log-truncated`, `log-tail-forged`, `log-wrong-signer`, or the verifier's
 * code for an edited entry (`log-entry-hash-mismatch`, `log-chain-broken`, …).
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
  if (options.onCheckpoint !== undefined && typeof options.onCheckpoint !== 'function')
    throw new InvalidArgumentError('onCheckpoint: expected a function')
  const path = options.path
  const me = peerIdFromPublicKey(options.identity.publicKey).toString()

  await assertFolder(path)
  const swept = await sweepLogTempFiles(path)
  const existing = await readOptional(path)
  const headText = await readOptional(`${path}.head`)
  const refuse = (o: { code: PeerguardCode; details?: Record<string, unknown> }, message: string): LogCorruptError =>
    new LogCorruptError(`${path}: ${message}; refusing to append (${o.code})`, {
      code: o.code,
      details: { ...o.details, hint: HINT }
    })

  let chain = { seq: 0, head: GENESIS_HASH, signed: 0 }
  let size = 0
  let torn: { bytes: number; sha256: string } | undefined
  if (existing === undefined || existing.length === 0) {
    if (headText !== undefined) {
      const parsed = parseHead(headText.toString('utf8'))
      if (!parsed.ok) throw refuse({ code: parsed.code }, `the head file is not valid: ${parsed.message}`)
      if (parsed.head.signer !== me)
        throw refuse({ code: 'log-wrong-signer' }, `the head file is signed by ${parsed.head.signer}, not by this node (${me})`)
      if (parsed.head.entries > 0) {
        throw refuse(
          { code: 'log-truncated' },
          `the log is ${existing === undefined ? 'missing' : 'empty'} but its signed head vouches for ${parsed.head.entries} entries`
        )
      }
    }
  } else {
    if (headText === undefined) {
      throw refuse({ code: 'log-head-missing' }, `the log holds entries but its signed head file (${path}.head) is missing`)
    }
    const report = verifyDecisionLog(existing, { key: options.identity.publicKey, head: headText.toString('utf8') })
    if (report.firstBad !== undefined) {
      throw refuse({ code: report.firstBad.code, details: { firstBad: report.firstBad } }, report.firstBad.message)
    }
    // Entries after the last checkpoint: ours (a crash before the next checkpoint) carry our MAC.
    const macKey = entryMacKey(options.identity.secretKey)
    const tail = existing.subarray(report.signedBytes, report.validBytes).toString('utf8').split('\n').slice(0, -1)
    const forged = tail.findIndex((line) => !entryMacValid(line, macKey))
    if (forged !== -1) {
      const first = report.signedEntries + forged + 1
      throw refuse(
        { code: 'log-tail-forged', details: { line: first, entries: tail.length - forged } },
        `line ${first}: ${tail.length - forged} entr${tail.length - forged === 1 ? 'y' : 'ies'} after the last signed checkpoint were not written by this node`
      )
    }
    chain = { seq: report.entries, head: report.headHash, signed: report.signedEntries }
    size = report.validBytes
    if (report.tornTail !== undefined) {
      torn = { bytes: report.tornTail.bytes, sha256: sha256Hex(existing.subarray(report.validBytes)) }
      await truncate(path, report.validBytes)
    }
  }

  if ((existing === undefined || existing.length === 0) && headText === undefined) {
    // A new log: its signed genesis head comes first, so a log without a head is never ours.
    try {
      await writeFileAtomic(`${path}.head`, formatHead(signHead(0, GENESIS_HASH, options.identity, me)))
    } catch (err) {
      throw new PeerguardError('log-unavailable', `${path}.head: cannot write the signed head of a new log`, { cause: err })
    }
  }
  let handle: LogFileHandle
  try {
    handle = await (options.openFile ?? openForAppend)(path)
  } catch (err) {
    throw new PeerguardError('io-error', `${path}: ${(err as NodeJS.ErrnoException).code ?? 'open failed'}`, { cause: err })
  }
  const log = new DecisionLog(
    { ...options, checkpointEvery: every, checkpointIntervalMs: interval, sync, clock: options.clock ?? systemClock },
    { file: new AppendFile(handle, size, path), chain }
  )
  for (const p of swept) log.notes.push(`removed ${p}, a temporary head file left by a killed writer`)
  if (torn !== undefined) {
    log.notes.push(`cut off a torn last entry of ${torn.bytes} bytes (a crash or a failed write) and recorded it`)
    try {
      await log.recordRecovery({
        code: 'log-torn-tail',
        reason: `cut off a torn tail of ${torn.bytes} bytes left by a crash or a failed write`,
        tornBytes: torn.bytes,
        tornSha256: torn.sha256
      })
    } catch (err) {
      await log.close() // the caller never gets the log: its descriptor and timer go with the refusal
      throw err
    }
  }
  return log
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') return undefined
    throw new PeerguardError('io-error', `${path}: ${e.code ?? 'read failed'}`, { cause: err })
  }
}

/** The log's folder must exist: a typed `log-folder-missing`, never a bare ENOENT from deeper down. */
async function assertFolder(path: string): Promise<void> {
  const dir = dirname(resolve(path))
  let isDir: boolean
  try {
    isDir = (await stat(dir)).isDirectory()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR')
      throw new PeerguardError('io-error', `${dir}: ${e.code ?? 'stat failed'}`, { cause: err })
    isDir = false
  }
  if (!isDir)
    throw new PeerguardError(
      'log-folder-missing',
      `${path}: the folder ${dir} does not exist; create it or choose another log path`,
      {
        details: { folder: dir, hint: `mkdir -p ${dir}` }
      }
    )
}
