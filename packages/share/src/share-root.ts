import { constants, type Stats } from 'node:fs'
import { type FileHandle, lstat, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { PathRefusedError, ShareError } from './errors.js'
import { fsError } from './fs-errors.js'
import { formatSharePath, resolveExisting, resolveForWrite, TEMP_PREFIX } from './paths.js'
import { AtomicUpload, type WriteMode } from './upload.js'

/** Most entries one `list` returns (SPEC.md §4). */
export const MAX_LIST_ENTRIES = 10_000

export interface ListEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink' | 'other'
  readonly size: number
  readonly mtimeMs: number
}

/** A file opened for a ranged read: one descriptor, so the reader sees one whole version. */
export interface OpenedRead {
  readonly handle: FileHandle
  readonly size: number
  readonly mtimeMs: number
  readonly offset: number
  readonly length: number
  readonly label: string
}

export function typeOf(st: Stats): ListEntry['type'] {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  return 'other'
}

/**
 * The filesystem side of a share: every operation on already-parsed, already-authorised names,
 * confined to the real root (paths.ts), with errors mapped to stable codes and writers to one path
 * serialised. No networking here.
 */
export class ShareRoot {
  readonly real: string
  #locks = new Map<string, Promise<void>>()

  constructor(realRoot: string) {
    this.real = realRoot
  }

  async list(names: readonly string[]): Promise<{ entries: ListEntry[]; truncated: boolean }> {
    const label = formatSharePath(names)
    const dir = await resolveExisting(this.real, names)
    let dirents: import('node:fs').Dirent[]
    try {
      dirents = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      throw fsError(err, label)
    }
    const entries: ListEntry[] = []
    let truncated = false
    for (const d of dirents) {
      if (d.name.startsWith(TEMP_PREFIX)) continue
      if (entries.length >= MAX_LIST_ENTRIES) {
        truncated = true
        break
      }
      const st = await lstat(join(dir, d.name)).catch(() => undefined)
      if (st !== undefined) entries.push({ name: d.name, type: typeOf(st), size: st.size, mtimeMs: st.mtimeMs })
    }
    entries.sort((a, b) => a.name.localeCompare(b.name))
    return { entries, truncated }
  }

  async stat(names: readonly string[]): Promise<{ type: ListEntry['type']; size: number; mtimeMs: number }> {
    const real = await resolveExisting(this.real, names)
    const st = await stat(real).catch((err) => Promise.reject(fsError(err, formatSharePath(names))))
    return { type: typeOf(st), size: st.size, mtimeMs: st.mtimeMs }
  }

