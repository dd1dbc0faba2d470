import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'

/** The environment variable naming a Node 24 binary (CI sets it to the `node@24` npm package's, .ci/run). */
export const NODE24_ENV = 'PEERGUARD_NODE24'

const majorOf = (version: string): number => Number(/^v?(\d+)\./.exec(version)?.[1] ?? Number.NaN)

/**
 * The path of a Node 24 (or later) binary for tests that run a child on current Node: the one
 * `PEERGUARD_NODE24` names, else the running Node when it is 24 or later; undefined when there is
 * none (or the named binary does not run, or is older).
 */
export function node24Binary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env[NODE24_ENV]
  if (named === undefined || named === '') return majorOf(process.version) >= 24 ? process.execPath : undefined
  if (!isAbsolute(named) || !existsSync(named)) return undefined
  const r = spawnSync(named, ['--version'], { encoding: 'utf8', timeout: 60_000 })
  return r.status === 0 && majorOf(r.stdout.trim()) >= 24 ? named : undefined
}
