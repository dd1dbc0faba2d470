/** `peerguard audit replay`: what a proposed policy would change, judged on observed traffic and decision logs. */
import { type ClassifiedFlow, createTrafficAuditor, type ReplayOperation, replayPolicy } from '@peerguard/audit'
import { loadPolicy } from '@peerguard/policy'
import type { Command } from 'commander'
import { wantsJson } from '../common.js'
import type { CliIO } from '../io.js'
import { decisionLogsOf, inventoryOf, resolveProfile } from './audit-options.js'

interface ReplayCliOptions {
  policy: string
  current?: string
  inventory?: string
  profile?: string
  decisionLog?: string[]
  logKey?: string
}

function line(o: ReplayOperation): string {
  const who = o.peer.name ?? o.peer.peerId ?? o.peer.address
  const rule = o.after.rule === undefined ? o.after.code : `${o.after.code} (rule ${o.after.rule})`
  return `  ${who.padEnd(24)} ${o.verb.padEnd(7)} ${o.resource}  ×${o.count}  [${o.source}; was ${o.before.code}; now ${rule}]`
}

export function registerAuditReplay(audit: Command, io: CliIO): void {
  audit
    .command('replay')
    .description('what a proposed policy would change: observed operations now denied or newly allowed, by whom')
    .argument('<capture>', 'a capture of the LAN (pcap or pcapng)')
    .requiredOption('--policy <file>', 'the proposed policy')
    .option('--current <file>', 'the policy in force (judges operations seen in clear traffic; default: the profile policy)')
    .option('--inventory <file>', 'peers and their addresses: who a client address is')
    .option('--profile <name|file>', 'audit profile (its inventory and policy are the defaults)')
    .option('--decision-log <file...>', 'decision logs of the hardened nodes (verified first)')
    .option('--log-key <peer-id>', 'the key that must have signed the decision logs')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Operations of hardened flows come from their decision logs (with the node's decision at the time);
operations of plain flows are decoded from the capture (plain share, SMB, FTP, HTTP/WebDAV) and
judged by --current (without it they count as allowed: they happened). Nothing is sent anywhere.

Exit codes: 0 nothing changes, 1 some observed operation would be decided differently,
2 usage, 3 unreadable input, 5 damaged capture (the answer covers what could be read).

Example:
  $ peerguard audit replay office.pcap --policy proposed.yaml --current policies/office.yaml \\
      --inventory audits/inventory.example.yaml --decision-log fileserver.jsonl`
    )
    .action(async (capture: string, o: ReplayCliOptions, cmd: Command) => {
      const profile = resolveProfile(o.profile)
      const proposed = loadPolicy({ path: o.policy })
      const currentPath = o.current ?? profile?.policy
      const current = currentPath === undefined ? undefined : loadPolicy({ path: currentPath })
      const inventory = inventoryOf(o.inventory, profile)
      const logs = (await decisionLogsOf(o.decisionLog, o.logKey)) ?? []
      let flows: ClassifiedFlow[] = []
      const auditor = createTrafficAuditor({
        detectors: [],
        postChecks: [
          (e) => {
            flows = e.classified
          }
        ]
      })
      await auditor.readFile(capture)
      const report = auditor.finish()
      const result = replayPolicy({
        proposed,
        ...(current === undefined ? {} : { current }),
        ...(inventory === undefined ? {} : { inventory }),
        flows,
        entries: logs.flatMap((l) => l.entries)
      })
      const unverified = logs.filter((l) => !l.verify.ok)
      if (wantsJson(cmd)) {
        io.json({
          ...result,
          capture: { file: capture, integrity: report.summary.integrity, packets: report.summary.packets },
          decisionLogs: logs.map((l) => ({
            file: l.file,
            ok: l.verify.ok,
            entries: l.entries.length,
            problem: l.verify.firstBad?.code ?? null
          }))
        })
      } else {
        io.out(
          `${result.operations} observed operations: ${result.newlyDenied.length} would now be denied, ${result.newlyAllowed.length} newly allowed, ${result.unchanged} unchanged${result.unjudged > 0 ? `, ${result.unjudged} not judged (client not in the inventory or no share)` : ''}`
        )
        if (result.newlyDenied.length > 0) io.out('would now be denied:')
        for (const op of result.newlyDenied) io.out(line(op))
        if (result.newlyAllowed.length > 0) io.out('newly allowed:')
        for (const op of result.newlyAllowed) io.out(line(op))
        for (const [who, n] of Object.entries(result.byPeer))
          io.out(`by ${who}: ${n.newlyDenied} newly denied, ${n.newlyAllowed} newly allowed`)
      }
      for (const l of unverified)
        io.err(
          `peerguard: warning: ${l.file} does not verify (${l.verify.firstBad?.code ?? 'log-torn-tail'}); only its first ${l.entries.length} entries were used`
        )
      if (report.summary.integrity !== 'ok') {
        io.err(
          `peerguard: error: the capture is ${report.summary.integrity}; the answer covers only the records before the damage`
        )
        io.setExitCode(5)
      } else if (result.newlyDenied.length + result.newlyAllowed.length > 0) io.setExitCode(1)
    })
}