  /**
   * Open a regular file for reading a range. Special files are refused by `stat` before `open`
   * (opening a device can have side effects); `O_NONBLOCK | O_NOFOLLOW` and an inode re-check
   * catch a swap between the check and the open.
   */
  async openRead(
    names: readonly string[],
    range: { offset?: unknown; length?: unknown; ifMatch?: unknown }
  ): Promise<OpenedRead> {
    const label = formatSharePath(names)
    const real = await resolveExisting(this.real, names)
    const before = await stat(real).catch((err) => Promise.reject(fsError(err, label)))
    if (before.isDirectory()) throw new ShareError('share-is-directory', `${label}: is a directory`)
    if (!before.isFile()) throw new PathRefusedError('share-not-regular-file', `${label}: not a regular file`)
    const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch((err) =>
      Promise.reject(fsError(err, label))
    )
    try {
      const st = await handle.stat()
      if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev)
        throw new ShareError('share-file-changed', `${label}: changed while opening`)
      const offset = range.offset ?? 0
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || offset > st.size)
        throw new ShareError('share-range-invalid', `${label}: offset outside the file (size ${st.size})`)
      const length = range.length ?? st.size - offset
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || offset + length > st.size)
        throw new ShareError('share-range-invalid', `${label}: range outside the file (size ${st.size})`)
      const ifMatch = range.ifMatch as { size?: unknown; mtimeMs?: unknown } | undefined
      if (
        ifMatch !== undefined &&
        (typeof ifMatch !== 'object' || ifMatch === null || ifMatch.size !== st.size || ifMatch.mtimeMs !== st.mtimeMs)
      ) {
        throw new ShareError('share-file-changed', `${label}: the file changed since the download began`)
      }
      return { handle, size: st.size, mtimeMs: st.mtimeMs, offset, length, label }
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
  }

  /**
   * Start an atomic upload to `names` and run `body` with it while holding the path's lock, so a
   * second writer waits until this one has committed or aborted.
   */
  async write<T>(
    names: readonly string[],
    mode: WriteMode,
    size: number,
    body: (upload: AtomicUpload) => Promise<T>
  ): Promise<T> {
    const label = formatSharePath(names)
    const { parent, target, existing } = await resolveForWrite(this.real, names)
    if (existing?.isDirectory() === true) throw new ShareError('share-is-directory', `${label}: is a directory`)
    if (existing !== undefined && !existing.isFile() && !existing.isSymbolicLink())
      throw new PathRefusedError('share-not-regular-file', `${label}: not a regular file`)
    if (mode === 'create' && existing !== undefined) throw new ShareError('share-already-exists', `${label}: already exists`)
    return this.#locked(target, async () => {
      const current = await lstat(target).catch(() => undefined)
      if (mode === 'create' && current !== undefined) throw new ShareError('share-already-exists', `${label}: already exists`)
      const upload = await AtomicUpload.begin(parent, target, current?.isFile() === true ? current : undefined, mode, size, label)
      try {
        return await body(upload)
      } finally {
        await upload.abort() // a no-op after a commit; removes the temporary file otherwise
      }
    })
  }

  /** Delete a file, a symbolic link (not its target) or an empty directory. */
  async remove(names: readonly string[]): Promise<void> {
    if (names.length === 0) throw new PathRefusedError('share-is-directory', 'the share root cannot be deleted')
    const label = formatSharePath(names)
    const { target, existing } = await resolveForWrite(this.real, names)
    if (existing === undefined) throw new ShareError('share-not-found', `${label}: no such file`)
    await this.#locked(target, async () => {
      try {
        if (existing.isDirectory()) await rmdir(target)
        else await unlink(target)
      } catch (err) {
        throw fsError(err, label)
      }
    })
  }

  async rename(from: readonly string[], to: readonly string[], overwrite: boolean): Promise<void> {
    if (from.length === 0 || to.length === 0) throw new PathRefusedError('share-is-directory', 'the share root cannot be renamed')
    const src = await resolveForWrite(this.real, from)
    const dst = await resolveForWrite(this.real, to)
    const label = formatSharePath(to)
    if (src.existing === undefined) throw new ShareError('share-not-found', `${formatSharePath(from)}: no such file`)
    if (dst.existing !== undefined && !overwrite) throw new ShareError('share-already-exists', `${label}: already exists`)
    await this.#locked(dst.target, async () => {
      try {
        if (!overwrite && (await lstat(dst.target).catch(() => undefined)) !== undefined)
          throw new ShareError('share-already-exists', `${label}: already exists`)
        await rename(src.target, dst.target)
      } catch (err) {
        throw fsError(err, label)
      }
    })
  }

  async mkdir(names: readonly string[], parents: boolean): Promise<void> {
    if (names.length === 0) throw new ShareError('share-already-exists', 'the share root exists')
    // the deepest existing ancestor (resolved inside the root), then create the rest
    let i = names.length - 1
    while (i > 0 && (await lstat(join(this.real, ...names.slice(0, i))).catch(() => undefined)) === undefined) i--
    if (i < names.length - 1 && !parents)
      throw new ShareError('share-not-found', `${formatSharePath(names.slice(0, -1))}: no such directory`)
    const base = await resolveExisting(this.real, names.slice(0, i))
    try {
      await mkdir(join(base, ...names.slice(i)), { recursive: parents })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && parents) return
      throw fsError(err, formatSharePath(names))
    }
  }

  /** Run `fn` holding the lock of one target path. */
  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => {
      release = r
    })
    const chained = prev.then(() => mine)
    this.#locks.set(key, chained)
    await prev
    try {
      return await fn()
    } finally {
      release()
      if (this.#locks.get(key) === chained) this.#locks.delete(key)
    }
  }
}
