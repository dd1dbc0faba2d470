import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import {
  type AuditProfile,
  captureLive,
  createPolicyChecks,
  createTrafficAuditor,
  decisionToSyslog,
  findingToSyslog,
  type Inventory,
  type PostCheck,
  sendSyslog,
  syslogTargetFrom,
  type TrafficAuditOptions,
  type TrafficAuditReport,
  toEcsJsonLines,
  type VerifiedDecisionLog,
  writeReport
} from '@peerguard/audit'
import { InvalidArgumentError, PeerguardError, type Severity, writeFileAtomic } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type { CliIO } from '../io.js'
import { wantsJson } from '../common.js'
import { registerAuditLogCommands } from './audit-log.js'
import { decisionLogsOf, inventoryOf, resolveProfile } from './audit-options.js'
import { registerAuditReplay } from './audit-replay.js'

/** Reports go here unless --out says otherwise (created only when reports are written). */
const DEFAULT_OUT = join('audits', 'reports')

const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical']

/** Options shared by `audit read` and `audit capture`. */
interface ReportOptions {
  policy?: string
  inventory?: string
  profile?: string
  decisionLog?: string[]
  logKey?: string
  exportEcs?: string
  syslog?: string[]
  out?: string
  write?: boolean
  failOn: string
  budget?: string
}

async function auditOptions(
  o: ReportOptions
): Promise<{ options: TrafficAuditOptions; profile?: AuditProfile; logs?: VerifiedDecisionLog[] }> {
  if (!SEVERITIES.includes(o.failOn as Severity))
    throw new InvalidArgumentError(`--fail-on: expected one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(o.failOn)}`)
  const profile = resolveProfile(o.profile)
  const policyPath = o.policy ?? profile?.policy
  const inventory: Inventory | undefined = inventoryOf(o.inventory, profile)
  const policy = policyPath === undefined ? undefined : loadPolicy({ path: policyPath })
  const logs = await decisionLogsOf(o.decisionLog, o.logKey)
  const postChecks: PostCheck[] =
    inventory === undefined && policy === undefined && logs === undefined
      ? []
      : createPolicyChecks({
          ...(inventory === undefined ? {} : { inventory }),
          ...(policy === undefined ? {} : { policy }),
          ...(logs === undefined ? {} : { decisionLogs: logs })
        })
  // Check the export targets before reading a large capture.
  for (const t of o.syslog ?? []) syslogTargetFrom(t)
  let budget: number | undefined
  if (o.budget !== undefined) {
    budget = Number(o.budget)
    if (!Number.isInteger(budget) || budget < 1)
      throw new InvalidArgumentError(`--flow-budget: expected a positive number of bytes, got ${JSON.stringify(o.budget)}`)
  }
  const flowByteBudget = budget ?? profile?.flowByteBudget
  return {
    options: {
      postChecks,
      ...(profile?.detectors === undefined ? {} : { detectors: profile.detectors }),
      ...(profile === undefined ? {} : { severities: profile.severities }),
      ...(flowByteBudget === undefined ? {} : { flowByteBudget })
    },
    ...(profile === undefined ? {} : { profile }),
    ...(logs === undefined ? {} : { logs })
  }
}

