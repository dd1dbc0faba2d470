import { open, stat } from 'node:fs/promises'
import { LogFileChangedError } from './errors.js'

/**
 * The file operations the decision log needs: `node:fs/promises` FileHandle fits. Tests wrap a real
 * handle to inject short writes and ENOSPC.
 */
export interface LogFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: null): Promise<{ bytesWritten: number }>
  datasync(): Promise<void>
  truncate(length: number): Promise<void>
  close(): Promise<void>
  /** `fstat`: each append first checks the file is still the one at the path, and only ours. */
  stat(): Promise<{ dev: number; ino: number; size: number }>
}

/** Opens the log for appending (`O_APPEND`, mode 0600). */
export type LogFileOpener = (path: string) => Promise<LogFileHandle>

export const openForAppend: LogFileOpener = (path) => open(path, 'a', 0o600)

/**
 * An append-only file that only ever holds whole appends. `append(data)` writes all of `data`
 * (looping over short writes) and, when asked, syncs it; if anything fails, the file is cut back to
 * its length before the call and the error is thrown — a fragment is never left for the next append
 * to follow. If even the cut fails, the next append repeats it before writing anything.
 *
 * Given the file's `path`, every append first checks that the path still names the file it holds
 * and that nobody else changed its length; after writing, that the file grew by exactly what it
 * wrote. Otherwise (renamed, deleted, replaced, a second writer) it throws LogFileChangedError and
 * refuses every later append: nothing is written where the path no longer leads, nor after (or
 * cut back over) another writer's bytes.
 */
export class AppendFile {
  #handle: LogFileHandle | undefined
  #size: number
  #dirty = false
  #path: string | undefined
  #changed: LogFileChangedError | undefined

  /** `size`: the current length of the file, all of it whole entries; `path`: where it must stay. */
  constructor(handle: LogFileHandle, size: number, path?: string) {
    this.#handle = handle
    this.#size = size
    this.#path = path
  }

  /**
   * Throws (and stays failed) when the file is not `size` long (undefined: not compared — a fragment
   * of ours may still be there) or, with `atPath`, no longer the file at its path.
   */
  async #checkOurs(handle: LogFileHandle, size: number | undefined, when: string, atPath: boolean): Promise<void> {
    if (this.#changed !== undefined) throw this.#changed
    const path = atPath ? this.#path : undefined
    const [mine, there] = await Promise.all([handle.stat(), path === undefined ? undefined : stat(path).catch(() => null)])
    let why: string | undefined
    if (there === null) why = 'was removed or renamed away'
    else if (there !== undefined && (there.dev !== mine.dev || there.ino !== mine.ino)) why = 'was replaced by another file'
    else if (size !== undefined && mine.size !== size)
      why = `is ${mine.size} bytes ${when}, not ${size}: another process wrote to it`
    if (why === undefined) return
    this.#changed = new LogFileChangedError(
      `${this.#path ?? 'the decision log'}: the decision log file ${why}; the operation is refused, and so is every other until the node restarts (it re-opens and re-verifies the log)`
    )
    throw this.#changed
  }

  /** Length of the file in bytes (whole appends only). */
  get size(): number {
    return this.#size
  }

  async append(data: Uint8Array, sync: boolean): Promise<void> {
    const handle = this.#handle
    if (handle === undefined) throw Object.assign(new Error('the file is closed'), { code: 'EBADF' })
    // after a failed cut-back our own fragment is still there: its length proves nothing; cut it first
    await this.#checkOurs(handle, this.#dirty ? undefined : this.#size, 'before this write', true)
    if (this.#dirty) {
      await handle.truncate(this.#size)
      this.#dirty = false
    }
    let written = 0
    try {
      while (written < data.length) {
        const { bytesWritten } = await handle.write(data, written, data.length - written, null)
        if (!(bytesWritten > 0)) throw Object.assign(new Error('write made no progress'), { code: 'EIO' })
        written += bytesWritten
      }
      // another writer between our check and our write: our bytes are not ours alone to cut back
      await this.#checkOurs(handle, this.#size + data.length, 'after this write', false)
      if (sync) await handle.datasync()
    } catch (err) {
      if (err instanceof LogFileChangedError) throw err
      // Cut back to the last whole append, even after a complete write whose sync failed: the
      // caller is told the append failed, so the bytes must not stay (nor be followed by others).
      this.#dirty = true
      try {
        await handle.truncate(this.#size)
        this.#dirty = false
        await handle.datasync().catch(() => {})
      } catch {
        // stays dirty: the next append cuts back first
      }
      throw err
    }
    this.#size += data.length
  }

  async close(): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    if (handle === undefined) return
    if (this.#dirty) await handle.truncate(this.#size).catch(() => {})
    await handle.close()
  }
}
