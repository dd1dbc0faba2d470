import { lstat, realpath } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { PathRefusedError } from './errors.js'
import { fsError } from './fs-errors.js'

/** Longest share path, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096
/** Longest single name, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255
/** Prefix of the server's temporary upload files; reserved, never reachable by a client. */
export const TEMP_PREFIX = '.pgtmp-'

const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Check a share path (SPEC.md §5) without touching the disk and return its names.
 * `""`, `"."` and `"/"`-free empty segments mean the share root (an empty list).
 */
export function parseSharePath(path: unknown, name = 'path'): string[] {
  if (typeof path !== 'string')
    throw new PathRefusedError('invalid-argument', `${name}: expected string, got ${path === null ? 'null' : typeof path}`)
  if (path.includes('\0')) throw new PathRefusedError('share-path-invalid', `${name}: contains a NUL byte`)
  if (CONTROL.test(path)) throw new PathRefusedError('share-path-invalid', `${name}: contains a control character`)
  if (path.includes('\\')) throw new PathRefusedError('share-path-invalid', `${name}: contains a backslash (use /)`)
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES)
    throw new PathRefusedError('share-path-too-long', `${name}: longer than ${MAX_PATH_BYTES} bytes`)
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path))
    throw new PathRefusedError('share-path-traversal', `${name}: absolute paths are refused`)
  const names: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') throw new PathRefusedError('share-path-traversal', `${name}: ".." is refused`)
    if (Buffer.byteLength(seg, 'utf8') > MAX_NAME_BYTES)
      throw new PathRefusedError('share-path-too-long', `${name}: a name is longer than ${MAX_NAME_BYTES} bytes`)
    if (seg.startsWith(TEMP_PREFIX))
      throw new PathRefusedError('share-path-invalid', `${name}: names starting with ${TEMP_PREFIX} are reserved`)
    names.push(seg)
  }
  return names
}

/** The canonical text of a parsed path (`a/b/c`; `""` for the root). */
export function formatSharePath(names: readonly string[]): string {
  return names.join('/')
}

function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)
}

/**
 * Resolve existing `names` under the real share root, following symbolic links only while their
 * targets stay inside the root. Returns the real path.
 */
export async function resolveExisting(rootReal: string, names: readonly string[]): Promise<string> {
  const lexical = join(rootReal, ...names)
  let real: string
  try {
    real = await realpath(lexical)
  } catch (err) {
    throw await explainMissing(rootReal, names, err)
  }
  if (!inside(rootReal, real))
    throw new PathRefusedError(
      'share-symlink-escape',
      `${formatSharePath(names)}: leads outside the share through a symbolic link`
    )
  return real
}

/**
 * Resolve the parent of `names` (which must exist and stay inside the root) and return the path
 * the last name would have there, plus what is there now (undefined when nothing).
 */
export async function resolveForWrite(
  rootReal: string,
  names: readonly string[]
): Promise<{ parent: string; target: string; existing: import('node:fs').Stats | undefined }> {
  if (names.length === 0) throw new PathRefusedError('share-is-directory', 'the share root itself cannot be written')
  const parent = await resolveExisting(rootReal, names.slice(0, -1))
  const target = join(parent, names[names.length - 1] as string)
  let existing: import('node:fs').Stats | undefined
  try {
    existing = await lstat(target)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, formatSharePath(names))
  }
  if (existing?.isSymbolicLink() === true) {
    // Writing replaces the link itself, but a link is followed by readers: refuse one that escapes.
    await resolveExisting(rootReal, names)
  }
  return { parent, target, existing }
}

async function explainMissing(rootReal: string, names: readonly string[], err: unknown): Promise<Error> {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') {
    // A dangling symbolic link that points outside is an escape, not a missing file.
    for (let i = 1; i <= names.length; i++) {
      const partial = join(rootReal, ...names.slice(0, i))
      const st = await lstat(partial).catch(() => undefined)
      if (st === undefined) break
      if (st.isSymbolicLink()) {
        const target = await import('node:fs/promises').then((fs) => fs.readlink(partial)).catch(() => '')
        const absolute = target.startsWith('/') ? target : join(partial, '..', target)
        if (!inside(rootReal, absolute))
          return new PathRefusedError(
            'share-symlink-escape',
            `${formatSharePath(names)}: leads outside the share through a symbolic link`
          )
      }
    }
  }
  if (code === 'ELOOP') return new PathRefusedError('share-symlink-escape', `${formatSharePath(names)}: too many symbolic links`)
  return fsError(err, formatSharePath(names))
}
