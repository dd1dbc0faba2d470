import { PathRefusedError } from './errors.js'

/** Longest share path, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096
/** Longest single name, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255
/** Prefix of the server's temporary upload files; reserved, never reachable by a client. */
export const TEMP_PREFIX = '.pgtmp-'

const CONTROL = /[\u0000-\u001f\u007f]/
/** A lone UTF-16 surrogate (in `u` mode a well-formed pair is one code point, outside this range). */
const LONE_SURROGATE = /[\ud800-\udfff]/u

/**
 * Check a share path (SPEC.md §5) without touching the disk and return its names.
 * `""`, `"."` and `"/"`-free empty segments mean the share root (an empty list).
 */
export function parseSharePath(path: unknown, name = 'path'): string[] {
  if (typeof path !== 'string')
    throw new PathRefusedError('invalid-argument', `${name}: expected string, got ${path === null ? 'null' : typeof path}`)
  if (path.includes('\0')) throw new PathRefusedError('share-path-invalid', `${name}: contains a NUL byte`)
  if (CONTROL.test(path)) throw new PathRefusedError('share-path-invalid', `${name}: contains a control character`)
  // the filesystem gets U+FFFD for a lone surrogate: the policy would judge another name than the one opened
  if (LONE_SURROGATE.test(path))
    throw new PathRefusedError('share-path-invalid', `${name}: not well-formed Unicode (a lone surrogate)`)
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

/** Longest extension kept at the end of a drop-box name (`report~1a2b…c.pdf`). */
const MAX_EXT_CHARS = 16

/**
 * The name a drop-box upload gets when its name is taken (SPEC.md §5.4): `<base>~<tag><ext>`, e.g.
 * `report.pdf` + `0123456789ab` → `report~0123456789ab.pdf`, shortened to fit NAME_MAX.
 */
export function dropBoxName(name: string, tag: string): string {
  const dot = name.lastIndexOf('.')
  const hasExt = dot > 0 && name.length - dot <= MAX_EXT_CHARS
  let base = hasExt ? name.slice(0, dot) : name
  const ext = hasExt ? name.slice(dot) : ''
  const tail = `~${tag}${ext}`
  while (base.length > 0 && Buffer.byteLength(base + tail, 'utf8') > MAX_NAME_BYTES) base = [...base].slice(0, -1).join('')
  return base + tail
}
