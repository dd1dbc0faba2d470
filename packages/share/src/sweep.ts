import { lstat, readdir, unlink } from 'node:fs/promises'
import type { OpenDir, RootHandle } from './root-handle.js'
import { TEMP_PREFIX } from './paths.js'

/** Most directory entries one start-up sweep looks at before it stops (a bound for huge shares). */
export const SWEEP_MAX_ENTRIES = 200_000
/** Deepest directory level the sweep descends to. */
export const SWEEP_MAX_DEPTH = 64

export interface SweepResult {
  /** Temporary upload files removed. */
  readonly removed: number
  /** Directory entries looked at. */
  readonly scanned: number
  /** True when the sweep stopped at SWEEP_MAX_ENTRIES or SWEEP_MAX_DEPTH before seeing the whole share. */
  readonly truncated: boolean
}

/**
 * Remove the temporary upload files (`.pgtmp-*`) that a server killed mid-upload left behind
 * (SPEC.md §5.3). Only regular files older than `before` (ms since the epoch; the server's start)
 * are removed, so an upload of a running server is never touched. The walk uses the share's
 * directory descriptors and never follows a link; `step` runs each directory under the share's
 * namespace lock so renames cannot move a directory out from under it.
 */
export async function sweepTemporaryFiles(
  root: RootHandle,
  before: number,
  step: <T>(fn: () => Promise<T>) => Promise<T>
): Promise<SweepResult> {
  let removed = 0
  let scanned = 0
  let truncated = false
  const queue: string[][] = [[]]
  while (queue.length > 0) {
    const names = queue.shift() as string[]
    if (names.length > SWEEP_MAX_DEPTH) {
      truncated = true
      continue
    }
    const done = await step(async () => {
      let dir: OpenDir
      try {
        dir = await root.openDir(names)
      } catch {
        return true // renamed or removed meanwhile, or a link: nothing to sweep there
      }
      try {
        const entries = await readdir(dir.path, { withFileTypes: true }).catch(() => [])
        for (const e of entries) {
          if (++scanned > SWEEP_MAX_ENTRIES) return false
          if (e.isDirectory()) queue.push([...names, e.name])
          else if (e.isFile() && e.name.startsWith(TEMP_PREFIX)) {
            const st = await lstat(dir.child(e.name)).catch(() => undefined)
            if (
              st?.isFile() === true &&
              st.mtimeMs < before &&
              (await unlink(dir.child(e.name)).then(
                () => true,
                () => false
              ))
            )
              removed++
          }
        }
        return true
      } finally {
        await dir.close()
      }
    })
    if (!done) {
      truncated = true
      break
    }
  }
  return { removed, scanned: Math.min(scanned, SWEEP_MAX_ENTRIES), truncated }
}
