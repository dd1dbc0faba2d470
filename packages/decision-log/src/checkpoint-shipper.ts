import { spawn } from 'node:child_process'
import { open } from 'node:fs/promises'
import { assertString, InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import type { SignedHead } from './head.js'

/** Syslog tag of shipped checkpoints (`journalctl -t peerguard-log -o cat` lists them). */
export const SYSLOG_TAG = 'peerguard-log'

/**
 * Where checkpoints go: `syslog` (through `logger(1)`, to the local syslog daemon or journal,
 * which can forward them to a log host) or a file path (appended to, one head per line, synced —
 * put it on another disk or a mount of another machine).
 */
export type CheckpointTarget = 'syslog' | { file: string }

/** Parse a `--log-ship` value: `syslog`, or a file path. */
export function checkpointTargetFrom(value: string): CheckpointTarget {
  assertString('target', value, { nonEmpty: true })
  return value === 'syslog' ? 'syslog' : { file: value }
}

/**
 * An `onCheckpoint` callback that ships every signed head to `target`, in order (one at a time).
 * Each shipped line is a signed head; `peerguard audit log verify --checkpoints FILE` checks the log
 * still holds every one of them, so rolling the log (and its head file) back on this box no longer
 * goes unnoticed once a head has left it.
 */
export function createCheckpointShipper(target: CheckpointTarget): (head: SignedHead, line: string) => Promise<void> {
  if (target !== 'syslog' && (typeof target !== 'object' || target === null || typeof target.file !== 'string'))
    throw new InvalidArgumentError("target: expected 'syslog' or { file }")
  if (target !== 'syslog') assertString('target.file', target.file, { nonEmpty: true })
  let chain: Promise<void> = Promise.resolve()
  return (_head, line) => {
    const text = line.endsWith('\n') ? line : `${line}\n`
    const run = chain.then(() => (target === 'syslog' ? toSyslog(text.trimEnd()) : toFile(target.file, text)))
    chain = run.catch(() => {})
    return run
  }
}

async function toFile(path: string, text: string): Promise<void> {
  let handle: import('node:fs/promises').FileHandle | undefined
  try {
    handle = await open(path, 'a', 0o600)
    await handle.write(text)
    await handle.datasync()
  } catch (err) {
    throw new PeerguardError(
      'io-error',
      `${path}: cannot ship the checkpoint (${(err as NodeJS.ErrnoException).code ?? 'write failed'})`,
      {
        cause: err
      }
    )
  } finally {
    await handle?.close().catch(() => {})
  }
}

function toSyslog(line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('logger', ['-t', SYSLOG_TAG, '-p', 'auth.notice', '--', line], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1024) stderr += d.toString()
    })
    child.on('error', (err) =>
      reject(new PeerguardError('io-error', `logger(1): cannot ship the checkpoint to syslog (${err.message})`, { cause: err }))
    )
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new PeerguardError('io-error', `logger(1) exited with ${code}: ${stderr.trim() || 'no output'}`))
    )
  })
}
