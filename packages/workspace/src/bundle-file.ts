/**
 * The newest applied bundle on disk: `<dir>/bundle.pgwb`, replaced atomically (readers see the
 * old or the new bundle, never a part), read back at start-up and verified like any received one.
 * Beside it `<dir>/bundle.floor` holds the newest version applied (decimal), written before the
 * bundle is applied: when the bundle file is lost or damaged, or the member died between applying
 * a bundle and storing it, nothing older than that version is taken (or re-applied) again.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { MAX_BUNDLE_BYTES } from './bundle.js'

export const BUNDLE_FILE = 'bundle.pgwb'
export const FLOOR_FILE = 'bundle.floor'

export async function saveBundleFile(dir: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(join(dir, BUNDLE_FILE), bytes, { mode: 0o644 })
}

/** Record `version` as the floor (before the bundle is applied; lowered again if applying fails). */
export async function saveFloorFile(dir: string, version: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(join(dir, FLOOR_FILE), `${version}\n`, { mode: 0o644 })
}

/** The newest version ever applied here (0: none, or no floor kept). A damaged floor is `workspace-bundle-malformed`. */
export async function readFloorFile(dir: string): Promise<number> {
  let text: string
  try {
    text = await readFile(join(dir, FLOOR_FILE), { encoding: 'latin1' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
  if (!/^(0|[1-9]\d{0,15})\n?$/.test(text) || !Number.isSafeInteger(Number(text.trim())))
    throw new PeerguardError('workspace-bundle-malformed', `${join(dir, FLOOR_FILE)}: expected a version number`)
  return Number(text.trim())
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
