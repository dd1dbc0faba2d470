import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { EXIT_CODES, isPeerguardError } from '@peerguard/interface'
import { registerAll } from './commands/index.js'
import { registerCompletionCommand } from './completion.js'
import { registerHelpCommand } from './help-topics.js'
import type { CliIO } from './io.js'

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** Build the `peerguard` program; `io` receives all output. */
export function createProgram(io: CliIO): Command {
  const program = new Command('peerguard')
  program
    .description(
      'peerguard: authenticated identities, encrypted channels, access policies and traffic audits for LAN peer-to-peer sharing'
    )
    .version(VERSION, '-V, --version', 'print the version')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .option('--log-level <level>', 'console log of long-running commands: error, warn, info (default) or debug')
    .option('-v, --verbose', 'console log at debug level (-v, -vv)', (_: string, n: number) => n + 1, 0)
    .option('--log-format <format>', 'console log as text or json (default: text on a terminal, JSON Lines otherwise)')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`peerguard: error: ${s.replace(/^error: /, '').replace(/\n$/, '')}`)
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ peerguard id new --out alice.key
  $ peerguard id show alice.key --json

Exit codes: 0 ok, 1 a finding or denial you asked about, 2 usage, 3 failure, 4 internal error.
More: peerguard help <topic> (policy, node-config, trust, …; peerguard help lists them), man peerguard,
peerguard completion bash|zsh.`
    )
  registerAll(program, io)
  registerCompletionCommand(program, io)
  registerHelpCommand(program, io)
  for (const cmd of program.commands) applyDefaults(cmd, io)
  return program
}

function applyDefaults(cmd: Command, io: CliIO): void {
  cmd.exitOverride().showSuggestionAfterError(true)
  cmd.configureOutput({
    writeOut: (s) => io.out(s.replace(/\n$/, '')),
    writeErr: (s) => io.err(s.replace(/\n$/, '')),
    outputError: (s, write) => write(`peerguard: error: ${s.replace(/^error: /, '').replace(/\n$/, '')}`)
  })
  for (const sub of cmd.commands) applyDefaults(sub, io)
}

/** True when `--json` appears among the arguments (global or per command). */
function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json')
}

/**
 * Run the command line `argv` (without node and script) and return the exit code.
 * Never throws: every error becomes a diagnostic and an exit code.
 */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  let exitCode = 0
  const trackingIO: CliIO = {
    ...io,
    out: io.out,
    err: io.err,
    json: io.json,
    isTTY: io.isTTY,
    setExitCode: (code) => {
      exitCode = code
      io.setExitCode(code)
    }
  }
  const program = createProgram(trackingIO)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else is a usage error.
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
      if (err.code === 'commander.help') return 0
      return EXIT_CODES.USAGE
    }
    if (isPeerguardError(err)) {
      if (wantsJson(argv)) io.json({ error: err.toJSON() })
      io.err(`peerguard: error: ${err.message}`)
      const hint = (err.details as { hint?: unknown } | undefined)?.hint
      if (typeof hint === 'string') io.err(`peerguard: hint: ${hint}`)
      return err.exitCode
    }
    const message = err instanceof Error ? err.message : String(err)
    if (wantsJson(argv)) io.json({ error: { name: 'InternalError', code: 'internal', message } })
    io.err(`peerguard: error: internal error: ${message}`)
    io.err('peerguard: hint: this is a bug; please report it with the command you ran (see SECURITY.md)')
    return EXIT_CODES.INTERNAL
  }
}
