import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { type LogVerifyReport, verifyDecisionLogFile } from '@peerguard/audit'
import { peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'
import { parseCertificate, PEER_URI_PREFIX, pemDecodeAll } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { readLimited, wantsJson } from '../common.js'

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

function summary(file: string, r: LogVerifyReport): string {
  const signed = `${r.checkpoints} checkpoint${r.checkpoints === 1 ? '' : 's'}${r.signer === undefined ? '' : ` signed by ${r.signer}`}`
  if (r.firstBad !== undefined) {
    return `${file}: TAMPERED at line ${r.firstBad.line} (${r.firstBad.code}): ${r.firstBad.message.replace(/^line \d+: /, '')}\n  the ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} before it verify`
  }
  if (r.tornTail !== undefined) {
    return `${file}: TORN TAIL: ${r.tornTail.bytes} bytes at offset ${r.tornTail.offset} are a partial entry (a crash mid-write, or truncation)\n  the ${r.entries} whole entries before it verify; ${signed}`
  }
  return `${file}: OK: ${r.entries} entries, ${signed}${r.unsignedTail > 0 ? `, ${r.unsignedTail} after the last checkpoint` : ''}`
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
    .option('--head <file>', 'a saved head checkpoint (default: <file>.head when present) to detect truncation')
    .addHelpText(
      'after',
      `
Finds edited, deleted, reordered and inserted entries, a torn last entry, and (with the head file)
truncation. Exit codes: 0 the log verifies, 1 it does not (a finding), 3 it cannot be read.

Example:
  $ peerguard audit log verify decisions.jsonl --key MC6OD6J-JL7LUMF-2Q2VNCJ-KR6ACZD-6NSAKD2-CJ63WT7-X63BEVZ-H6CBQAT
  $ peerguard audit log verify decisions.jsonl --key alice.pem --json`
    )
    .action(async (file: string, opts: { key?: string; head?: string }, cmd: Command) => {
      const key = opts.key === undefined ? undefined : await keyFrom(opts.key)
      const head = opts.head === undefined ? undefined : (await readLimited(opts.head, 'head file')).toString('utf8')
      const report = await verifyDecisionLogFile(file, {
        ...(key === undefined ? {} : { key }),
        ...(head === undefined ? {} : { head })
      })
      if (wantsJson(cmd)) io.json({ file, ...report })
      else {
        io.out(summary(file, report))
        for (const w of report.warnings) io.err(`peerguard: warning: ${w}`)
      }
      if (!report.ok) io.setExitCode(1)
    })
}
