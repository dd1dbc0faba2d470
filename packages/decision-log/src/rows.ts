import { InvalidArgumentError } from '@peerguard/interface'
import { type LogVerifyOptions, type LogVerifyReport, verifyDecisionLog } from './verify.js'

/**
 * How far a row can be believed: `signed` (a verified checkpoint's signature covers it),
 * `unsigned` (the chain holds but no checkpoint signed it yet) or `tampered` (at or after the first
 * bad entry: what it says is not evidence).
 */
export type RowIntegrity = 'signed' | 'unsigned' | 'tampered'

/** One answer-shaped line of a decision log: who did what to which resource, and how it ended. */
export interface LogRow {
  /** 1-based line of the entry the row comes from (the outcome's line for a joined operation). */
  readonly line: number
  readonly seq: number | undefined
  readonly ts: string
  /** Entry kind: `operation`, `outcome`, `connection`, `node`, `reload`, `refusal-summary`, `recovery`, or `?`. */
  readonly kind: string
  /** Protocol operation (`write`, `mkdir`, `rename`, `read`, …) or event (`connect`, `node-start`, `reload`, …). */
  readonly op: string
  /** The policy verb of the deciding entry (`put`, `get`, …), when there is one. */
  readonly verb?: string
  /** `ok`, `denied`, `failed`, or `allowed` (an allowed decision with no outcome entry: an older log, or cut short). */
  readonly outcome: 'ok' | 'denied' | 'failed' | 'allowed'
  readonly code: string
  readonly reason: string
  readonly peerId?: string
  readonly peerName?: string
  readonly address?: string
  readonly resource: string
  readonly to?: string
  readonly bytes?: number
  readonly sha256?: string
  /** How long the operation or session ran (outcome entries that say), milliseconds. */
  readonly durationMs?: number
  readonly rule?: string
  /** SHA-256 of the policy in force (from the last node start or reload entry before the row). */
  readonly policySha256?: string
  readonly integrity: RowIntegrity
}

export interface LogRows {
  readonly report: LogVerifyReport
  readonly rows: LogRow[]
}

type Fields = Record<string, unknown>

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/**
 * Verify a decision log and turn its entries into rows, as `peerguard audit log show` prints them.
 * Each allowed operation is ONE row: its decision entries (written before acting) are joined into
 * the outcome entry written after it (by the outcome's `decisions`); so is an accepted connection
 * whose session outcome names it (a proxied connection). A denied operation is its
 * denying decision; one allowed, then refused when decided again (a reload overlapped an upload),
 * is its `failed` outcome, described by the denial. Every row carries its integrity: rows from the first bad entry on are
 * `tampered` (shown, never as fact); a torn last line is left out (the report says so).
 */
export function decisionLogRows(data: Uint8Array | string, options: LogVerifyOptions = {}): LogRows {
  if (typeof data !== 'string' && !(data instanceof Uint8Array))
    throw new InvalidArgumentError(`data: expected Uint8Array or string, got ${data === null ? 'null' : typeof data}`)
  const report = verifyDecisionLog(data, options)
  const text = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
  const lines = text.split('\n')
  lines.pop() // the text after the last newline: empty, or a torn tail (never shown)
  const trusted = report.firstBad === undefined ? report.entries : Math.min(report.entries, report.firstBad.line - 1)
  const parsed = lines.map((line, i): { f: Fields | undefined; integrity: RowIntegrity } => {
    const integrity: RowIntegrity = i < report.signedEntries ? 'signed' : i < trusted ? 'unsigned' : 'tampered'
    try {
      const f = JSON.parse(line) as unknown
      return { f: typeof f === 'object' && f !== null && !Array.isArray(f) ? (f as Fields) : undefined, integrity }
    } catch {
      return { f: undefined, integrity }
    }
  })
  // decision entries an outcome entry accounts for (the integrity of that outcome entry)
  const joined = new Map<number, RowIntegrity>()
  // decisions an `ok` outcome names: a denial among them is never hidden (only a failure is one row)
  const okJoined = new Set<number>()
  const bySeq = new Map<number, Fields>()
  for (const { f, integrity } of parsed) {
    if (f !== undefined && typeof f.seq === 'number' && !bySeq.has(f.seq)) bySeq.set(f.seq, f)
    if (f?.kind !== 'outcome' || !Array.isArray(f.decisions)) continue
    for (const seq of f.decisions) if (typeof seq === 'number') joined.set(seq, integrity)
    if (f.outcome === 'ok') for (const seq of f.decisions) if (typeof seq === 'number') okJoined.add(seq)
  }

  const rows: LogRow[] = []
  let policy: string | undefined
  parsed.forEach(({ f, integrity }, i) => {
    const line = i + 1
    if (f === undefined) {
      rows.push({
        line,
        seq: undefined,
        ts: '',
        kind: '?',
        op: '?',
        outcome: 'failed',
        code: 'log-entry-malformed',
        reason: 'not a JSON entry',
        resource: '',
        integrity
      })
      return
    }
    const kind = str(f.kind) ?? '?'
    if ((kind === 'node' || kind === 'reload') && /^[0-9a-f]{64}$/.test(str(f.policySha256) ?? ''))
      policy = f.policySha256 as string
    if (kind === 'checkpoint') return
    const seq = typeof f.seq === 'number' ? f.seq : undefined
    // a verified decision is never hidden behind a tampered outcome: then both rows are shown
    const by = seq === undefined ? undefined : joined.get(seq)
    // an operation's decisions (a denial too, when an allowed operation was decided again and refused)
    const decided =
      (kind === 'operation' && (f.allowed === true || seq === undefined || !okJoined.has(seq))) ||
      (kind === 'connection' && f.event === 'accepted')
    if (decided && by !== undefined && (by !== 'tampered' || integrity === 'tampered')) return
    const peer = (typeof f.peer === 'object' && f.peer !== null ? f.peer : {}) as Fields
    const base = {
      line,
      seq,
      ts: str(f.ts) ?? '',
      kind,
      code: str(f.code) ?? '',
      reason: str(f.reason) ?? '',
      ...(str(peer.peerId) === undefined ? {} : { peerId: peer.peerId as string }),
      ...(str(peer.name) === undefined ? {} : { peerName: peer.name as string }),
      ...(str(peer.address) === undefined ? {} : { address: peer.address as string }),
      ...(policy === undefined ? {} : { policySha256: policy }),
      integrity
    }
    rows.push({ ...base, ...describe(kind, f, bySeq) })
  })
  return { report, rows }
}

