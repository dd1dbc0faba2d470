/**
 * File operations decoded from cleartext share traffic (the plain peerguard share, SMB tree
 * connects and creates, FTP commands, HTTP/WebDAV methods), named with the policy's verbs so each
 * one can be judged by `Policy.decide` on its own path — not the whole share.
 */

/** The policy verbs a share operation maps to (`@peerguard/policy` VERBS, share SPEC §8). */
export type OperationVerb = 'list' | 'get' | 'put' | 'delete' | 'rename'

/** One operation seen on the wire. */
export interface WireOperation {
  readonly verb: OperationVerb
  /**
   * Path inside the share, `/`-separated without a leading `/` (`""` = the share root). For
   * protocols that name the share on the wire (SMB), `share` says which; otherwise the server's
   * share from the inventory applies.
   */
  readonly path: string
  /** The share named on the wire (SMB tree name's last component), when the protocol names one. */
  readonly share?: string
  /** The protocol command it was decoded from (`STOR`, `PUT`, `write`, `CREATE`, `TREE_CONNECT`). */
  readonly command: string
  /** Frame of the request (1-based). */
  readonly frame: number
  /** Seconds since the epoch (the request's packet). */
  readonly time: number
}

/** Operations kept per flow (the first ones); the rest are counted. */
export const MAX_OPERATIONS_PER_FLOW = 64

const VERBS: ReadonlySet<string> = new Set(['list', 'get', 'put', 'delete', 'rename'])

/** True for a policy verb a share operation can have. */
export function isOperationVerb(v: unknown): v is OperationVerb {
  return typeof v === 'string' && VERBS.has(v)
}

/**
 * Normalise a path from the wire into a share-relative policy path: backslashes become `/`,
 * leading and doubled separators and `.` segments go. `..` is kept (the policy refuses it as
 * not normalised, which is what a server should have done too).
 */
export function sharePath(raw: string): string {
  return raw
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/')
}

/** The policy resource of an operation: `share:<share>` or `share:<share>/<path>`. */
export function operationResource(share: string, path: string): string {
  const p = sharePath(path)
  return p === '' ? `share:${share}` : `share:${share}/${p}`
}

/**
 * The verb of an SMB create (SMB2 CREATE, [MS-SMB2] 2.2.13; SMB1 NT_CREATE_ANDX, [MS-CIFS]
 * 2.2.4.64): delete-on-close is a delete; write access or a disposition that creates or
 * overwrites is a put; read access is a get (a list for a directory); attributes only is a list.
 */
export function smbCreateVerb(desiredAccess: number, disposition: number, createOptions: number): OperationVerb {
  const FILE_DIRECTORY_FILE = 0x1
  const FILE_DELETE_ON_CLOSE = 0x1000
  // FILE_WRITE_DATA | FILE_APPEND_DATA | GENERIC_WRITE | GENERIC_ALL
  const WRITE = 0x2 | 0x4 | 0x40000000 | 0x10000000
  // FILE_READ_DATA | GENERIC_READ | GENERIC_ALL | MAXIMUM_ALLOWED
  const READ = 0x1 | 0x80000000 | 0x10000000 | 0x02000000
  if (createOptions & FILE_DELETE_ON_CLOSE) return 'delete'
  // FILE_SUPERSEDE 0, FILE_CREATE 2, FILE_OVERWRITE 4, FILE_OVERWRITE_IF 5
  if (desiredAccess & WRITE || disposition === 0 || disposition === 2 || disposition === 4 || disposition === 5) return 'put'
  if (desiredAccess & READ) return createOptions & FILE_DIRECTORY_FILE ? 'list' : 'get'
  return 'list'
}

/** The share name of an SMB tree path (`\\server\docs` → `docs`). */
export function smbShareName(treePath: string): string {
  const parts = treePath.split('\\').filter((p) => p !== '')
  return parts.slice(1).join('/') || (parts[0] ?? '')
}
