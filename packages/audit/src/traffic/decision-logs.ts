import { readFile } from 'node:fs/promises'
import { assertString, InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { type LogPeer, type LogVerifyOptions, type LogVerifyReport, verifyDecisionLog } from '@peerguard/decision-log'
import { openEntry } from '@peerguard/decision-log/format'

/**
 * One verified decision-log entry, as the auditor uses it: the record the node wrote
 * (`connection`, `operation`, `refusal-summary`), with its time and where it is in the log.
 */
export interface DecisionLogEntry {
  /** Milliseconds since the epoch (the entry's `ts`). */
  readonly time: number
  readonly kind: string
  /** `allow`, a decision code (`deny-rule`…) or a refusal code. */
  readonly code: string
  readonly peer?: LogPeer
  /** Operation entries: the node's decision, the verb and the resource (`share:docs/a.txt`). */
  readonly allowed?: boolean
  readonly verb?: string
  readonly resource?: string
  readonly rule?: string
  /** Connection entries: `accepted` or `refused`. */
  readonly event?: string
  /** The log file and 1-based line. */
  readonly file: string
  readonly line: number
}

/** A decision log read through the log's own verifier. */
export interface VerifiedDecisionLog {
  readonly file: string
  /** The verifier's report: `ok`, the first bad entry, a torn tail, warnings. */
  readonly verify: LogVerifyReport
  /** Entries of the verified prefix only (nothing after the first bad entry is used). */
  readonly entries: readonly DecisionLogEntry[]
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function peerOf(v: unknown): LogPeer | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const p = v as Record<string, unknown>
  const groups = Array.isArray(p.groups) ? p.groups.filter((g): g is string => typeof g === 'string') : undefined
  return {
    ...(str(p.peerId) === undefined ? {} : { peerId: p.peerId as string }),
    ...(str(p.name) === undefined ? {} : { name: p.name as string }),
    ...(groups === undefined ? {} : { groups }),
    ...(str(p.address) === undefined ? {} : { address: p.address as string })
  }
}

/**
 * Verify decision-log bytes with `verifyDecisionLog` and return the entries of the verified
 * prefix (the log's own entry format, `openEntry`; checkpoints and recovery records left out).
 * A log that does not verify still gives the entries before the damage, and its report says why.
 */
export function decisionLogFromBytes(data: Uint8Array, file: string, options: LogVerifyOptions = {}): VerifiedDecisionLog {
  const verify = verifyDecisionLog(data, options)
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8', 0, verify.validBytes)
  const entries: DecisionLogEntry[] = []
  let line = 0
  for (const raw of text.split('\n')) {
    line++
    if (raw === '') continue
    const opened = openEntry(raw)
    // The verifier accepted every line of the prefix; this cannot fail, but never trust blindly.
    if (!opened.ok) break
    const f = opened.fields
    const kind = str(f.kind)
    if (kind === undefined || kind === 'checkpoint' || kind === 'recovery') continue
    const time = Date.parse(str(f.ts) ?? '')
    if (!Number.isFinite(time)) continue
    const peer = peerOf(f.peer)
    const rule = f.rule !== null && typeof f.rule === 'object' ? str((f.rule as { id?: unknown }).id) : undefined
    entries.push({
      time,
      kind,
      code: str(f.code) ?? '',
      ...(peer === undefined ? {} : { peer }),
      ...(typeof f.allowed === 'boolean' ? { allowed: f.allowed } : {}),
      ...(str(f.verb) === undefined ? {} : { verb: f.verb as string }),
      ...(str(f.resource) === undefined ? {} : { resource: f.resource as string }),
      ...(rule === undefined ? {} : { rule }),
      ...(str(f.event) === undefined ? {} : { event: f.event as string }),
      file,
      line
    })
  }
  return { file, verify, entries }
}

/**
 * Read and verify a decision-log file (with `<path>.head` when it exists, as
 * `verifyDecisionLogFile` does). Throws `not-found` / `io-error` when it cannot be read.
 */
export async function readDecisionLog(
  path: string,
  options: Pick<LogVerifyOptions, 'key' | 'checkpoints'> = {}
): Promise<VerifiedDecisionLog> {
  assertString('path', path, { nonEmpty: true })
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  let data: Buffer
  try {
    data = await readFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new PeerguardError(
      e.code === 'ENOENT' ? 'not-found' : 'io-error',
      `${path}: ${e.code === 'ENOENT' ? 'no such decision log' : e.code === 'EISDIR' ? 'is a directory, expected a decision log' : `cannot read the decision log (${e.code ?? 'error'})`}`,
      { cause: err }
    )
  }
  const head = await readFile(`${path}.head`, 'utf8').catch(() => undefined)
  return decisionLogFromBytes(data, path, { ...options, ...(head === undefined ? {} : { head }) })
}

/** `host` and `port` of a logged address (`10.0.0.5:51000`, `[fe80::1]:51000`, or a bare host). */
export function splitAddress(address: string): { host: string; port: number | undefined } {
  const a = address.trim().toLowerCase()
  if (a.startsWith('[')) {
    const end = a.indexOf(']')
    const port = Number(a.slice(end + 2))
    return { host: a.slice(1, end), port: end > 0 && a[end + 1] === ':' && Number.isInteger(port) ? port : undefined }
  }
  // IPv4-mapped IPv6 as Node reports it, with or without a port (`::ffff:10.0.0.5:51000`).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(a)
  if (mapped !== null) return { host: mapped[1] as string, port: mapped[2] === undefined ? undefined : Number(mapped[2]) }
  const colons = a.split(':').length - 1
  if (colons === 1) {
    const [host, p] = a.split(':')
    const port = Number(p)
    return { host: host as string, port: Number.isInteger(port) ? port : undefined }
  }
  return { host: a, port: undefined }
}
