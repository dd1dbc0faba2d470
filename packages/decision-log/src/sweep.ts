import { readdir, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Remove temporary files a killed writer left next to a decision log: `writeFileAtomic` writes
 * `<log>.head` through `.<log>.head.<12 hex>.tmp` and renames it into place, so a `kill -9`
 * between the two leaves that file behind. Only names of exactly that form are touched. Returns the
 * paths removed. (The share's own upload temp files, `.pgtmp-*` inside the share root, are the share
 * server's to sweep, not the log's.)
 */
export async function sweepLogTempFiles(logPath: string): Promise<string[]> {
  const dir = dirname(logPath)
  const prefix = `.${basename(logPath)}.head.`
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return [] // no directory yet: nothing to sweep (creating the log reports a real problem)
  }
  const removed: string[] = []
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) continue
    const p = join(dir, name)
    await unlink(p).then(
      () => removed.push(p),
      () => {}
    )
  }
  return removed
}
