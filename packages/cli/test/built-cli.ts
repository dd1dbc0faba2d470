/**
 * The black-box CLI tests run the built binary. `npm test` builds it first (`tsc -b`); when Jest
 * runs alone after a source edit, `ensureCliBuilt()` rebuilds so no test judges a stale binary.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..', '..')
export const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js')

function newest(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/** Rebuild the CLI when any package's source is newer than the binary. */
export function ensureCliBuilt(): void {
  const packages = readdirSync(join(ROOT, 'packages')).filter((p) => existsSync(join(ROOT, 'packages', p, 'src')))
  const sources = Math.max(...packages.map((p) => newest(join(ROOT, 'packages', p, 'src'))))
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= sources) return
  try {
    execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT, stdio: 'pipe' })
  } catch (err) {
    // tsc -b still emits when a package has type errors (npm test reports those); judge by the binary.
    if (!existsSync(BIN)) throw err
  }
}
