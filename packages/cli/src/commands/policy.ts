import type { Command } from 'commander'
import { InvalidArgumentError } from '@peerguard/interface'
import { ACTIONS, checkPolicy, diffPolicies, type LintFinding, loadPolicy, type Policy, type PolicyPeer } from '@peerguard/policy'
import type { CliIO } from '../io.js'
import { collect, wantsJson } from '../common.js'

const where = (s: { file?: string; line: number; column: number } | undefined, file: string): string =>
  s === undefined ? file : `${s.file ?? file}:${s.line}:${s.column}`

interface ExplainOptions {
  peer: string
  action: string
  resource: string
  name?: string
  group?: string[]
  address?: string
  size?: string
  time?: string
  plain?: boolean
}

/**
 * The peer of `policy explain`: a name under `peers:` in the file, or a peer ID (either text
 * form). Anything else is refused (`policy-unknown-peer`): a typo must not become a stranger.
 */
function peerFrom(policy: Policy, opts: ExplainOptions): { peer: PolicyPeer; label: string } {
  const named = policy.peerNamed(opts.peer)
  const base: PolicyPeer = named ?? policy.peerFor(opts.peer)
  return {
    peer: {
      ...base,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      groups: [...(base.groups ?? []), ...(opts.group ?? [])]
    },
    label: named === undefined ? `peer ID ${base.peerId}` : `peer "${opts.peer}"`
  }
}

function contextFrom(opts: ExplainOptions) {
  let size: number | undefined
  if (opts.size !== undefined) {
    if (!/^\d+$/.test(opts.size))
      throw new InvalidArgumentError(`--size: expected a number of bytes, got ${JSON.stringify(opts.size)}`)
    size = Number(opts.size)
  }
  let time: number | undefined
  if (opts.time !== undefined) {
    time = Date.parse(opts.time)
    if (!Number.isFinite(time))
      throw new InvalidArgumentError(`--time: expected an ISO 8601 date and time, got ${JSON.stringify(opts.time)}`)
  }
  return {
    encrypted: opts.plain !== true,
    ...(size === undefined ? {} : { size }),
    ...(time === undefined ? {} : { time }),
    ...(opts.address === undefined ? {} : { address: opts.address })
  }
}

