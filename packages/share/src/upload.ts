import { createHash, type Hash, randomBytes } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import { copyFile, type FileHandle, link, open, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ShareError, UploadVerifyError } from './errors.js'
import { fsError } from './fs-errors.js'
import { TEMP_PREFIX } from './paths.js'

export type WriteMode = 'create' | 'overwrite' | 'append'

/** Bytes of an upload that may be queued for the disk before the network is paused. */
const PIPELINE_BYTES = 8 * 1024 * 1024

/**
 * One upload into a temporary file beside its target. `commit()` checks the declared size and
 * SHA-256, fsyncs, and renames the file into place; `abort()` removes it. The target is never
 * opened for writing, so its old content survives anything that happens before `commit()`.
 */
export class AtomicUpload {
  readonly temp: string
  #handle: FileHandle | undefined
  #hash: Hash = createHash('sha256')
  #received = 0
  #position: number
  #done = false
  #chain: Promise<void> = Promise.resolve()
  #inflight = 0
  #failure: ShareError | undefined

  private constructor(
    temp: string,
    handle: FileHandle,
    position: number,
    readonly target: string,
    readonly mode: WriteMode,
    readonly size: number,
    readonly label: string
  ) {
    this.temp = temp
    this.#handle = handle
    this.#position = position
  }

  /** Create the temporary file (a copy of the target for `append`). */
  static async begin(
    parent: string,
    target: string,
    existing: Stats | undefined,
    mode: WriteMode,
    size: number,
    label: string
  ): Promise<AtomicUpload> {
    const temp = join(parent, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    const fileMode = existing?.isFile() === true ? existing.mode & 0o777 : 0o644
    let handle: FileHandle | undefined
    try {
      let position = 0
      if (mode === 'append' && existing !== undefined) {
        await copyFile(target, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
        handle = await open(temp, constants.O_WRONLY | constants.O_NOFOLLOW)
        position = (await handle.stat()).size
      } else {
        handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, fileMode)
      }
      await handle.chmod(fileMode)
      return new AtomicUpload(temp, handle, position, target, mode, size, label)
    } catch (err) {
      await handle?.close().catch(() => {})
      await unlink(temp).catch(() => {})
      throw fsError(err, label)
    }
  }

  get received(): number {
    return this.#received
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
      } catch (err) {
        this.#failure = fsError(err, this.label)
      } finally {
        this.#inflight -= chunk.length
      }
    })
    if (this.#inflight > PIPELINE_BYTES) await this.#chain
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Verify and move into place. On any failure the temporary file is removed and the target untouched. */
  async commit(sha256: string): Promise<{ size: number; sha256: string }> {
    const handle = this.#handle
    if (this.#done || handle === undefined) throw new ShareError('aborted', `${this.label}: upload already finished`)
    this.#done = true
    try {
      await this.#chain
      if (this.#failure !== undefined) throw this.#failure
      const digest = this.#hash.digest('hex')
      if (this.#received !== this.size)
        throw new UploadVerifyError(`${this.label}: received ${this.#received} bytes, declared ${this.size}`)
      if (digest !== sha256.toLowerCase()) throw new UploadVerifyError(`${this.label}: SHA-256 does not match the declared value`)
      try {
        await handle.sync()
        await handle.close()
        this.#handle = undefined
        if (this.mode === 'create') {
          await link(this.temp, this.target) // fails with EEXIST when the target appeared meanwhile
          await unlink(this.temp)
        } else {
          await rename(this.temp, this.target)
        }
        await syncDir(join(this.temp, '..'))
      } catch (err) {
        throw fsError(err, this.label)
      }
      return { size: this.#received, sha256: digest }
    } catch (err) {
      await this.#cleanup()
      throw err
    }
  }

  /** Discard the upload (interrupted, cancelled, refused). Idempotent. */
  async abort(): Promise<void> {
    this.#done = true
    await this.#cleanup()
  }

  async #cleanup(): Promise<void> {
    await this.#chain
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close().catch(() => {})
    await unlink(this.temp).catch(() => {})
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r').catch(() => undefined)
  if (h === undefined) return
  await h.sync().catch(() => {})
  await h.close().catch(() => {})
}
