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

/** DEL, the C1 controls and the Unicode line/paragraph separators: JSON allows them raw in strings. */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g

/**
 * `value` as JSON (pretty; one line with `indent` 0) that is safe on a terminal: JSON.stringify escapes C0 controls already;
 * DEL, C1 (0x7f–0x9f) and U+2028/U+2029, which it leaves raw, become \u escapes too. They can only
 * stand inside strings (the JSON syntax is ASCII), where the escape means the same character.
 */
export function terminalJson(value: unknown, indent = 2): string {
  return (JSON.stringify(value, null, indent) ?? 'null').replace(
    RAW_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  )
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
    json: (value) => process.stdout.write(`${terminalJson(value)}\n`),
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
    json: (value) => stdout.push(terminalJson(value)),
    isTTY: false,
    setExitCode: (code) => {
      exitCode = code
    }
  }
}
