import type { PeerguardCode } from '@peerguard/interface'
import { ShareError } from './errors.js'

const ERRNO_CODES: Record<string, PeerguardCode> = {
  ENOENT: 'share-not-found',
  EEXIST: 'share-already-exists',
  EISDIR: 'share-is-directory',
  ENOTDIR: 'share-not-directory',
  ENOTEMPTY: 'share-directory-not-empty',
  ENOSPC: 'share-disk-full',
  EDQUOT: 'share-disk-full',
  EFBIG: 'share-disk-full',
  EACCES: 'share-permission-denied',
  EPERM: 'share-permission-denied',
  EROFS: 'share-permission-denied',
  ENAMETOOLONG: 'share-path-too-long',
  ELOOP: 'share-symlink-escape'
}

/** Map a filesystem error to a ShareError with a stable code; never leaks server paths. */
export function fsError(err: unknown, path: string): ShareError {
  if (err instanceof ShareError) return err
  const errno = (err as NodeJS.ErrnoException | undefined)?.code ?? ''
  const code = ERRNO_CODES[errno] ?? 'share-io-error'
  return new ShareError(code, `${path === '' ? '/' : path}: ${errno === '' ? 'file operation failed' : errno}`, { cause: err })
}
