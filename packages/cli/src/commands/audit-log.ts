import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import {
  checkpointTargetFrom,
  createCheckpointShipper,
  type DecisionLog,
  decisionLogRows,
  type LogVerifyReport,
  openDecisionLog,
  verifyDecisionLogFile
} from '@peerguard/decision-log'
import { type KeyPair, peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'
import { parseCertificate, PEER_URI_PREFIX, pemDecodeAll } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { readLimited, wantsJson } from '../common.js'
import {
  checkOutcome,
  globToRegExp,
  integrityNotes,
  parseSince,
  type RowFilter,
  rowMatches,
  rowsToCsv,
  rowsToTable
} from './audit-log-show.js'

/** `--key`: a peer ID, or a certificate file (PEM or DER) whose SAN names the peer. */
async function keyFrom(value: string): Promise<string> {
  if (existsSync(value)) {
    const bytes = new Uint8Array(await readLimited(value, 'certificate'))
    let der: Uint8Array
    try {
      der = bytes[0] === 0x30 ? bytes : (pemDecodeAll(Buffer.from(bytes).toString('latin1'), 'CERTIFICATE')[0] as Uint8Array)
    } catch (err) {
      throw new InvalidArgumentError(`--key ${value}: not a certificate (${(err as Error).message})`, { cause: err })
    }
    const uri = parseCertificate(der).uris.find((u) => u.startsWith(PEER_URI_PREFIX))
    if (uri === undefined) throw new InvalidArgumentError(`--key ${value}: the certificate names no peerguard peer ID`)
    return peerIdFromString(uri.slice(PEER_URI_PREFIX.length)).toString()
  }
  try {
    return peerIdFromString(value).toString()
  } catch (err) {
    throw new InvalidArgumentError(`--key: ${JSON.stringify(value)} is neither a peer ID nor a certificate file`, {
      cause: err,
      details: { hint: "pass the node's peer ID (peerguard id show) or its certificate" }
    })
  }
}

/** `--log-ship TARGET` on every command that writes a decision log. */
export const LOG_SHIP_HELP =
  'also send every signed log checkpoint off this disk: `syslog` (via logger(1)) or a FILE to append to (another disk); check later with `audit log verify --checkpoints`'

/**
 * Open the decision log of a long-running command: signed head, fault-tolerant appends, and with
 * `--log-ship` every checkpoint shipped to syslog or a file on another disk. What opening found
 * (a torn tail cut off, temp files swept) and later shipping/head-file failures go to stderr.
 */
export async function openNodeLog(path: string, identity: KeyPair, opts: { logShip?: string }, io: CliIO): Promise<DecisionLog> {
  const ship = opts.logShip === undefined ? undefined : createCheckpointShipper(checkpointTargetFrom(opts.logShip))
  let lastWarning = 0
  const log = await openDecisionLog({
    path,
    identity,
    ...(ship === undefined ? {} : { onCheckpoint: ship }),
    onError: (err) => {
      // at most one line a minute: a full disk must not flood stderr either
      if (Date.now() - lastWarning < 60_000) return
      lastWarning = Date.now()
      io.err(`peerguard: warning: decision log: ${(err as Error).message}`)
    }
  })
  for (const note of log.notes) io.err(`peerguard: warning: decision log: ${note}`)
  return log
}

function summary(file: string, r: LogVerifyReport): string {
  const signed = `${r.checkpoints} checkpoint${r.checkpoints === 1 ? '' : 's'}${r.signer === undefined ? '' : ` signed by ${r.signer}`}`
  if (r.firstBad?.code === 'log-wrong-signer') {
    return `${file}: WRONG SIGNER: ${r.firstBad.message.replace(/^line \d+: /, '')}\n  not a sign of tampering: check --key`
  }
  if (r.firstBad !== undefined) {
    return `${file}: TAMPERED at line ${r.firstBad.line} (${r.firstBad.code}): ${r.firstBad.message.replace(/^line \d+: /, '')}\n  the ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} before it verify`
  }
  if (r.tornTail !== undefined) {
    return `${file}: TORN TAIL: ${r.tornTail.bytes} bytes at offset ${r.tornTail.offset} are a partial entry (a crash mid-write, or truncation)\n  the ${r.entries} whole entries before it verify; ${signed}`
  }
  const shipped = r.shippedChecked > 0 ? `, all ${r.shippedChecked} shipped checkpoints present` : ''
  return `${file}: OK: ${r.entries} entries, ${signed}${r.unsignedTail > 0 ? `, ${r.unsignedTail} after the last checkpoint` : ''}${shipped}`
}

/** `peerguard audit log verify FILE [--key PEER_ID_OR_CERT] [--head FILE]`. */
export function registerAuditLogCommands(audit: Command, io: CliIO): void {
  const log = audit.command('log').description('the tamper-evident decision log of a hardened node')
  log.addHelpText('after', '\nExample:\n  $ peerguard audit log verify decisions.jsonl --key alice.pem')
  log
    .command('verify')
    .description('check the hash chain and the signed checkpoints; name the first bad entry')
    .argument('<file>', 'decision log (JSON Lines)')
    .option('--key <peerIdOrCert>', 'the node that must have signed the checkpoints: its peer ID or certificate')
    .option('--head <file>', 'a signed head (default: <file>.head when present) to detect truncation')
    .option(
      '--checkpoints <file>',
      'shipped checkpoints (a --log-ship file, or `journalctl -t peerguard-log -o cat` output): the log must hold every one'
    )
    .option('--json', 'machine-readable output: the verification report as JSON on stdout')
    .addHelpText(
      'after',
      `
Finds edited, deleted, reordered and inserted entries, a torn last entry, and (with the signed head
file or shipped checkpoints) truncation and roll-back. A log signed throughout by another key than
--key is reported as WRONG SIGNER (log-wrong-signer), not as tampering.
Exit codes: 0 the log verifies, 1 it does not (a finding), 3 it cannot be read.

Example:
  $ peerguard audit log verify decisions.jsonl --key MC6OD6J-JL7LUMF-2Q2VNCJ-KR6ACZD-6NSAKD2-CJ63WT7-X63BEVZ-H6CBQAT
  $ peerguard audit log verify decisions.jsonl --key alice.pem --checkpoints /mnt/backup/decisions.checkpoints
  $ journalctl -t peerguard-log -o cat > shipped.txt && peerguard audit log verify decisions.jsonl --key alice.pem --checkpoints shipped.txt`
    )
    .action(async (file: string, opts: { key?: string; head?: string; checkpoints?: string }, cmd: Command) => {
      const key = opts.key === undefined ? undefined : await keyFrom(opts.key)
      const head = opts.head === undefined ? undefined : (await readLimited(opts.head, 'head file')).toString('utf8')
      const checkpoints =
        opts.checkpoints === undefined
          ? undefined
          : (await readLimited(opts.checkpoints, 'checkpoints file', 256 * 1024 * 1024)).toString('utf8')
      const report = await verifyDecisionLogFile(file, {
        ...(key === undefined ? {} : { key }),
        ...(head === undefined ? {} : { head }),
        ...(checkpoints === undefined ? {} : { checkpoints })
      })
      if (wantsJson(cmd)) io.json({ file, ...report })
      else {
        io.out(summary(file, report))
        for (const w of report.warnings) io.err(`peerguard: warning: ${w}`)
      }
      if (!report.ok) io.setExitCode(1)
    })
  registerShow(log, io)
}

interface ShowOptions {
  key?: string
  head?: string
  since?: string
  peer?: string
  action?: string
  resource?: string
  outcome?: string
  format?: string
}

/** `peerguard audit log show FILE [filters] [--format table|csv|json]`. */
function registerShow(log: Command, io: CliIO): void {
  log
    .command('show')
    .description('print the log as rows (who did what, how it ended), verifying the chain as it reads')
    .argument('<file>', 'decision log (JSON Lines)')
    .option('--since <when>', 'rows from then on: a duration back (30s, 15m, 12h, 1d, 2w) or an ISO 8601 date/time')
    .option('--peer <nameOrId>', 'rows of one peer: its name or peer ID')
    .option(
      '--action <op>',
      'rows of one operation (write, read, mkdir, rename, delete, list, stat, connect, node-start, reload, …) or policy verb (put, get)'
    )
    .option(
      '--resource <glob>',
      'rows whose resource or rename destination matches (* within a name, ** across names), e.g. office/docs/**'
    )
    .option('--outcome <outcome>', 'ok, denied or failed')
    .option('--format <format>', 'table (default), csv or json', 'table')
    .option('--json', 'the same as --format json')
    .option('--key <peerIdOrCert>', 'the node that must have signed the checkpoints: its peer ID or certificate')
    .option('--head <file>', 'a signed head (default: <file>.head when present) to detect truncation')
    .addHelpText(
      'after',
      `
One row per operation: an allowed operation's decision entries (written before it ran) are joined
with its outcome entry (written after): ok or failed with the code, bytes and SHA-256 written, both
paths of a rename. A denied operation is its denying decision. POLICY is the policy hash in force
(from the last node start or reload entry). INTEGRITY says what the row is worth: signed (covered by
a checkpoint signature), unsigned (chained, after the last checkpoint), TAMPERED (at or after the
first bad entry: shown, not evidence). Exit codes: 0 the log verifies, 1 it does not, 3 it cannot be read.

Example:
  $ peerguard audit log show decisions.jsonl --since 1d --action write --resource 'office/docs/**'
  $ peerguard audit log show decisions.jsonl --peer bob --outcome denied --format csv > denied.csv`
    )
    .action(async (file: string, opts: ShowOptions, cmd: Command) => {
      const format = wantsJson(cmd) ? 'json' : opts.format
      if (format !== 'table' && format !== 'csv' && format !== 'json')
        throw new InvalidArgumentError(`--format: expected table, csv or json, got ${JSON.stringify(format)}`)
      const filter: RowFilter = {
        ...(opts.since === undefined ? {} : { since: parseSince(opts.since, Date.now()) }),
        ...(opts.peer === undefined ? {} : { peer: opts.peer }),
        ...(opts.action === undefined ? {} : { action: opts.action }),
        ...(opts.resource === undefined ? {} : { resource: globToRegExp(opts.resource) }),
        ...(opts.outcome === undefined ? {} : { outcome: checkOutcome(opts.outcome) })
      }
      const key = opts.key === undefined ? undefined : await keyFrom(opts.key)
      const data = await readLimited(file, 'decision log', 1024 * 1024 * 1024)
      let head = opts.head === undefined ? undefined : (await readLimited(opts.head, 'head file')).toString('utf8')
      if (head === undefined && existsSync(`${file}.head`))
        head = (await readLimited(`${file}.head`, 'head file')).toString('utf8')
      const shown = decisionLogRows(data, { ...(key === undefined ? {} : { key }), ...(head === undefined ? {} : { head }) })
      // --since: from the first row at or after that time on, in log order (the chain proves the
      // order; a clock set back must not hide the rows written after it)
      const { since, ...rest } = filter
      const from = since === undefined ? 0 : shown.rows.findIndex((r) => rowMatches(r, { since }))
      const rows = (from === -1 ? [] : shown.rows.slice(from)).filter((r) => rowMatches(r, rest))
      const r = shown.report
      if (format === 'json')
        io.json({
          file,
          ok: r.ok,
          ...(r.firstBad === undefined ? {} : { firstBad: r.firstBad }),
          ...(r.tornTail === undefined ? {} : { tornTail: r.tornTail }),
          warnings: r.warnings,
          rows
        })
      else io.out(format === 'csv' ? rowsToCsv(rows).trimEnd() : rowsToTable(rows))
      for (const note of integrityNotes(file, shown)) io.err(`peerguard: warning: ${note}`)
      if (format !== 'json') for (const w of r.warnings) io.err(`peerguard: warning: ${w}`)
      if (!r.ok) io.setExitCode(1)
    })
}
