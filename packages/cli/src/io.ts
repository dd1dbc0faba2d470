/**
 * What a command may do to the outside world. Commands never touch process.stdout/exit directly,
 * so the same code runs in the binary and in tests.
 */
import { promptHidden } from './tty-prompt.js'

export interface CliIO {
  /** Print a line on stdout. */
  out(text: string): void
  /** Print a line on stderr (diagnostics: `peerguard: warning: …`). */
  err(text: string): void
  /** Print a value as pretty JSON on stdout. */
  json(value: unknown): void
  /** True when stdout is a terminal (progress bars, colours). */
  readonly isTTY: boolean
  /** Set the exit code: 1 for a finding or denial the user asked about. */
  setExitCode(code: number): void
  /** Ask for a secret on the terminal without echo; absent when stdin is not a terminal. */
  promptSecret?(question: string): Promise<string>
}

export interface BufferedIO extends CliIO {
  readonly stdout: string[]
  readonly stderr: string[]
  readonly exitCode: number
}

export function processIO(): CliIO {
  const stdin = process.stdin
  return {
    ...(stdin.isTTY === true ? { promptSecret: (question: string) => promptHidden(question, stdin, process.stderr) } : {}),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    isTTY: process.stdout.isTTY === true,
    setExitCode: (code) => {
      process.exitCode = code
    }
  }
}

/** An IO that records everything, for in-process tests. */
export function bufferedIO(): BufferedIO {
  const stdout: string[] = []
  const stderr: string[] = []
  let exitCode = 0
  return {
    stdout,
    stderr,
    get exitCode() {
      return exitCode
    },
    out: (text) => stdout.push(text),
    err: (text) => stderr.push(text),
    json: (value) => stdout.push(JSON.stringify(value, null, 2)),
    isTTY: false,
    setExitCode: (code) => {
      exitCode = code
    }
  }
}
