/**
 * The in-process CLI harness: `runCli(argv, { cwd, env })` runs the same program the binary runs
 * (`run` from src/program.ts, which bin.ts calls) with captured output, and gives what a process
 * would: the exit code, stdout and stderr (one `\n` after each line, as `processIO` writes them).
 *
 * Nothing leaks between calls: the working directory and environment are set for the call and
 * restored after it; `process.exit` is refused while a command runs (a command never exits the
 * process; it sets its exit code); `process.exitCode` is left as it was; a signal handler a command
 * installed and did not remove fails the call. Calls may overlap (a test awaits several at once)
 * when they share the same cwd and env; a call with another cwd or env waits until those end.
 *
 * Commands that must receive signals or outlive the test's event loop stay black-box process tests
 * (`BIN`, see built-cli.ts).
 */
import { run } from '../src/program.js'
import { bufferedIO } from '../src/io.js'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export interface RunCliOptions {
  /** Working directory for the call (relative paths in argv resolve against it). Default: the current one. */
  cwd?: string
  /** Environment variables to set (a value of undefined removes the variable) for the call. */
  env?: Readonly<Record<string, string | undefined>>
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** The process state shared by the calls running now: one cwd and env at a time. */
interface Lease {
  key: string
  active: number
  restore: () => void
  listeners: Record<(typeof SIGNALS)[number], number>
  exitCode: typeof process.exitCode
  exit: typeof process.exit
}

let lease: Lease | undefined
const waiting: Array<() => void> = []

function leaseKey(options: RunCliOptions): string {
  return JSON.stringify([options.cwd ?? process.cwd(), Object.entries(options.env ?? {}).sort()])
}

function enter(options: RunCliOptions): Lease {
  const previousCwd = process.cwd()
  const previousEnv = new Map<string, string | undefined>()
  for (const [name, value] of Object.entries(options.env ?? {})) {
    previousEnv.set(name, process.env[name])
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  if (options.cwd !== undefined) process.chdir(options.cwd)
  const exit = process.exit
  process.exit = ((code?: number) => {
    throw new Error(`process.exit(${code ?? ''}) called by a command running in-process; commands set their exit code`)
  }) as typeof process.exit
  return {
    key: leaseKey(options),
    active: 0,
    exitCode: process.exitCode,
    exit,
    listeners: {
      SIGINT: process.listenerCount('SIGINT'),
      SIGTERM: process.listenerCount('SIGTERM'),
      SIGHUP: process.listenerCount('SIGHUP')
    },
    restore: () => {
      process.chdir(previousCwd)
      for (const [name, value] of previousEnv) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  }
}

/** Undo the lease; the names of signals whose handlers a command left behind (removed here). */
function leave(l: Lease): string[] {
  l.restore()
  process.exit = l.exit
  process.exitCode = l.exitCode
  const leaked: string[] = []
  for (const signal of SIGNALS) {
    const extra = process.listeners(signal).slice(l.listeners[signal])
    for (const listener of extra) process.off(signal, listener as () => void)
    if (extra.length > 0) leaked.push(`${signal} (${extra.length})`)
  }
  return leaked
}

async function acquire(options: RunCliOptions): Promise<Lease> {
  const key = leaseKey(options)
  while (lease !== undefined && lease.key !== key) await new Promise<void>((resolve) => waiting.push(resolve))
  lease ??= enter(options)
  lease.active++
  return lease
}

function release(l: Lease): string[] {
  l.active--
  if (l.active > 0) return []
  lease = undefined
  const leaked = leave(l)
  for (const wake of waiting.splice(0)) wake()
  return leaked
}

/** Run `peerguard ...argv` in this process; never throws for what the command does (that is the exit code). */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<CliRun> {
  const l = await acquire(options)
  const io = bufferedIO()
  let code: number
  try {
    code = await run(argv, io)
  } finally {
    const leaked = release(l)
    if (leaked.length > 0) {
      // biome-ignore lint/correctness/noUnsafeFinally: a leaked handler is a bug of the command, reported over its result
      throw new Error(`peerguard ${argv.join(' ')}: left signal handlers installed: ${leaked.join(', ')}`)
    }
  }
  const text = (lines: readonly string[]) => lines.map((line) => `${line}\n`).join('')
  return { code, stdout: text(io.stdout), stderr: text(io.stderr) }
}
