import { type ChildProcess, spawn } from 'node:child_process'

/** A long-running process that said it is ready. */
export interface Spawned {
  readonly proc: ChildProcess
  /** The match of `readyLine` in what the process wrote (`match[1]`: an address, say). */
  readonly match: RegExpExecArray
  /** Everything it wrote to stdout / stderr so far. */
  out(): string
  err(): string
  /** Its exit code (`null` when a signal ended it). */
  readonly exited: Promise<number | null>
  /** Send `signal` (default SIGTERM) unless it has exited, and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface SpawnAndWaitOptions {
  /** Ready once this matches the output so far (stdout, or `stream`). */
  readyLine: RegExp
  /** Which output to match: 'stdout' (default), 'stderr' or 'both'. */
  stream?: 'stdout' | 'stderr' | 'both'
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Give up (SIGKILL, reject) after this long without the ready line. Default 180 s: a busy CI machine. */
  timeoutMs?: number
}

/** The process exited (or timed out) before its ready line; carries what it wrote. */
export class SpawnExitedError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string
  ) {
    super(message)
    this.name = 'SpawnExitedError'
  }
}

/**
 * Start `command args` and resolve once its output matches `readyLine` (waiting on the output, not
 * on a sleep); reject with a `SpawnExitedError` holding its output if it exits first or times out.
 */
export function spawnAndWait(command: string, args: readonly string[], options: SpawnAndWaitOptions): Promise<Spawned> {
  const proc = spawn(command, [...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env })
  })
  // 'close', not 'exit': by then all its output has been read
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)))
  const stream = options.stream ?? 'stdout'
  let out = ''
  let err = ''
  let both = ''
  return new Promise<Spawned>((resolve, reject) => {
    let ready = false
    const check = (): void => {
      if (ready) return
      const m = options.readyLine.exec(stream === 'stdout' ? out : stream === 'stderr' ? err : both)
      if (m === null) return
      ready = true
      clearTimeout(timer)
      resolve({
        proc,
        match: m,
        out: () => out,
        err: () => err,
        exited,
        async stop(signal = 'SIGTERM') {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
          return exited
        }
      })
    }
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      both += d.toString()
      check()
    })
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      both += d.toString()
      check()
    })
    const name = [command, ...args.slice(0, 2)].join(' ')
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(
        new SpawnExitedError(`${name}: no ready line after ${options.timeoutMs ?? 180_000} ms: ${out}${err}`, null, out, err)
      )
    }, options.timeoutMs ?? 180_000)
    timer.unref()
    proc.once('error', (e) => {
      clearTimeout(timer)
      if (!ready) reject(new SpawnExitedError(`${name}: ${e.message}`, null, out, err))
    })
    void exited.then((code) => {
      if (ready) return
      clearTimeout(timer)
      reject(new SpawnExitedError(`${name} exited ${code} before it was ready: ${out}${err}`, code, out, err))
    })
  })
}
