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
