import { createHash, type Hash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { copyFile, type FileHandle, open, unlink } from 'node:fs/promises'
import { ShareError, UploadVerifyError } from './errors.js'
import { fsError } from './fs-errors.js'
import { TEMP_PREFIX } from './paths.js'
import type { OpenDir } from './root-handle.js'

export type WriteMode = 'create' | 'overwrite' | 'append'

/** Bytes of an upload that may be queued for the disk before the network is paused. */
const PIPELINE_BYTES = 8 * 1024 * 1024

/**
 * Bytes written to the temporary file after which a `datasync` is started in the background
 * (one at a time), so the disk writes the data back while more arrives: the fsync before the
 * commit then has only the tail left to flush (on a 1 GiB upload it took ~0.5 s when it had
 * everything), and the upload's dirty pages stay bounded. It adds durability, never removes a
 * check; its error fails the upload like the final fsync's would.
 */
const EARLY_SYNC_BYTES = 32 * 1024 * 1024

/** Moves a verified temporary file into place (ShareRoot: under the namespace lock, re-resolving the parent). */
export type PlaceUpload = (upload: AtomicUpload) => Promise<void>

export interface UploadOptions {
  /** The target's directory, held open; the upload owns it from `begin` on and closes it when done. */
  readonly dir: OpenDir
  /** The target's name in `dir`. */
  readonly name: string
  readonly mode: WriteMode
  readonly size: number
  /** Share path for messages. */
  readonly label: string
  /** Permission bits of the new file (those of the file it replaces, else 0o644). */
  readonly fileMode: number
  /** For `append`: the current file, opened without following links; `begin` copies and closes it. */
  readonly source?: FileHandle
  /** Drop-box uploads (SPEC.md §5.4): where a `create` goes when `name` is taken. */
  readonly dropName?: string
  readonly place: PlaceUpload
}

/**
 * One upload into a temporary file created in its target's directory through that directory's
 * descriptor. `commit()` checks the declared size and SHA-256, fsyncs, and lets the share root
 * move it into place; `abort()` removes it. The target is never opened for writing, so its old
 * content survives anything that happens before `commit()`.
 */
export class AtomicUpload {
  readonly tempName: string
  readonly dir: OpenDir
  readonly name: string
  readonly mode: WriteMode
  readonly size: number
  readonly label: string
  readonly dropName: string | undefined
  #place: PlaceUpload
  #handle: FileHandle | undefined
  #hash: Hash = createHash('sha256')
  #received = 0
  #position: number
  #done = false
  #chain: Promise<void> = Promise.resolve()
  #inflight = 0
  #unsynced = 0
  #syncing: Promise<void> | undefined
  #failure: ShareError | undefined
  #committing: Promise<unknown> | undefined
  #cleaned: Promise<void> | undefined

  private constructor(options: UploadOptions, tempName: string, handle: FileHandle, position: number) {
    this.dir = options.dir
    this.name = options.name
    this.mode = options.mode
    this.size = options.size
    this.label = options.label
    this.dropName = options.dropName
    this.#place = options.place
    this.tempName = tempName
    this.#handle = handle
    this.#position = position
  }

  /**
   * Create the temporary file (`O_CREAT | O_EXCL | O_NOFOLLOW` in the held directory; for `append`
   * a copy of the source). On failure the directory and the source are closed and nothing is left.
   */
  static async begin(options: UploadOptions): Promise<AtomicUpload> {
    const tempName = `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`
    let handle: FileHandle | undefined
    let created = false
    try {
      handle = await open(
        options.dir.child(tempName),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600
      )
      created = true
      let position = 0
      if (options.source !== undefined) {
        // Both ends are open descriptors: the copy resolves no share path.
        await copyFile(`/proc/self/fd/${options.source.fd}`, `/proc/self/fd/${handle.fd}`, constants.COPYFILE_FICLONE)
        position = (await handle.stat()).size
      }
      await handle.chmod(options.fileMode)
      return new AtomicUpload(options, tempName, handle, position)
    } catch (err) {
      await handle?.close().catch(() => {})
      if (created) await unlink(options.dir.child(tempName)).catch(() => {})
      await options.dir.close()
      throw fsError(err, options.label)
    } finally {
      await options.source?.close().catch(() => {})
    }
  }

  get received(): number {
    return this.#received
  }

  /** The temporary file's `/proc/self/fd` path in its directory. */
  get tempPath(): string {
    return this.dir.child(this.tempName)
  }

  /**
   * Append a chunk; refuses bytes beyond the declared size at once. Disk writes are pipelined:
   * up to PIPELINE_BYTES may be in flight, so the network and the disk work at the same time.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.#done || this.#handle === undefined) throw new ShareError('aborted', `${this.label}: upload already finished`)
    if (this.#failure !== undefined) throw this.#failure
    if (this.#received + chunk.length > this.size)
      throw new UploadVerifyError(`${this.label}: more bytes than the declared size ${this.size}`)
    this.#hash.update(chunk)
    this.#received += chunk.length
    const handle = this.#handle
    const position = this.#position
    this.#position += chunk.length
    this.#inflight += chunk.length
    this.#chain = this.#chain.then(async () => {
      if (this.#failure !== undefined) return
      try {
        let off = 0
        while (off < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, off, chunk.length - off, position + off)
          off += bytesWritten
        }
        this.#unsynced += chunk.length
        if (this.#unsynced >= EARLY_SYNC_BYTES && this.#syncing === undefined) this.#syncEarly(handle)
      } catch (err) {
        this.#failure = fsError(err, this.label)
      } finally {
        this.#inflight -= chunk.length
      }
    })
    if (this.#inflight > PIPELINE_BYTES) await this.#chain
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Start a background `datasync` of what was written so far (EARLY_SYNC_BYTES); a failure fails the upload. */
  #syncEarly(handle: FileHandle): void {
    this.#unsynced = 0
    this.#syncing = handle
      .datasync()
      .catch((err: unknown) => {
        this.#failure ??= fsError(err, this.label)
      })
      .finally(() => {
        this.#syncing = undefined
      })
  }

  /** Verify and move into place. On any failure the temporary file is removed and the target untouched. */
  commit(sha256: string): Promise<{ size: number; sha256: string }> {
    if (this.#done || this.#handle === undefined)
      return Promise.reject(new ShareError('aborted', `${this.label}: upload already finished`))
    this.#done = true
    const run = this.#commit(sha256)
    this.#committing = run.catch(() => {})
    return run
  }

  async #commit(sha256: string): Promise<{ size: number; sha256: string }> {
    try {
      await this.#chain
      await this.#syncing
      if (this.#failure !== undefined) throw this.#failure
      const digest = this.#hash.digest('hex')
      if (this.#received !== this.size)
        throw new UploadVerifyError(`${this.label}: received ${this.#received} bytes, declared ${this.size}`)
      if (digest !== sha256.toLowerCase()) throw new UploadVerifyError(`${this.label}: SHA-256 does not match the declared value`)
      const handle = this.#handle as FileHandle
      try {
        await handle.sync()
        await handle.close()
        this.#handle = undefined
      } catch (err) {
        throw fsError(err, this.label)
      }
      await this.#place(this)
      return { size: this.#received, sha256: digest }
    } finally {
      await this.#cleanup()
    }
  }

  /** Discard the upload (interrupted, cancelled, refused). Idempotent; waits for a commit in progress. */
  async abort(): Promise<void> {
    this.#done = true
    await this.#committing
    await this.#cleanup()
  }

  #cleanup(): Promise<void> {
    this.#cleaned ??= (async () => {
      await this.#chain
      await this.#syncing
      const handle = this.#handle
      this.#handle = undefined
      await handle?.close().catch(() => {})
      await unlink(this.tempPath).catch(() => {}) // ENOENT after a rename commit
      await this.dir.close()
    })()
    return this.#cleaned
  }
}
