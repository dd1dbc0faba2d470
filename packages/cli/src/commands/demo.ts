import type { Command } from 'commander'
import type { CliIO } from '../io.js'
import { wantsJson } from '../common.js'
import { runDemo } from './demo-run.js'

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length)
}

export function registerDemoCommands(program: Command, io: CliIO): void {
  program
    .command('demo')
    .description('run a hardened and a plain LAN share side by side on loopback and show what each allows')
    .option('--keep', 'keep the temporary workspace (keys, certificates, policy, shares) for inspection')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
In a temporary workspace: a CA, three peers (alice on staff, bob a guest, mallory with no
certificate) and an office policy. alice serves a hardened share on 127.0.0.1; bob reads a public
file and is denied a write; mallory is refused at the handshake; then the same transfer over a
plain share. Exits 1 if any step does not behave as expected.

Example:
  $ peerguard demo
  $ npm start`
    )
    .action(async (opts: { keep?: boolean }, cmd: Command) => {
      const r = await runDemo(opts)
      if (wantsJson(cmd)) {
        io.json(r)
      } else {
        io.out('peerguard demo: one folder shared two ways on 127.0.0.1')
        io.out('')
        const head = ['#', 'share', 'peer', 'action', 'expected', 'what happened', '']
        const rows = r.steps.map((s) => [String(s.n), s.share, s.who, s.action, s.expected, s.result, s.ok ? 'ok' : 'UNEXPECTED'])
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)))
        io.out(`  ${head.map((h, i) => pad(h, widths[i] as number)).join('  ')}`.trimEnd())
        for (const row of rows) io.out(`  ${row.map((c, i) => pad(c, widths[i] as number)).join('  ')}`.trimEnd())
        io.out('')
        io.out(`decision log: ${r.log.path}`)
        io.out(
          `  ${r.log.entries} entries, ${r.log.checkpoints} checkpoint${r.log.checkpoints === 1 ? '' : 's'} signed by alice (${r.log.signer})`
        )
        io.out(`  verify it yourself: peerguard audit log verify ${r.log.path} --key ${r.log.signer}`)
        if (opts.keep === true) io.out(`workspace kept: ${r.workspace}`)
        io.out(
          `${r.ok ? 'every step behaved as expected' : 'SOME STEPS DID NOT BEHAVE AS EXPECTED'}; finished in ${r.seconds.toFixed(1)} s, nothing left running`
        )
      }
      if (!r.ok) {
        io.err('peerguard: error: the demo did not behave as expected (see the UNEXPECTED rows)')
        io.setExitCode(1)
      }
    })
}
