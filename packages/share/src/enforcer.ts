import {
  type Decision,
  type DecisionRecord,
  type DecisionSink,
  type LogPeer,
  type PeerInfo,
  type PeerguardError,
  recordOrRefuse
} from '@peerguard/interface'
import { type AccessRequest, type Authorizer, type ShareVerb, shareResource } from './authorize.js'
import { ShareDeniedError } from './errors.js'
import { formatSharePath, parseSharePath } from './paths.js'

export interface EnforcerOptions {
  shareName: string
  mode: 'plain' | 'hardened'
  /** Absent in plain mode: everything is allowed (and logged as such). */
  authorize: Authorizer | undefined
  log: DecisionSink | undefined
}

/**
 * The share's policy enforcement point: parses a path, asks the authorizer about (peer, verb,
 * resource), records the decision in the log, and only then lets the operation touch the disk.
 * A path refusal is recorded as a denial too, so probing attacks are on the record.
 */
export class Enforcer {
  readonly shareName: string
  readonly mode: 'plain' | 'hardened'
  #authorize: Authorizer | undefined
  #log: DecisionSink | undefined

  constructor(options: EnforcerOptions) {
    this.shareName = options.shareName
    this.mode = options.mode
    this.#authorize = options.authorize
    this.#log = options.log
  }

  /** Parse the path, ask the policy, log the decision; throws on refusal. */
  async check(peer: PeerInfo, verb: ShareVerb, rawPath: unknown, field = 'path', size?: number): Promise<string[]> {
    const action = verb === 'list' || verb === 'get' ? 'read' : 'write'
    let names: string[]
    try {
      names = parseSharePath(rawPath, field)
    } catch (err) {
      const shown = typeof rawPath === 'string' ? rawPath.slice(0, 256) : String(rawPath)
      await this.record({
        kind: 'operation',
        allowed: false,
        code: (err as PeerguardError).code,
        reason: (err as Error).message,
        peer: logPeer(peer),
        action,
        verb,
        resource: `share:${this.shareName}/${JSON.stringify(shown).slice(1, -1)}`
      })
      throw err
    }
    return this.authorize(peer, verb, names, size === undefined ? {} : { size })
  }

  /**
   * Ask about already-parsed `names`, log the decision, throw `share-denied` on a denial.
   * `scope: 'tree'` asks about the whole subtree (SPEC.md §8); its log entry says so in the reason.
   */
  async authorize(
    peer: PeerInfo,
    verb: ShareVerb,
    names: readonly string[],
    options: { scope?: 'path' | 'tree'; size?: number } = {}
  ): Promise<string[]> {
    const { request, decision } = await this.#decide(peer, verb, names, options)
    const subtree = options.scope === 'tree' ? 'the whole subtree: ' : ''
    await this.record({
      kind: 'operation',
      allowed: decision.allowed,
      code: decision.code,
      reason: subtree + decision.reason,
      peer: logPeer(peer),
      action: request.action,
      verb,
      resource: request.resource,
      ...(decision.rule === undefined
        ? {}
        : { rule: { id: decision.rule.id, ...(decision.rule.source === undefined ? {} : { source: decision.rule.source }) } })
    })
    if (!decision.allowed)
      throw new ShareDeniedError(`${verb} ${request.resource}${subtree === '' ? '' : ' (subtree)'}: ${decision.reason}`, {
        details: { rule: decision.rule?.id, decision: decision.code }
      })
    return [...names]
  }

  /**
   * Ask without logging and without acting: used to choose semantics (drop-box, SPEC.md §5.4) or
   * to know whether a further, logged check is needed (rename, §8). An authorizer error is a
   * `deny-error` decision.
   */
  async query(
    peer: PeerInfo,
    verb: ShareVerb,
    names: readonly string[],
    options: { scope?: 'path' | 'tree' } = {}
  ): Promise<Decision> {
    return (await this.#decide(peer, verb, names, options)).decision
  }

  async #decide(
    peer: PeerInfo,
    verb: ShareVerb,
    names: readonly string[],
    options: { scope?: 'path' | 'tree'; size?: number }
  ): Promise<{ request: AccessRequest; decision: Decision }> {
    const path = formatSharePath(names)
    const request: AccessRequest = {
      verb,
      action: verb === 'list' || verb === 'get' ? 'read' : 'write',
      resource: shareResource(this.shareName, path),
      path,
      encrypted: this.mode === 'hardened',
      ...(options.size === undefined ? {} : { size: options.size }),
      ...(options.scope === undefined ? {} : { scope: options.scope })
    }
    if (this.#authorize === undefined)
      return {
        request,
        decision: { allowed: true, code: 'allow', reason: 'plain mode: every operation is allowed', matchedGroups: [] }
      }
    try {
      const decision = await this.#authorize(peer, request)
      if (typeof decision !== 'object' || decision === null || typeof decision.allowed !== 'boolean')
        throw new TypeError('authorizer returned no decision')
      return { request, decision }
    } catch (err) {
      return {
        request,
        decision: {
          allowed: false,
          code: 'deny-error',
          reason: `the authorizer failed: ${err instanceof Error ? err.message : String(err)}`,
          matchedGroups: []
        }
      }
    }
  }

  /** Append a decision before acting; a log that cannot be written refuses the operation (fail closed). */
  async record(record: DecisionRecord): Promise<void> {
    // Fail closed: an operation whose decision cannot be recorded does not run (`log-unavailable`).
    await recordOrRefuse(this.#log, record)
  }
}

/** The peer as written in a decision-log entry. */
export function logPeer(peer: PeerInfo): LogPeer {
  return {
    peerId: peer.peerId,
    ...(peer.name === undefined ? {} : { name: peer.name }),
    ...(peer.groups.length === 0 ? {} : { groups: [...peer.groups] }),
    ...(peer.address === undefined ? {} : { address: peer.address })
  }
}
