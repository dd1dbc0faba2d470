import { constants, type BigIntStats, type Stats } from 'node:fs'
import { type FileHandle, link, lstat, mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises'
import { PathRefusedError, ShareError } from './errors.js'
import { fsError } from './fs-errors.js'
import { NamespaceLock } from './namespace-lock.js'
import { formatSharePath, TEMP_PREFIX } from './paths.js'
import { type OpenDir, RootHandle } from './root-handle.js'
import { type SweepResult, sweepTemporaryFiles } from './sweep.js'
import { AtomicUpload, type WriteMode } from './upload.js'

/** Most entries one `list` returns (SPEC.md §4). */
export const MAX_LIST_ENTRIES = 10_000
/** Most `lstat` calls one `list` keeps in flight. */
const LIST_STAT_CONCURRENCY = 64

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

/** What is at a path now, without following a link: decides the scope of a rename or a delete. */
export interface Peek {
  readonly type: ListEntry['type']
  readonly dev: bigint
  readonly ino: bigint
  /** Bytes (a file's size decides where a rename may put it). */
  readonly size: number
}

/** The target's folder and, for an append, the current file (open) and its size. */
interface Opened {
  readonly dir: OpenDir
  readonly source: FileHandle | undefined
  readonly fileMode: number
  readonly current?: number
}

export function typeOf(st: Stats | BigIntStats): ListEntry['type'] {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  return 'other'
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT'

/**
 * The filesystem side of a share (SPEC.md §5): every operation on already-parsed, already-
 * authorised names. Paths are resolved from the root descriptor one directory at a time without
 * following links (root-handle.ts), every final system call goes through the parent's
 * `/proc/self/fd` path, and the namespace lock orders resolution against renames. No networking.
 */
export class ShareRoot {
  readonly real: string
  readonly lock = new NamespaceLock()
  #root: RootHandle
  #writers = new Map<string, Promise<void>>()
  /**
   * Run when an operation got the lock or its turn in a path's writer queue, before any system
   * call: the server refuses there an operation whose connection a re-check closed while it waited.
   */
  onTurn: (() => void) | undefined

  /** Opens the root; throws `share-platform-unsupported` where `/proc/self/fd` does not work. */
  constructor(realRoot: string) {
    this.real = realRoot
    this.#root = RootHandle.open(realRoot)
  }

  /** Wait for running operations, then close the root descriptor; later operations are `aborted`. */
  async close(): Promise<void> {
    await this.lock.exclusive(async () => this.#root.close())
  }

  /** Remove temporary upload files older than `before` that a killed server left (sweep.ts). */
  async sweep(before: number): Promise<SweepResult> {
    return sweepTemporaryFiles(this.#root, before, (fn) => this.#shared(fn))
  }

  async list(names: readonly string[]): Promise<{ entries: ListEntry[]; truncated: boolean }> {
    const label = formatSharePath(names)
    return this.#shared(async () => {
      const dir = await this.#root.openDir(names)
      try {
        const dirents = await readdir(dir.path).catch((err) => Promise.reject(fsError(err, label)))
        const names = dirents.filter((name) => !name.startsWith(TEMP_PREFIX))
        const entries: ListEntry[] = []
        // Up to LIST_STAT_CONCURRENCY lstat calls in flight: one at a time, a listing waits behind
        // every other peer's queued file work once per entry. Never more stats than entries kept.
        let next = 0
        while (next < names.length && entries.length < MAX_LIST_ENTRIES) {
          const batch = names.slice(next, next + Math.min(LIST_STAT_CONCURRENCY, MAX_LIST_ENTRIES - entries.length))
          next += batch.length
          const stats = await Promise.all(batch.map((name) => lstat(dir.child(name)).catch(() => undefined)))
          stats.forEach((st, i) => {
            if (st !== undefined) entries.push({ name: batch[i] as string, type: typeOf(st), size: st.size, mtimeMs: st.mtimeMs })
          })
        }
        entries.sort((a, b) => a.name.localeCompare(b.name))
        return { entries, truncated: next < names.length }
      } finally {
        await dir.close()
      }
    })
  }

  /** What is at `names` (a link is reported as `symlink`, never followed). */
  async stat(names: readonly string[]): Promise<{ type: ListEntry['type']; size: number; mtimeMs: number }> {
    return this.#shared(() =>
      this.#lstat(names, async (st) => ({ type: typeOf(st), size: Number(st.size), mtimeMs: Number(st.mtimeMs) }))
    )
  }

  /** Like stat, with the inode: `undefined` when nothing is there. */
  async peek(names: readonly string[]): Promise<Peek | undefined> {
    return this.#shared(() =>
      this.#lstat(names, async (st) => ({ type: typeOf(st), dev: st.dev, ino: st.ino, size: Number(st.size) })).catch((err) => {
        if ((err as ShareError).code === 'share-not-found' && isMissing((err as Error).cause)) return undefined
        throw err
      })
    )
  }

  /**
   * Open a regular file for reading a range. Special files are refused by `lstat` before `open`
   * (opening a device can have side effects); `O_NOFOLLOW | O_NONBLOCK` and an inode re-check
   * catch a swap between the two. The caller streams from the descriptor without the lock.
   */
  async openRead(
    names: readonly string[],
    range: { offset?: unknown; length?: unknown; ifMatch?: unknown }
  ): Promise<OpenedRead> {
    const label = formatSharePath(names)
    if (names.length === 0) throw new ShareError('share-is-directory', '/: is a directory')
    return this.#shared(() =>
      this.#inParent(names, async (dir, name) => {
        const before = await lstat(dir.child(name), { bigint: true }).catch((err) => Promise.reject(fsError(err, label)))
        await this.#refuseSpecial(before, dir, name, label)
        const handle = await open(dir.child(name), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(
          async (err) => Promise.reject(await this.#root.explain(dir, name, label, err))
        )
        try {
          const now = await handle.stat({ bigint: true })
          if (!now.isFile() || now.ino !== before.ino || now.dev !== before.dev)
            throw new ShareError('share-file-changed', `${label}: changed while opening`)
          return { handle, ...checkRange(await handle.stat(), range, label), label }
        } catch (err) {
          await handle.close().catch(() => {})
          throw err
        }
      })
    )
  }

  /**
   * Start an atomic upload to `names` and run `body` with it, holding the path's writer queue (a
   * second writer to the same path waits) but not the namespace lock while data streams.
   * `dropName` (drop-box `create`, SPEC.md §5.4): whether the name exists is not looked at; a
   * taken name makes the commit use `dropName` instead.
   */
  async write<T>(
    names: readonly string[],
    mode: WriteMode,
    size: number,
    options: { dropName?: string; allowAppend?: (resultingSize: number) => Promise<void> },
    body: (upload: AtomicUpload) => Promise<T>
  ): Promise<T> {
    const label = formatSharePath(names)
    if (names.length === 0) throw new PathRefusedError('share-is-directory', 'the share root itself cannot be written')
    const name = names[names.length - 1] as string
    return this.#serialised(label, async () => {
      const { dir, source, fileMode, current } = await this.#shared(async (): Promise<Opened> => {
        const dir = await this.#root.openDir(names.slice(0, -1))
        try {
          if (options.dropName !== undefined) return { dir, source: undefined, fileMode: 0o644 }
          const existing = await lstat(dir.child(name), { bigint: true }).catch((err) =>
            isMissing(err) ? undefined : Promise.reject(fsError(err, label))
          )
          if (existing === undefined) return { dir, source: undefined, fileMode: 0o644 }
          await this.#refuseSpecial(existing, dir, name, label)
          if (mode === 'create') throw new ShareError('share-already-exists', `${label}: already exists`)
          const fileMode = Number(existing.mode) & 0o777
          if (mode !== 'append') return { dir, source: undefined, fileMode }
          const source = await open(dir.child(name), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(
            async (err) => Promise.reject(await this.#root.explain(dir, name, label, err))
          )
          const st = await source.stat({ bigint: true })
          if (!st.isFile() || st.ino !== existing.ino) {
            await source.close()
            throw new ShareError('share-file-changed', `${label}: changed while opening`)
          }
          return { dir, source, fileMode, current: Number(st.size) }
        } catch (err) {
          await dir.close()
          throw err
        }
      })
      // An append makes a file of its current size plus `size`: a size limit is decided on that, in
      // the path's writer queue (another append cannot change it meanwhile), before anything is written
      if (source !== undefined && options.allowAppend !== undefined) {
        try {
          await options.allowAppend((current ?? 0) + size)
        } catch (err) {
          await source.close().catch(() => {})
          await dir.close()
          throw err
        }
      }
      const upload = await AtomicUpload.begin({
        dir,
        name,
        mode,
        size,
        label,
        fileMode,
        ...(source === undefined ? {} : { source }),
        ...(options.dropName === undefined ? {} : { dropName: options.dropName }),
        place: (u) => this.#place(u, names.slice(0, -1))
      })
      try {
        return await body(upload)
      } finally {
        await upload.abort() // waits for a commit in progress; removes the temporary file otherwise
      }
    })
  }

  /**
   * Commit an upload (SPEC.md §5.3): under the shared lock, resolve the parent again from the root;
   * if it is no longer the directory the temporary file was created in (a rename moved or replaced
   * it meanwhile), refuse with `share-file-changed`. Then link (`create`) or rename into place.
   */
  async #place(upload: AtomicUpload, parent: readonly string[]): Promise<void> {
    await this.#shared(async () => {
      const now = await this.#root.openDir(parent)
      try {
        if (!now.same(upload.dir))
          throw new ShareError('share-file-changed', `${upload.label}: its folder was moved or replaced during the upload`)
        if (upload.mode === 'create') {
          try {
            await link(upload.tempPath, now.child(upload.name))
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
            if (upload.dropName === undefined) {
              // the name appeared meanwhile: answer as if the write had come after it
              const st = await lstat(now.child(upload.name), { bigint: true }).catch(() => undefined)
              if (st !== undefined && !st.isFile()) await this.#refuseSpecial(st, now, upload.name, upload.label)
              throw err
            }
            await link(upload.tempPath, now.child(upload.dropName))
          }
        } else {
          await rename(upload.tempPath, now.child(upload.name))
        }
        await now.sync()
      } catch (err) {
        throw fsError(err, upload.label)
      } finally {
        await now.close()
      }
    })
  }

  /**
   * Delete a file or a symbolic link (the link itself) under the shared lock, or an empty
   * directory under the exclusive lock. `seen` is what the caller authorised: a directory is
   * removed only if the same directory inode is still there; a non-directory is unlinked, and
   * unlink(2) cannot remove a directory.
   */
  async remove(names: readonly string[], seen: Peek): Promise<void> {
    if (names.length === 0) throw new PathRefusedError('share-is-directory', 'the share root cannot be deleted')
    const label = formatSharePath(names)
    const run = async () =>
      this.#inParent(names, async (dir, name) => {
        try {
          if (seen.type !== 'dir') return await unlink(dir.child(name))
          const st = await lstat(dir.child(name), { bigint: true })
          if (!st.isDirectory() || st.ino !== seen.ino || st.dev !== seen.dev)
            throw new ShareError('share-file-changed', `${label}: changed during the operation`)
          await rmdir(dir.child(name))
        } catch (err) {
          throw fsError(err, label)
        }
      })
    await (seen.type === 'dir' ? this.#exclusive(run) : this.#shared(run))
  }

  /**
   * Rename under the exclusive lock: nothing else resolves a path meanwhile. `seen` is what the
   * caller authorised at `from` (a directory is authorised as a subtree): the same inode must
   * still be there.
   */
  async rename(from: readonly string[], to: readonly string[], overwrite: boolean, seen: Peek): Promise<void> {
    if (from.length === 0 || to.length === 0) throw new PathRefusedError('share-is-directory', 'the share root cannot be renamed')
    const label = formatSharePath(to)
    if (to.length > from.length && from.every((n, i) => to[i] === n))
      throw new PathRefusedError('share-path-invalid', `${label}: a folder cannot be moved into itself`)
    await this.#exclusive(() =>
      this.#inParent(from, (src, srcName) =>
        this.#inParent(to, async (dst, dstName) => {
          try {
            const st = await lstat(src.child(srcName), { bigint: true })
            if (st.ino !== seen.ino || st.dev !== seen.dev || typeOf(st) !== seen.type)
              throw new ShareError('share-file-changed', `${formatSharePath(from)}: changed during the operation`)
            if (!overwrite && (await lstat(dst.child(dstName)).catch(() => undefined)) !== undefined)
              throw new ShareError('share-already-exists', `${label}: already exists`)
            await rename(src.child(srcName), dst.child(dstName))
            await dst.sync()
            if (!src.same(dst)) await src.sync()
          } catch (err) {
            throw fsError(err, label)
          }
        })
      )
    )
  }

  /**
   * Create a directory (and, with `parents`, its missing ancestors) one name at a time through the
   * descriptor of the directory above it. `allowCreate` is asked about every ancestor this call
   * creates (the caller authorised `names` itself); an existing link on the way is refused.
   */
  async mkdir(names: readonly string[], parents: boolean, allowCreate: (names: string[]) => Promise<void>): Promise<void> {
    if (names.length === 0) throw new ShareError('share-already-exists', 'the share root exists')
    const label = formatSharePath(names)
    await this.#shared(async () => {
      // Under the shared lock no folder on the way can be renamed or removed; only names can
      // appear or vanish, and each step below decides by one system call on the held folder.
      let cur = await this.#root.openDir([])
      try {
        for (let i = 0; i < names.length - 1; i++) {
          const name = names[i] as string
          const prefix = names.slice(0, i + 1)
          let next: OpenDir
          try {
            next = await this.#root.openChild(cur, name, label)
          } catch (err) {
            if (!(err instanceof ShareError && err.code === 'share-not-found')) throw err
            if (!parents) throw new ShareError('share-not-found', `${formatSharePath(names.slice(0, -1))}: no such directory`)
            await allowCreate(prefix)
            await mkdir(cur.child(name)).catch((e) =>
              (e as NodeJS.ErrnoException).code === 'EEXIST' ? undefined : Promise.reject(fsError(e, label))
            )
            next = await this.#root.openChild(cur, name, label)
          }
          await cur.close()
          cur = next
        }
        const last = names[names.length - 1] as string
        try {
          await mkdir(cur.child(last))
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, label)
          const st = await lstat(cur.child(last)).catch(() => undefined)
          if (parents && st?.isDirectory() === true) return
          if (st?.isSymbolicLink() === true) throw await this.#root.linkRefusal(cur, last, label)
          throw new ShareError('share-already-exists', `${label}: already exists`)
        }
        await cur.sync()
      } finally {
        await cur.close()
      }
    })
  }

  /** Run `fn` with the parent directory of `names` open (closed afterwards) and the last name. */
  async #inParent<T>(names: readonly string[], fn: (dir: OpenDir, name: string) => Promise<T>): Promise<T> {
    const dir = await this.#root.openDir(names.slice(0, -1))
    try {
      return await fn(dir, names[names.length - 1] as string)
    } finally {
      await dir.close()
    }
  }

  /** lstat `names` (the root itself for `[]`) without following a link. */
  async #lstat<T>(names: readonly string[], fn: (st: BigIntStats) => Promise<T>): Promise<T> {
    const label = formatSharePath(names)
    if (names.length === 0) {
      const dir = await this.#root.openDir([])
      try {
        return await fn(await lstat(`${dir.path}/.`, { bigint: true })) // the folder, not the /proc link
      } finally {
        await dir.close()
      }
    }
    return this.#inParent(names, async (dir, name) =>
      fn(await lstat(dir.child(name), { bigint: true }).catch((err) => Promise.reject(fsError(err, label))))
    )
  }

  /** Refuse a link (never followed), a directory, or a special file as a file operation's target. */
  async #refuseSpecial(st: BigIntStats, dir: OpenDir, name: string, label: string): Promise<void> {
    if (st.isSymbolicLink()) throw await this.#root.linkRefusal(dir, name, label)
    if (st.isDirectory()) throw new ShareError('share-is-directory', `${label}: is a directory`)
    if (!st.isFile()) throw new PathRefusedError('share-not-regular-file', `${label}: not a regular file`)
  }

  #shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.shared(async () => {
      if (this.#root.closed) throw new ShareError('aborted', 'the share is closing')
      this.onTurn?.()
      return fn()
    })
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.exclusive(async () => {
      if (this.#root.closed) throw new ShareError('aborted', 'the share is closing')
      this.onTurn?.()
      return fn()
    })
  }

  /** Run `fn` after every earlier writer to the same path has finished (SPEC.md §4 write). */
  async #serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#writers.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => {
      release = r
    })
    const chained = prev.then(() => mine)
    this.#writers.set(key, chained)
    await prev
    try {
      this.onTurn?.()
      return await fn()
    } finally {
      release()
      if (this.#writers.get(key) === chained) this.#writers.delete(key)
    }
  }
}

/** Check a read range against the open file (SPEC.md §4 read). */
function checkRange(
  st: Stats,
  range: { offset?: unknown; length?: unknown; ifMatch?: unknown },
  label: string
): { size: number; mtimeMs: number; offset: number; length: number } {
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
  return { size: st.size, mtimeMs: st.mtimeMs, offset, length }
}
