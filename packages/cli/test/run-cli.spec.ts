// The in-process harness gives what the built binary gives (exit code, stdout, stderr, byte for
// byte), and leaves the process as it found it.
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

// The differential cases start the built binary; under load a process takes seconds to start.
jest.setTimeout(180_000)

let a: string
let b: string
beforeAll(async () => {
  ensureCliBuilt()
  a = await mkdtemp(join(tmpdir(), 'peerguard-run-cli-a-'))
  b = await mkdtemp(join(tmpdir(), 'peerguard-run-cli-b-'))
}, 180_000)
afterAll(async () => {
  await rm(a, { recursive: true, force: true, maxRetries: 5 })
  await rm(b, { recursive: true, force: true, maxRetries: 5 })
})

function binary(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 170_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('runCli', () => {
  it('gives the exit code, stdout and stderr the binary gives', async () => {
    for (const args of [
      ['--version'],
      ['frobnicate'],
      ['id', 'new'],
      ['id', 'show', 'missing.key'],
      ['id', 'show', 'missing.key', '--json'],
      ['cert', '--help']
    ]) {
      const inProcess = await runCli(args, { cwd: a })
      expect({ args, ...inProcess }).toEqual({ args, ...binary(args, a) })
    }
  })

  it('runs in the given cwd and env, then restores both', async () => {
    const cwd = process.cwd()
    const before = process.env.XDG_CONFIG_HOME
    const r = await runCli(['id', 'new', '--out', 'x.key'], { cwd: a, env: { XDG_CONFIG_HOME: b } })
    expect(r.code).toBe(0)
    expect(process.cwd()).toBe(cwd)
    expect(process.env.XDG_CONFIG_HOME).toBe(before)
    expect((await runCli(['id', 'show', 'x.key'], { cwd: a })).code).toBe(0)
    expect((await runCli(['id', 'show', 'x.key'], { cwd: b })).code).toBe(3)
  })

  it('overlapping calls in different folders each see their own cwd', async () => {
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => runCli(['id', 'new', '--out', `k${i}.key`, '--json'], { cwd: i % 2 === 0 ? a : b }))
    )
    for (const [i, r] of runs.entries()) {
      expect(r.code).toBe(0)
      expect((await runCli(['id', 'show', `k${i}.key`, '--json'], { cwd: i % 2 === 0 ? a : b })).code).toBe(0)
      expect((await runCli(['id', 'show', `k${i}.key`], { cwd: i % 2 === 0 ? b : a })).code).toBe(3)
    }
  })

  it('leaves process.exitCode and the signal handlers as they were', async () => {
    const listeners = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))
    const exitCode = process.exitCode
    const r = await runCli(['id', 'show', 'nope.key'], { cwd: a })
    expect(r.code).toBe(3)
    expect(process.exitCode).toBe(exitCode)
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(listeners)
  })
})