/** `peerguard policy lint|test|explain|diff`: check and question policy files. */
export function registerPolicyCommands(program: Command, io: CliIO): void {
  const policy = program
    .command('policy')
    .description('check and question per-peer access policies (see policies/README.md)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard policy lint policies/office.yaml
  $ peerguard policy explain policies/office.yaml --peer carol --action write --resource share:docs/plan.odt`
    )

  policy
    .command('lint')
    .description('find rules shadowed by a deny, unreachable rules, unused names and overlaps')
    .argument('<file>', 'the policy file (YAML or JSON)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      '\nExits 1 when there are errors (a file that does not load is one).\n\nExample:\n  $ peerguard policy lint policies/office.yaml --json'
    )
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      // Every error at once (not only the first), then the lint findings of a policy that loads.
      const checked = checkPolicy({ path: file })
      const findings: Array<LintFinding | (Omit<LintFinding, 'code'> & { code: string })> = checked.errors.map((err) => {
        const hint = (err.details as { hint?: string } | undefined)?.hint
        return {
          code: err.code,
          severity: 'error' as const,
          message: err.message.replace(/^.*?:\d+:\d+: /, '') + (hint === undefined ? '' : ` (${hint})`),
          subject: err.path,
          source: err.location
        }
      })
      if (checked.policy !== undefined) findings.push(...checked.policy.lint())
      const errors = findings.filter((f) => f.severity === 'error').length
      const warnings = findings.length - errors
      if (wantsJson(cmd)) io.json({ file, ok: errors === 0, errors, warnings, findings })
      else {
        for (const f of findings) io.out(`${where(f.source, file)}: ${f.severity}: ${f.message} [${f.code}]`)
        io.out(`${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`)
      }
      if (errors > 0) io.setExitCode(1)
    })

  policy
    .command('test')
    .description("run the policy file's own tests: block")
    .argument('<file>', 'the policy file (YAML or JSON)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText('after', '\nExits 1 when an assertion fails.\n\nExample:\n  $ peerguard policy test policies/office.yaml')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const report = loadPolicy({ path: file }).test()
      if (wantsJson(cmd))
        io.json({ file, ...report, results: report.results.map((r) => ({ ...r, code: r.passed ? 'ok' : 'policy-test-failed' })) })
      else {
        for (const r of report.results) {
          const decided =
            r.decision === undefined
              ? 'no sample resource'
              : `${r.decision.code}${r.decision.rule === undefined ? '' : ` by ${r.decision.rule.id} (${where(r.decision.rule.source, file)})`}`
          if (r.passed) io.out(`ok    ${r.test}: ${r.expect} ${r.assertion}`)
          else io.out(`FAIL  ${where(r.source, file)}: ${r.test}: ${r.expect} ${r.assertion} — ${r.resource}: ${decided}`)
        }
        io.out(`${file}: ${report.total - report.failed} passed, ${report.failed} failed`)
        if (report.total === 0) io.err(`peerguard: warning: ${file} has no tests: block`)
      }
      if (!report.passed) io.setExitCode(1)
    })

  policy
    .command('explain')
    .description('decide one request and show every rule considered and why it matched or not')
    .argument('<file>', 'the policy file (YAML or JSON)')
    .requiredOption('--peer <peer>', 'a peer name from the file, or a peer ID (peerguard or libp2p form); nothing else')
    .requiredOption('--action <action>', `one of ${ACTIONS.join(', ')}`)
    .requiredOption(
      '--resource <resource>',
      'share:<share>/<path>, swarm:<name>, swarm-id:<64 hex>, service:<name> or device:<name>'
    )
    .option('--name <cn>', 'the certificate name (CN) the peer presents')
    .option('--group <ou>', 'a certificate group (OU) of the peer (repeatable)', collect)
    .option('--address <ip>', 'the address the request comes from')
    .option('--size <bytes>', 'the size of the file')
    .option('--time <iso>', 'when the request happens (default: now)')
    .option('--plain', 'the request comes over an unencrypted channel')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      '\nExits 1 when the request is denied.\n\nExample:\n  $ peerguard policy explain policies/office.yaml --peer carol --action read --resource share:public/readme.txt'
    )
    .action(async (file: string, opts: ExplainOptions, cmd: Command) => {
      const p = loadPolicy({ path: file })
      if (!(ACTIONS as readonly string[]).includes(opts.action)) {
        throw new InvalidArgumentError(`--action: expected one of ${ACTIONS.join(', ')}, got ${JSON.stringify(opts.action)}`)
      }
      if (!/^(share|swarm|swarm-id|service|device):./.test(opts.resource)) {
        throw new InvalidArgumentError(
          `--resource: expected share:, swarm:, swarm-id:, service: or device:<name>, got ${JSON.stringify(opts.resource)}`
        )
      }
      const { peer, label } = peerFrom(p, opts)
      const e = p.explain({ peer, action: opts.action, resource: opts.resource, context: contextFrom(opts) })
      if (wantsJson(cmd)) io.json(e)
      else {
        const d = e.decision
        io.out(`${d.allowed ? 'ALLOW' : 'DENY'} ${opts.action} ${opts.resource} for ${label} [${d.code}]`)
        io.out(`  ${d.reason}${d.rule?.source === undefined ? '' : ` at ${where(d.rule.source, file)}`}`)
        io.out(`  groups: ${e.peer.groups.length === 0 ? '(none)' : e.peer.groups.join(', ')}`)
        io.out('rules considered (requirements, then denies, then allows):')
        for (const r of e.rules) {
          const mark = r.decided ? '=>' : r.matched ? ' +' : ' -'
          io.out(`${mark} ${r.effect.padEnd(7)} ${r.id} (${where(r.source, file)}): ${r.why.join('; ')}`)
        }
      }
      if (!e.decision.allowed) io.setExitCode(1)
    })

  policy
    .command('diff')
    .description('which (peer, action, resource) decisions change between two versions of a policy')
    .argument('<old>', 'the old policy file')
    .argument('<new>', 'the new policy file')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      '\nExits 1 when some decision changes, 0 when none does (like diff).\n\nExample:\n  $ peerguard policy diff office.yaml office-new.yaml'
    )
    .action(async (oldFile: string, newFile: string, _opts: unknown, cmd: Command) => {
      const before = loadPolicy({ path: oldFile })
      const after = loadPolicy({ path: newFile })
      const { changes, checked } = diffPolicies(before, after)
      if (wantsJson(cmd)) io.json({ old: oldFile, new: newFile, checked, changes })
      else {
        for (const c of changes) {
          const ctx = Object.entries(c.context)
            .filter(([k]) => k !== 'encrypted')
            .map(([k, v]) => `${k}=${k === 'time' ? new Date(v as number).toISOString() : String(v)}`)
          const fmt = (s: { code: string; rule?: string }) => `${s.code}${s.rule === undefined ? '' : ` (${s.rule})`}`
          io.out(
            `${c.peer} ${c.action} ${c.resource}${ctx.length === 0 ? '' : ` [${ctx.join(' ')}]`}: ${fmt(c.before)} -> ${fmt(c.after)}`
          )
        }
        io.out(`${changes.length} decision${changes.length === 1 ? '' : 's'} changed of ${checked} checked`)
      }
      if (changes.length > 0) io.setExitCode(1)
    })
}