/** `--export-ecs` and `--syslog`: findings, then decision-log entries, to the tools fleets run. */
async function exportReport(
  report: TrafficAuditReport,
  logs: VerifiedDecisionLog[] | undefined,
  o: ReportOptions,
  io: CliIO
): Promise<void> {
  const decisions = (logs ?? []).flatMap((l) => l.entries)
  if (o.exportEcs !== undefined) {
    try {
      await writeFileAtomic(o.exportEcs, toEcsJsonLines(report.findings, decisions))
    } catch (err) {
      throw new PeerguardError(
        'audit-export-failed',
        `${o.exportEcs}: cannot write the ECS export (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          cause: err
        }
      )
    }
    io.err(`peerguard: wrote ${report.findings.length + decisions.length} ECS documents to ${o.exportEcs}`)
  }
  for (const t of o.syslog ?? []) {
    const messages = [...report.findings.map((f) => findingToSyslog(f)), ...decisions.map((d) => decisionToSyslog(d))]
    await sendSyslog(syslogTargetFrom(t), messages)
    io.err(`peerguard: sent ${messages.length} syslog messages to ${t}`)
  }
}

/** Print or emit the report, write it to disk, set exit code 1 for findings at or above --fail-on. */
async function finishReport(
  report: TrafficAuditReport,
  name: string,
  o: ReportOptions,
  io: CliIO,
  cmd: Command,
  logs?: VerifiedDecisionLog[]
): Promise<void> {
  let written: { json: string; markdown: string; html: string } | undefined
  if (o.write !== false) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const dir = o.out ?? DEFAULT_OUT
    if (o.out === undefined && !existsSync(dir))
      io.err(`peerguard: creating ${dir}/ for the reports (choose another folder with --out, or --no-write)`)
    written = await writeReport(report, dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}`)
  }
  await exportReport(report, logs, o, io)
  if (wantsJson(cmd)) io.json({ ...report, ...(written === undefined ? {} : { written }) })
  else {
    const s = report.summary
    io.out(
      `${s.packets} packets, ${s.flows.total} flows, ${s.hosts} hosts, ${s.findings.total} findings in ${report.groups.length} groups`
    )
    io.out(report.overview.headline)
    for (const g of report.groups) {
      const pair = g.client === '' ? `${g.server}${g.port === 0 ? '' : `:${g.port}`}` : `${g.client} → ${g.server}:${g.port}`
      io.out(`${g.severity.padEnd(8)} ${g.code.padEnd(27)} ${g.count > 1 ? `×${g.count} ` : ''}${g.title}  [${pair}]`)
    }
    if (s.parseErrors.total > 0)
      io.err(
        `peerguard: warning: ${s.parseErrors.total} things could not be parsed and were skipped (see the report's parseErrors)`
      )
    if (written !== undefined) io.out(`report: ${written.html} (Markdown: ${written.markdown}, JSON: ${written.json})`)
  }
  const threshold = SEVERITIES.indexOf(o.failOn as Severity)
  if (report.summary.integrity !== 'ok') {
    // Never clean: a damaged capture exits 5 whatever was found in the part that could be read.
    io.err(
      `peerguard: error: the capture is ${report.summary.integrity} (${
        Object.keys(report.summary.parseErrors.kinds)
          .filter((k) => k.startsWith('capture') || k.startsWith('pcapng'))
          .join(', ') || 'damaged'
      }); the report covers only the records before the damage`
    )
    io.setExitCode(5)
  } else if (report.findings.some((f) => SEVERITIES.indexOf(f.severity) >= threshold)) io.setExitCode(1)
}

function reportOptions(cmd: Command): Command {
  return cmd
    .option(
      '--policy <file>',
      'peerguard policy: flag share traffic it does not allow (policy-violation, policy-requires-encryption)'
    )
    .option('--inventory <file>', 'peers and their addresses (YAML): flag hosts that are not enrolled (unknown-peer)')
    .option(
      '--profile <name|file>',
      'audit profile: a NAME (./audits/NAME.yaml, then the profiles shipped with peerguard) or a .yaml file'
    )
    .option(
      '--decision-log <file...>',
      'decision logs of hardened nodes, verified first: hardened flows are judged by their entries (unlogged-access, policy-violation)'
    )
    .option('--log-key <peer-id>', 'the key that must have signed the decision logs')
    .option('--out <dir>', `write the HTML, Markdown and JSON reports here (default: ${DEFAULT_OUT}, created if needed)`)
    .option('--no-write', 'do not write report files')
    .option('--export-ecs <file>', 'also write findings (and decision-log entries) as Elastic Common Schema JSON lines')
    .option('--syslog <url...>', 'also send them as RFC 5424 syslog: udp://host:port or tcp://host:port')
    .option('--fail-on <severity>', 'exit 1 when a finding is at least this severe (info, low, medium, high, critical)', 'low')
    .option('--flow-budget <bytes>', 'bytes of each flow direction handed to the protocol parsers')
    .option('--json', 'machine-readable output: the report { summary, hosts, flows, findings } on stdout')
}

/**
 * `peerguard audit …`: audit captured traffic (`read`, `capture`). The decision-log engineer adds
 * `audit log verify` below (see the marked place).
 */
export function registerAuditCommands(program: Command, io: CliIO): void {
  const audit = program
    .command('audit')
    .description('audit LAN traffic for insecure sharing (captures and live), and verify decision logs')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard audit read lan.pcapng --inventory audits/inventory.example.yaml --policy policies/office.yaml
  $ sudo peerguard audit capture --iface eth0 --filter 'not port 22' --duration 60 --save lan.pcap`
    )

  reportOptions(
    audit
      .command('read')
      .description('audit a pcap or pcapng capture file (streamed: any size in bounded memory)')
      .argument('<file>', 'the capture file (pcap or pcapng; the format is taken from its magic number)')
  )
    .addHelpText(
      'after',
      `
Exit codes: 0 no finding at or above --fail-on; 1 findings; 2 usage; 3 the input cannot be read
(missing, a directory, not a capture, a bad profile, inventory, policy or log; syslog unreachable);
4 internal error; 5 the capture is truncated or corrupt (the report covers what could be read).

Example:
  $ peerguard audit read office.pcap --profile office --json > report.json`
    )
    .action(async (file: string, o: ReportOptions, cmd: Command) => {
      const { options, logs } = await auditOptions(o)
      const auditor = createTrafficAuditor(options)
      // A progress bar on a terminal (stderr), nothing when output is piped or --json.
      const bar =
        io.isTTY && !wantsJson(cmd)
          ? new cliProgress.SingleBar(
              { stream: process.stderr, format: 'peerguard: reading [{bar}] {percentage}% {value}/{total} MB', hideCursor: true },
              cliProgress.Presets.shades_classic
            )
          : undefined
      let started = false
      try {
        await auditor.readFile(file, {
          ...(bar === undefined
            ? {}
            : {
                onProgress: (done: number, total: number) => {
                  if (!started) {
                    bar.start(Math.max(1, Math.round(total / 1e6)), 0)
                    started = true
                  }
                  bar.update(Math.round(done / 1e6))
                }
              })
        })
      } finally {
        if (started) bar?.stop()
      }
      await finishReport(auditor.finish(), basename(file).replace(/\.(pcapng|pcap|cap)$/i, ''), o, io, cmd, logs)
    })

  reportOptions(
    audit
      .command('capture')
      .description('capture live from an interface through libpcap, audit it, optionally save it')
      .requiredOption('--iface <name>', 'interface to capture on (lo, eth0, …)')
      .option('--filter <bpf>', 'BPF capture filter (tcpdump syntax)')
      .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
      .option('--save <file>', 'also write the capture to this pcap file')
      .option('--rotate-mb <n>', 'rotate the saved capture every N MB')
  )
    .addHelpText(
      'after',
      `
Needs libpcap and the optional \`pcap\` package, and root or CAP_NET_RAW. Prints libpcap's drop counters.

Example:
  $ sudo peerguard audit capture --iface eth0 --filter 'tcp port 445 or udp port 5353' --duration 300 --save smb.pcap --rotate-mb 100`
    )
    .action(
      async (
        o: ReportOptions & { iface: string; filter?: string; duration?: string; save?: string; rotateMb?: string },
        cmd: Command
      ) => {
        const { options, logs } = await auditOptions(o)
        const duration = o.duration === undefined ? undefined : Number(o.duration)
        if (duration !== undefined && !(duration > 0))
          throw new InvalidArgumentError(`--duration: expected a positive number of seconds, got ${JSON.stringify(o.duration)}`)
        const rotate = o.rotateMb === undefined ? undefined : Number(o.rotateMb)
        if (rotate !== undefined && !(Number.isInteger(rotate) && rotate >= 1))
          throw new InvalidArgumentError(`--rotate-mb: expected a positive integer, got ${JSON.stringify(o.rotateMb)}`)
        const auditor = createTrafficAuditor(options)
        const ac = new AbortController()
        const onSigint = (): void => ac.abort()
        process.once('SIGINT', onSigint)
        try {
          const r = await captureLive(auditor, {
            iface: o.iface,
            signal: ac.signal,
            ...(o.filter === undefined ? {} : { filter: o.filter }),
            ...(duration === undefined ? {} : { durationSeconds: duration }),
            ...(o.save === undefined ? {} : { save: o.save }),
            ...(rotate === undefined ? {} : { rotateBytes: rotate * 1_000_000 }),
            ...(io.isTTY ? { onProgress: (n: number) => io.err(`peerguard: ${n} packets`) } : {}),
            onReady: () => io.err(`peerguard: capturing on ${o.iface}`)
          })
          io.err(
            `peerguard: captured ${r.packets} packets; libpcap received ${r.stats.received}, dropped ${r.stats.dropped}, interface dropped ${r.stats.ifDropped}`
          )
          if (r.stats.payloadShed > 0) {
            io.err(
              `peerguard: warning: the auditor fell behind; ${r.stats.payloadShed} packets were inspected by their headers only`
            )
          }
          if (r.stats.dropped > 0 || r.stats.ifDropped > 0 || r.stats.userDropped > 0)
            io.err('peerguard: warning: packets were dropped; the audit may be incomplete (narrow --filter or raise the buffer)')
          if (r.savedFiles.length > 0) io.err(`peerguard: saved ${r.savedFiles.join(', ')}`)
          await finishReport(auditor.finish(), `live-${o.iface}`, o, io, cmd, logs)
        } finally {
          process.removeListener('SIGINT', onSigint)
        }
      }
    )

  registerAuditReplay(audit, io)

  // decision log
  registerAuditLogCommands(audit, io)
}
