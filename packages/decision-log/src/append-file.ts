import { open } from 'node:fs/promises'

/**
 * The file operations the decision log needs: `node:fs/promises` FileHandle fits. Tests wrap a real
 * handle to inject short writes and ENOSPC.
 */
export interface LogFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: null): Promise<{ bytesWritten: number }>
  datasync(): Promise<void>
  truncate(length: number): Promise<void>
  close(): Promise<void>
}

/** Opens the log for appending (`O_APPEND`, mode 0600). */
export type LogFileOpener = (path: string) => Promise<LogFileHandle>

export const openForAppend: LogFileOpener = (path) => open(path, 'a', 0o600)

/**
 * An append-only file that only ever holds whole appends. `append(data)` writes all of `data`
 * (looping over short writes) and, when asked, syncs it; if anything fails, the file is cut back to
 * its length before the call and the error is thrown — a fragment is never left for the next append
 * to follow. If even the cut fails, the next append repeats it before writing anything.
 */
export class AppendFile {
  #handle: LogFileHandle | undefined
  #size: number
  #dirty = false

  /** `size`: the current length of the file, all of it whole entries. */
  constructor(handle: LogFileHandle, size: number) {
    this.#handle = handle
    this.#size = size
  }

  /** Length of the file in bytes (whole appends only). */
  get size(): number {
    return this.#size
  }

  async append(data: Uint8Array, sync: boolean): Promise<void> {
    const handle = this.#handle
    if (handle === undefined) throw Object.assign(new Error('the file is closed'), { code: 'EBADF' })
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
      if (sync) await handle.datasync()
    } catch (err) {
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