type Described = Pick<LogRow, 'op' | 'outcome' | 'resource'> &
  Partial<Pick<LogRow, 'verb' | 'to' | 'bytes' | 'sha256' | 'rule' | 'durationMs'>>

function describe(kind: string, f: Fields, bySeq: Map<number, Fields>): Described {
  const resource = str(f.resource) ?? ''
  const to = str(f.to)
  const ruleOf = (d: Fields | undefined): string | undefined => str((d?.rule as Fields | undefined)?.id)
  switch (kind) {
    case 'operation': {
      const rule = ruleOf(f)
      return {
        op: str(f.op) ?? str(f.verb) ?? '?',
        verb: str(f.verb) ?? '?',
        outcome: f.allowed === true ? 'allowed' : 'denied',
        resource,
        ...(to === undefined ? {} : { to }),
        ...(rule === undefined ? {} : { rule })
      }
    }
    case 'outcome': {
      const named = Array.isArray(f.decisions) ? f.decisions.map((s) => (typeof s === 'number' ? bySeq.get(s) : undefined)) : []
      // a failed operation refused by a later decision (decided again) is described by that denial
      const denial = f.outcome === 'ok' ? undefined : named.findLast((d) => d?.kind === 'operation' && d.allowed === false)
      const first = denial ?? named[0]
      const rule = ruleOf(first)
      return {
        op: str(f.op) ?? '?',
        ...(str(first?.verb) === undefined ? {} : { verb: first?.verb as string }),
        outcome: f.outcome === 'ok' ? 'ok' : 'failed',
        resource,
        ...(to === undefined ? {} : { to }),
        ...(typeof f.bytes === 'number' ? { bytes: f.bytes } : {}),
        ...(str(f.sha256) === undefined ? {} : { sha256: f.sha256 as string }),
        ...(typeof f.durationMs === 'number' ? { durationMs: f.durationMs } : {}),
        ...(rule === undefined ? {} : { rule })
      }
    }
    case 'connection':
      return { op: 'connect', outcome: f.event === 'accepted' ? 'ok' : 'denied', resource: str(f.mode) ?? '' }
    case 'refusal-summary':
      return { op: 'refused', outcome: 'denied', resource: `${typeof f.count === 'number' ? f.count : '?'} refusals` }
    case 'node':
      // a service that is not a string shows as `?`: join() would call into a foreign object
      return {
        op: `node-${str(f.event) ?? '?'}`,
        outcome: 'ok',
        resource: Array.isArray(f.services) ? f.services.map((s) => str(s) ?? '?').join(',') : ''
      }
    case 'reload':
      return { op: 'reload', outcome: f.event === 'applied' ? 'ok' : 'failed', resource: str(f.what) ?? '' }
    default:
      return { op: kind, outcome: str(f.code) === 'ok' ? 'ok' : 'failed', resource }
  }
}
