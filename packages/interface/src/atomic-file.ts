import { randomBytes } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PeerguardError } from './errors.js'

export interface WriteFileAtomicOptions {
  /** File mode of the new file. Default 0o600 (owner read/write only). */
  mode?: number
  /** Fail with `already-exists` instead of replacing an existing file. Default false. */
  exclusive?: boolean
}

/**
 * Write `data` to `path` atomically: write a temporary file in the same directory, fsync it,
 * rename it over `path`, then fsync the directory. Readers see the old or the new content,
 * never a part; a crash leaves at most a stray `.tmp` file, never a half-written `path`.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {}
): Promise<void> {
  const mode = options.mode ?? 0o600
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  let handle: import('node:fs/promises').FileHandle | undefined
  try {
    handle = await open(tmp, 'wx', mode)
    await handle.writeFile(data)
    await handle.chmod(mode)
    await handle.sync()
    await handle.close()
    handle = undefined
    if (options.exclusive === true) {
      const { link } = await import('node:fs/promises')
      // link() fails if the target exists: an atomic create-if-absent.
      await link(tmp, path)
      await unlink(tmp)
    } else {
      await rename(tmp, path)
    }
    await fsyncDir(dir)
  } catch (err) {
    await handle?.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EEXIST') throw new PeerguardError('already-exists', `${path}: already exists`, { cause: err })
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${dir}: no such directory`, { cause: err })
    throw new PeerguardError('io-error', `${path}: ${e.code ?? 'write failed'}`, { cause: err })
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined)
  if (handle === undefined) return
  try {
    await handle.sync()
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await handle.close()
  }
}
