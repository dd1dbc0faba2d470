import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs'
import { type FileHandle, lstat, open, readlink } from 'node:fs/promises'
import { isAbsolute, posix, relative, resolve } from 'node:path'
import { PathRefusedError, ShareError } from './errors.js'
import { fsError } from './fs-errors.js'
import { formatSharePath } from './paths.js'

/** Flags of every directory the share opens: never follow a link, fail on anything but a directory. */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW

/**
 * One directory of the share, held open. `path` is `/proc/self/fd/<fd>`: the kernel resolves that
 * magic link to the directory inode itself, whatever its name is now, so `child(name)` names an
 * entry of exactly this directory and the last name is then looked up (and, with O_NOFOLLOW or by
 * the nature of the call, not followed) inside it. The descriptor is owned: `close()` it once.
 */
export class OpenDir {
  readonly path: string
  #handle: FileHandle | undefined

  constructor(
    handle: FileHandle,
    readonly names: readonly string[],
    readonly dev: bigint,
    readonly ino: bigint
  ) {
    this.#handle = handle
    this.path = `/proc/self/fd/${handle.fd}`
  }

  /** The `/proc/self/fd` path of the entry `name` of this directory. */
  child(name: string): string {
    if (this.#handle === undefined) throw new ShareError('aborted', 'directory handle already closed')
    return `${this.path}/${name}`
  }

  /** True when `other` is the same directory inode. */
  same(other: { dev: bigint; ino: bigint }): boolean {
    return this.dev === other.dev && this.ino === other.ino
  }

  /** fsync the directory (after a rename or link into it), ignoring filesystems that cannot. */
  async sync(): Promise<void> {
    await this.#handle?.sync().catch(() => {})
  }

  async close(): Promise<void> {
    const h = this.#handle
    this.#handle = undefined
    await h?.close().catch(() => {})
  }
}

/**
 * The share root, opened once as a directory descriptor, and the resolver of share paths below
 * it (SPEC.md §5.1): each name is opened relative to the directory before it with
 * `O_DIRECTORY | O_NOFOLLOW`, so no symbolic link is ever followed anywhere in a path and a path
 * names the same inodes however other requests rename directories around it.
 */
export class RootHandle {
  readonly real: string
  #fd: number | undefined

  private constructor(real: string, fd: number) {
    this.real = real
    this.#fd = fd
  }

  /**
   * Open `real` (an absolute path without links) and check that `/proc/self/fd` resolves through
   * it; refuse to run otherwise (`share-platform-unsupported`), since without it paths cannot be
   * confined race-free.
   */
  static open(real: string): RootHandle {
    let fd: number
    try {
      fd = openSync(real, DIR_FLAGS)
    } catch (err) {
      throw fsError(err, '')
    }
    try {
      const direct = fstatSync(fd)
      const viaProc = statSync(`/proc/self/fd/${fd}/.`)
      if (direct.dev !== viaProc.dev || direct.ino !== viaProc.ino) throw new Error('/proc/self/fd resolves elsewhere')
    } catch (err) {
      closeSync(fd)
      throw new ShareError(
        'share-platform-unsupported',
        'the share needs /proc/self/fd (Linux, procfs mounted) to resolve paths without following links; refusing to start',
        { cause: err }
      )
    }
    return new RootHandle(real, fd)
  }

  get closed(): boolean {
    return this.#fd === undefined
  }

  /** Close the root descriptor. The caller makes sure no operation still uses it. */
  close(): void {
    const fd = this.#fd
    this.#fd = undefined
    if (fd !== undefined) closeSync(fd)
  }

  /** Open the directory `names` (relative to the root; `[]` = a new descriptor of the root). */
  async openDir(names: readonly string[]): Promise<OpenDir> {
    if (this.#fd === undefined) throw new ShareError('aborted', 'the share is closing')
    let cur: OpenDir
    try {
      cur = await openAt(`/proc/self/fd/${this.#fd}/.`, [])
    } catch (err) {
      throw fsError(err, '')
    }
    for (let i = 0; i < names.length; i++) {
      try {
        const next = await this.openChild(cur, names[i] as string, formatSharePath(names))
        await cur.close()
        cur = next
      } catch (err) {
        await cur.close()
        throw err
      }
    }
    return cur
  }

  /** Open the directory `name` of `dir` without following a link (errors mapped as `explain` does). */
  async openChild(dir: OpenDir, name: string, label: string): Promise<OpenDir> {
    try {
      return await openAt(dir.child(name), [...dir.names, name])
    } catch (err) {
      throw await this.explain(dir, name, label, err)
    }
  }

  /**
   * Turn an error from opening `name` in `dir` into the share's code: a symbolic link there is
   * `share-symlink-escape` when its target leaves the root, `share-symlink-refused` otherwise.
   */
  async explain(dir: OpenDir, name: string, label: string, err: unknown): Promise<Error> {
    const errno = (err as NodeJS.ErrnoException | undefined)?.code
    if (errno === 'ENOTDIR' || errno === 'ELOOP') {
      const st = await lstat(dir.child(name)).catch(() => undefined)
      if (st?.isSymbolicLink() === true) return this.linkRefusal(dir, name, label)
    }
    return fsError(err, label)
  }

  /** The refusal for the symbolic link `name` in `dir` (its target decides the code, nothing follows it). */
  async linkRefusal(dir: OpenDir, name: string, label: string): Promise<ShareError> {
    const target = await readlink(dir.child(name)).catch(() => '')
    return this.#escapes(dir.names, target)
      ? new PathRefusedError('share-symlink-escape', `${label}: leads outside the share through a symbolic link`)
      : new PathRefusedError('share-symlink-refused', `${label}: is or goes through a symbolic link; links are not followed`)
  }

  /** Whether a link in the directory `dirNames` with text `target` points outside the root (lexically). */
  #escapes(dirNames: readonly string[], target: string): boolean {
    if (target === '') return true
    if (isAbsolute(target)) {
      const rel = relative(this.real, resolve(target))
      return rel === '..' || rel.startsWith('../') || isAbsolute(rel)
    }
    const joined = posix.normalize(posix.join(...dirNames, target))
    return joined === '..' || joined.startsWith('../')
  }
}

/** Open a directory without following a link; errors are the raw errno errors. */
async function openAt(path: string, names: readonly string[]): Promise<OpenDir> {
  const handle = await open(path, DIR_FLAGS)
  try {
    const st = await handle.stat({ bigint: true })
    return new OpenDir(handle, names, st.dev, st.ino)
  } catch (err) {
    await handle.close().catch(() => {})
    throw err
  }
}
