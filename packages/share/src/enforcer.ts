import type { DecisionRecord, LogPeer } from '@peerguard/audit'
import type { Decision, PeerInfo, PeerguardError } from '@peerguard/interface'
import { type AccessRequest, type Authorizer, type ShareVerb, shareResource } from './authorize.js'
import { ShareDeniedError, ShareError } from './errors.js'
import { formatSharePath, parseSharePath } from './paths.js'

/** Where decisions go: `@peerguard/audit`'s DecisionLog fits. */
export interface DecisionSink {
  append(record: DecisionRecord): Promise<unknown>
}

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
    const path = formatSharePath(names)
    const request: AccessRequest = {
      verb,
      action,
      resource: shareResource(this.shareName, path),
      path,
      encrypted: this.mode === 'hardened',
      ...(size === undefined ? {} : { size })
    }
    let decision: Decision
    if (this.#authorize === undefined) {
      decision = { allowed: true, code: 'allow', reason: 'plain mode: every operation is allowed', matchedGroups: [] }
    } else {
      try {
        decision = await this.#authorize(peer, request)
        if (typeof decision !== 'object' || decision === null || typeof decision.allowed !== 'boolean')
          throw new TypeError('authorizer returned no decision')
      } catch (err) {
        decision = {
          allowed: false,
          code: 'deny-error',
          reason: `the authorizer failed: ${err instanceof Error ? err.message : String(err)}`,
          matchedGroups: []
        }
      }
    }
    await this.record({
      kind: 'operation',
      allowed: decision.allowed,
      code: decision.code,
      reason: decision.reason,
      peer: logPeer(peer),
      action,
      verb,
      resource: request.resource,
      ...(decision.rule === undefined
        ? {}
        : { rule: { id: decision.rule.id, ...(decision.rule.source === undefined ? {} : { source: decision.rule.source }) } })
    })
    if (!decision.allowed)
      throw new ShareDeniedError(`${verb} ${request.resource}: ${decision.reason}`, {
        details: { rule: decision.rule?.id, decision: decision.code }
      })
    return names
  }

  /** Append a decision before acting; a log that cannot be written refuses the operation (fail closed). */
  async record(record: DecisionRecord): Promise<void> {
    if (this.#log === undefined) return
    try {
      await this.#log.append(record)
    } catch (err) {
      // Fail closed: an operation whose decision cannot be recorded does not run.
      throw new ShareError('io-error', 'the decision log cannot be written; operation refused', { cause: err })
    }
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
