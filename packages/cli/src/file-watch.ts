/**
 * Notice when configuration files change: `fs.watch` on each file's folder (editors and `mv`
 * replace files by rename, which a watch on the file itself misses) plus a periodic `stat` of
 * every path, because fs.watch misses some atomic renames and does not work on every file
 * system. Both feed one debounced callback.
 */
import { type FSWatcher, watch } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { assertInteger, InvalidArgumentError } from '@peerguard/interface'

/** Default quiet time after the last change event before `onChange` runs, ms. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 100
/** Default period of the stat fallback, ms: a change is seen within about a second. */
export const DEFAULT_WATCH_POLL_MS = 1000
/** A watched folder with more entries than this is compared by its own stat only. */
const MAX_DIR_ENTRIES = 4096

export interface FileWatchOptions {
  /** Files or directories to watch (a directory: any entry added, removed or changed). */
  paths: readonly string[]
  /** Called once per burst of changes, with the watched paths that changed (may be empty after a watch event). */
  onChange: (changed: string[]) => void
  /** Quiet time after the last event, ms. Default 100. */
  debounceMs?: number
  /** Period of the stat fallback, ms. Default 1000. */
  pollMs?: number
}

/** A running watch; `close()` stops it. */
export interface FileWatch {
  /** Resolves once the first stat baseline is taken and the folder watches are set up. */
  readonly ready: Promise<void>
  close(): void
}

/** What a stat poll compares: inode, size, times, and for a directory the same for each entry. */
async function signature(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined)
  if (s === undefined) return 'missing'
  const own = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`
  if (!s.isDirectory()) return own
  const names = (await readdir(path).catch(() => [] as string[])).sort()
  if (names.length > MAX_DIR_ENTRIES) return own
  const parts = await Promise.all(
    names.map(async (n) => {
      const e = await stat(join(path, n)).catch(() => undefined)
      return e === undefined ? `${n}:gone` : `${n}:${e.ino}:${e.size}:${e.mtimeMs}:${e.ctimeMs}`
    })
  )
  return `${own}|${parts.join('|')}`
}

/**
 * Watch `paths` and call `onChange` (debounced) when any of them changes. Watch errors (a folder
 * removed, an unsupported file system) are survived: the stat fallback keeps running.
 */
export function watchFiles(options: FileWatchOptions): FileWatch {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (!Array.isArray(options.paths) || options.paths.some((p) => typeof p !== 'string' || p.length === 0))
    throw new InvalidArgumentError('options.paths: expected an array of non-empty paths')
  if (typeof options.onChange !== 'function') throw new InvalidArgumentError('options.onChange: expected a function')
  const debounceMs = options.debounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS
  const pollMs = options.pollMs ?? DEFAULT_WATCH_POLL_MS
  assertInteger('options.debounceMs', debounceMs, 0, 60_000)
  assertInteger('options.pollMs', pollMs, 10, 3_600_000)
  const paths = [...new Set(options.paths)]
  let closed = false
  let timer: NodeJS.Timeout | undefined
  const pending = new Set<string>()
  const fire = (path: string | undefined): void => {
    if (closed) return
    if (path !== undefined) pending.add(path)
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      const changed = [...pending]
      pending.clear()
      if (!closed) options.onChange(changed)
    }, debounceMs)
    timer.unref()
  }

  // One fs.watch per folder: the folder of each file, and each watched directory itself.
  const watchers: FSWatcher[] = []
  const byFolder = new Map<string, Array<{ path: string; name: string | undefined }>>()
  const addTarget = (folder: string, target: { path: string; name: string | undefined }): void => {
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), target])
  }
  const start = async (): Promise<void> => {
    for (const p of paths) {
      const s = await stat(p).catch(() => undefined)
      if (s?.isDirectory() === true) addTarget(p, { path: p, name: undefined })
      else addTarget(dirname(p), { path: p, name: basename(p) })
    }
    for (const [folder, targets] of byFolder) {
      if (closed) return
      try {
        const w = watch(folder, { persistent: false }, (_event, file) => {
          for (const t of targets) {
            if (t.name === undefined || file === null || file === t.name) fire(t.path)
          }
        })
        w.on('error', () => w.close())
        watchers.push(w)
      } catch {
        // no watch on this folder (gone, unsupported): the stat poll below still sees changes
      }
    }
  }

  const last = new Map<string, string>()
  let polling = false
  const poll = async (): Promise<void> => {
    if (polling || closed) return
    polling = true
    try {
      for (const p of paths) {
        const sig = await signature(p)
        const before = last.get(p)
        last.set(p, sig)
        if (before !== undefined && before !== sig) fire(p)
      }
    } finally {
      polling = false
    }
  }
  const ready = poll().then(start)
  const interval = setInterval(() => void poll(), pollMs)
  interval.unref()

  return {
    ready,
    close() {
      closed = true
      clearInterval(interval)
      if (timer !== undefined) clearTimeout(timer)
      for (const w of watchers) w.close()
    }
  }
}
