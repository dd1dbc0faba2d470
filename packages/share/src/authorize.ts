import type { DecideRequest, Decision, PeerInfo, PolicyDecider } from '@peerguard/interface'
import { InvalidArgumentError, assertString, isPolicyDecider, policyPeerOf } from '@peerguard/interface'

/** Policy verbs the share asks about (see `@peerguard/policy` actions and SPEC.md §8). */
export type ShareVerb = 'list' | 'get' | 'put' | 'delete' | 'rename'

/** What the share asks before an operation. */
export interface AccessRequest {
  readonly verb: ShareVerb
  /** The verb's class: `read` for list/get, `write` for the rest. */
  readonly action: 'read' | 'write'
  /** `share:<share>/<path>`, or `share:<share>` for the root. */
  readonly resource: string
  /** The share-relative path (`""` for the root). */
  readonly path: string
  /** True when the operation runs over an encrypted, authenticated channel (hardened mode). */
  readonly encrypted: boolean
  /** Bytes a `put` will write (policies may cap upload sizes). */
  readonly size?: number
  /**
   * `path` (default): the resource itself. `tree`: the resource and everything below it — asked
   * for directory renames and removals (SPEC.md §8); allowed only if allowed on the whole subtree.
   * Only asked of an Authorizer that declares `subtrees: true`.
   */
  readonly scope?: 'path' | 'tree'
}

/**
 * Decides one access. May be async; a throw is treated as a denial (fail closed).
 *
 * `subtrees: true` declares that it answers `scope: 'tree'` questions for the resource and
 * everything below it (or denies them). Without it the server asks it no subtree question: a
 * directory rename is refused (`share-subtree-unsupported`), a directory removal (of an empty
 * folder only) is decided on the folder's path (SPEC.md §8). A function that ignores `scope` would
 * otherwise answer for the folder's name alone, and a deny below it would not hold.
 */
export interface Authorizer {
  (peer: PeerInfo, request: AccessRequest): Decision | Promise<Decision>
  readonly subtrees?: boolean
}

/** True when `authorize` declares that it answers subtree questions (`subtrees: true`, exactly). */
export function decidesSubtrees(authorize: Authorizer): boolean {
  return (authorize as { subtrees?: unknown }).subtrees === true
}

/**
 * An Authorizer backed by a policy: asks `policy.decide` about (peer, verb, resource), or
 * `policy.decideTree` for a subtree; a policy without `decideTree` denies every subtree question
 * (fail closed). Declares `subtrees: true`.
 */
export function policyAuthorizer(policy: PolicyDecider): Authorizer {
  if (!isPolicyDecider(policy)) {
    throw new InvalidArgumentError('policy: expected an object with a decide() method')
  }
  const authorize = (peer: PeerInfo, request: AccessRequest): Decision | Promise<Decision> => {
    const question: DecideRequest = {
      peer: policyPeerOf(peer),
      action: request.verb,
      resource: request.resource,
      context: { encrypted: request.encrypted, ...(request.size === undefined ? {} : { size: request.size }) }
    }
    if (request.scope !== 'tree') return policy.decide(question)
    if (typeof policy.decideTree !== 'function')
      return { allowed: false, code: 'deny-error', reason: 'the policy cannot decide subtrees', matchedGroups: [] }
    return policy.decideTree(question)
  }
  // it honours `scope`: decideTree answers for the whole subtree, and without it every subtree question is denied
  return Object.assign(authorize, { subtrees: true as const })
}

/** The resource string of a share path (SPEC.md §8). */
export function shareResource(shareName: string, path: string): string {
  assertString('shareName', shareName, { nonEmpty: true, maxLength: 255 })
  return path === '' ? `share:${shareName}` : `share:${shareName}/${path}`
}
