/**
 * The newest applied bundle on disk: `<dir>/bundle.pgwb`, replaced atomically (readers see the
 * old or the new bundle, never a part), read back at start-up and verified like any received one.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { MAX_BUNDLE_BYTES } from './bundle.js'

export const BUNDLE_FILE = 'bundle.pgwb'

export async function saveBundleFile(dir: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(join(dir, BUNDLE_FILE), bytes, { mode: 0o644 })
}

/** The stored bundle bytes, or undefined when there is none. */
export async function readBundleFile(dir: string): Promise<Uint8Array | undefined> {
  try {
    const bytes = await readFile(join(dir, BUNDLE_FILE))
    if (bytes.length > MAX_BUNDLE_BYTES)
      throw new PeerguardError('workspace-bundle-malformed', `${join(dir, BUNDLE_FILE)}: more than ${MAX_BUNDLE_BYTES} bytes`)
    return new Uint8Array(bytes)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
