import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import {
  type AuditProfile,
  captureLive,
  createPolicyChecks,
  createTrafficAuditor,
  type DecisionLogEntry,
  type Inventory,
  loadAuditProfile,
  loadDecisionLog,
  loadInventory,
  type PostCheck,
  type TrafficAuditOptions,
  type TrafficAuditReport,
  writeReport
} from '@peerguard/audit'
import { InvalidArgumentError, type Severity } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type { CliIO } from '../io.js'
import { wantsJson } from '../common.js'
import { registerAuditLogCommands } from './audit-log.js'

const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical']

/** Options shared by `audit read` and `audit capture`. */
interface ReportOptions {
  policy?: string
  inventory?: string
  profile?: string
  decisionLog?: string[]
  out?: string
  write?: boolean
  failOn: string
  budget?: string
}

/** A profile by file name, or by name from `audits/<name>.yaml` under the working directory. */
function resolveProfile(value: string | undefined): AuditProfile | undefined {
  if (value === undefined) return undefined
  const path = existsSync(value) ? value : join('audits', `${value}.yaml`)
  return loadAuditProfile(path)
}

function auditOptions(o: ReportOptions): { options: TrafficAuditOptions; profile?: AuditProfile } {
  if (!SEVERITIES.includes(o.failOn as Severity))
    throw new InvalidArgumentError(`--fail-on: expected one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(o.failOn)}`)
  const profile = resolveProfile(o.profile)
  const inventoryPath = o.inventory ?? profile?.inventory
  const policyPath = o.policy ?? profile?.policy
  const inventory: Inventory | undefined = inventoryPath === undefined ? undefined : loadInventory(inventoryPath)
  const policy = policyPath === undefined ? undefined : loadPolicy({ path: policyPath })
  const decisions: DecisionLogEntry[] | undefined =
    o.decisionLog === undefined ? undefined : o.decisionLog.flatMap((f) => loadDecisionLog(f))
  const postChecks: PostCheck[] =
    inventory === undefined && policy === undefined && decisions === undefined
      ? []
      : createPolicyChecks({
          ...(inventory === undefined ? {} : { inventory }),
          ...(policy === undefined ? {} : { policy }),
          ...(decisions === undefined ? {} : { decisions })
        })
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
    ...(profile === undefined ? {} : { profile })
  }
}

/** Print or emit the report, write it to disk, set exit code 1 for findings at or above --fail-on. */
async function finishReport(report: TrafficAuditReport, name: string, o: ReportOptions, io: CliIO, cmd: Command): Promise<void> {
  let written: { json: string; markdown: string } | undefined
  if (o.write !== false) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    written = await writeReport(report, o.out ?? join('audits', 'reports'), `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}`)
  }
  if (wantsJson(cmd)) io.json({ ...report, ...(written === undefined ? {} : { written }) })
  else {
    const s = report.summary
    io.out(`${s.packets} packets, ${s.flows.total} flows, ${s.hosts} hosts, ${s.findings.total} findings`)
    for (const f of report.findings) {
      const flow = f.flow === undefined ? '' : `  [${f.flow.src}:${f.flow.srcPort} → ${f.flow.dst}:${f.flow.dstPort}]`
      io.out(`${f.severity.padEnd(8)} ${f.code.padEnd(27)} ${f.title}${flow}`)
    }
    if (s.parseErrors.total > 0)
      io.err(
        `peerguard: warning: ${s.parseErrors.total} things could not be parsed and were skipped (see the report's parseErrors)`
      )
    if (s.truncated) io.err('peerguard: warning: the capture is truncated or damaged; records after the damage were not read')
    if (written !== undefined) io.out(`report: ${written.markdown} (JSON: ${written.json})`)
  }
  const threshold = SEVERITIES.indexOf(o.failOn as Severity)
  if (report.findings.some((f) => SEVERITIES.indexOf(f.severity) >= threshold)) io.setExitCode(1)
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
      'audit profile: a file, or a name from audits/<name>.yaml (detectors, severities, inventory)'
    )
    .option(
      '--decision-log <file...>',
      'decision logs (JSON lines) of hardened nodes: flag flows with no decision (unlogged-access)'
    )
    .option('--out <dir>', 'write the JSON and Markdown reports here (default: audits/reports)')
    .option('--no-write', 'do not write report files')
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
Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage, 3 unreadable input.

Example:
  $ peerguard audit read office.pcap --profile office --json > report.json`
    )
    .action(async (file: string, o: ReportOptions, cmd: Command) => {
      const { options } = auditOptions(o)
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
      await finishReport(auditor.finish(), basename(file).replace(/\.(pcapng|pcap|cap)$/i, ''), o, io, cmd)
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
        const { options } = auditOptions(o)
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
            ...(io.isTTY ? { onProgress: (n: number) => io.err(`peerguard: ${n} packets`) } : {})
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
          await finishReport(auditor.finish(), `live-${o.iface}`, o, io, cmd)
        } finally {
          process.removeListener('SIGINT', onSigint)
        }
      }
    )

  // decision log
  registerAuditLogCommands(audit, io)
}
