import type { LogRow, LogRows } from '@peerguard/decision-log'
import { InvalidArgumentError } from '@peerguard/interface'

/** The filters of `peerguard audit log show` (all must match). */
export interface RowFilter {
  /** Rows at or after this time (ms since the epoch). */
  since?: number
  peer?: string
  action?: string
  resource?: RegExp
  outcome?: 'ok' | 'denied' | 'failed'
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `--since`: a duration back from `now` (`30s`, `15m`, `12h`, `1d`, `2w`) or an ISO 8601 date/time. */
export function parseSince(value: string, now: number): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(value)
  if (m !== null) return now - Number(m[1]) * (UNITS[m[2] as string] as number)
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const t = Date.parse(value)
    if (Number.isFinite(t)) return t
  }
  throw new InvalidArgumentError(
    `--since: expected a duration (30s, 15m, 12h, 1d, 2w) or an ISO 8601 date or time, got ${JSON.stringify(value)}`
  )
}

/**
 * `--resource GLOB`: `*` matches within one path name, `**` across names, `?` one character. It
 * matches the whole resource (`share:office/docs/a.txt`) or the resource without its `share:`
 * prefix (`office/docs/**`).
 */
export function globToRegExp(glob: string): RegExp {
  if (glob === '' || glob.length > 1024) throw new InvalidArgumentError('--resource: expected a glob of 1 to 1024 characters')
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*'
      i++
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`, 's')
}

const OUTCOMES = new Set(['ok', 'denied', 'failed'])

export function checkOutcome(value: string): 'ok' | 'denied' | 'failed' {
  if (!OUTCOMES.has(value))
    throw new InvalidArgumentError(`--outcome: expected ok, denied or failed, got ${JSON.stringify(value)}`)
  return value as 'ok' | 'denied' | 'failed'
}

function resourceMatches(re: RegExp, resource: string | undefined): boolean {
  if (resource === undefined || resource === '') return false
  return re.test(resource) || (resource.startsWith('share:') && re.test(resource.slice('share:'.length)))
}

/** Whether a row passes every filter. An `allowed` row (no outcome entry) passes `--outcome ok`. */
export function rowMatches(row: LogRow, f: RowFilter): boolean {
  if (f.since !== undefined) {
    const t = Date.parse(row.ts)
    if (!Number.isFinite(t) || t < f.since) return false
  }
  if (f.peer !== undefined && row.peerName !== f.peer && row.peerId !== f.peer) return false
  if (f.action !== undefined && row.op !== f.action && row.verb !== f.action) return false
  if (f.resource !== undefined && !resourceMatches(f.resource, row.resource) && !resourceMatches(f.resource, row.to)) return false
  if (f.outcome !== undefined && row.outcome !== f.outcome && !(f.outcome === 'ok' && row.outcome === 'allowed')) return false
  return true
}

const COLUMNS = [
  'line',
  'ts',
  'peer',
  'op',
  'resource',
  'to',
  'outcome',
  'code',
  'bytes',
  'sha256',
  'policy',
  'integrity'
] as const

function cells(row: LogRow, short: boolean): string[] {
  const cut = (h: string | undefined): string => (h === undefined ? '' : short ? h.slice(0, 12) : h)
  return [
    String(row.line),
    row.ts,
    row.peerName ?? row.peerId ?? row.address ?? '',
    row.op,
    row.resource,
    row.to ?? '',
    row.outcome,
    row.code,
    row.bytes === undefined ? '' : String(row.bytes),
    cut(row.sha256),
    cut(row.policySha256),
    row.integrity === 'tampered' ? 'TAMPERED' : row.integrity
  ]
}

/** CSV (RFC 4180): a header, then one line per row; every hash in full. */
export function rowsToCsv(rows: readonly LogRow[]): string {
  const q = (v: string): string => (/[",\r\n]/.test(v) || /^[=+\-@]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
  return [COLUMNS.join(','), ...rows.map((r) => cells(r, false).map(q).join(','))].join('\r\n') + '\r\n'
}

/** A fixed-width table; hashes cut to 12 hex digits. Control characters from the log are escaped. */
export function rowsToTable(rows: readonly LogRow[]): string {
  const clean = (v: string): string =>
    v.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  const table = [COLUMNS.map((c) => c.toUpperCase()), ...rows.map((r) => cells(r, true).map(clean))]
  const widths = COLUMNS.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length)))
  return table
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()
    )
    .join('\n')
}

/** What the integrity of the shown rows is, for stderr (empty when everything verified). */
export function integrityNotes(file: string, { report }: LogRows): string[] {
  const notes: string[] = []
  if (report.firstBad !== undefined)
    notes.push(
      `${file}: TAMPERED from line ${report.firstBad.line} (${report.firstBad.code}): ${report.firstBad.message.replace(/^line \d+: /, '')}; rows marked TAMPERED are not evidence`
    )
  if (report.tornTail !== undefined)
    notes.push(`${file}: a torn last entry of ${report.tornTail.bytes} bytes is not shown (a crash mid-write, or truncation)`)
  if (report.firstBad === undefined && report.unsignedTail > 0)
    notes.push(`${file}: the last ${report.unsignedTail} entries are not signed by a checkpoint yet (rows marked unsigned)`)
  return notes
}
