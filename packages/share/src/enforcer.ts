import { AsyncLocalStorage } from 'node:async_hooks'
import {
  type Decision,
  type DecisionRecord,
  type DecisionSink,
  type PeerInfo,
  type PeerguardError,
  describeValue,
  recordOrRefuse,
  logPeer
} from '@peerguard/interface'
import { type AccessRequest, type Authorizer, type ShareVerb, decidesSubtrees, shareResource } from './authorize.js'
import { ShareDeniedError, ShareError } from './errors.js'
import { formatSharePath, parseSharePath } from './paths.js'

/** Why a subtree question was not put to an authorizer that did not declare `subtrees: true`. */
const UNSUPPORTED = 'the authorizer does not declare that it decides subtrees (subtrees: true)'

/**
 * One protocol operation in progress: the decision entries it made (their `seq`), whether one of
 * them denied it, and what its outcome entry will name. See `Enforcer.within` and `outcome`.
 */
export interface OperationScope {
  readonly op: string
  readonly decisions: number[]
  denied: boolean
  resource?: string
  to?: string
  /** True once the operation's connection was closed (a re-check refused the peer): nothing more is done. */
  readonly closed?: () => boolean
  /**
   * Set when an allowed operation was decided again (a reload overlapped an upload): a denial then
   * ends an operation whose allowed decision is on the record, so it gets a `failed` outcome.
   */
  redecided?: boolean
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
  /** Subtree questions may be asked: no authorizer (plain mode), or one that declares `subtrees: true`. */
  readonly subtrees: boolean
  #authorize: Authorizer | undefined
  #log: DecisionSink | undefined
  #scope = new AsyncLocalStorage<OperationScope>()

  constructor(options: EnforcerOptions) {
    this.shareName = options.shareName
    this.mode = options.mode
    this.#authorize = options.authorize
    this.subtrees = options.authorize === undefined || decidesSubtrees(options.authorize)
    this.#log = options.log
  }

  /** Parse the path, ask the policy, log the decision; throws on refusal. */
  async check(peer: PeerInfo, verb: ShareVerb, rawPath: unknown, field = 'path', size?: number): Promise<string[]> {
    const action = verb === 'list' || verb === 'get' ? 'read' : 'write'
    let names: string[]
    try {
      names = parseSharePath(rawPath, field)
    } catch (err) {
      // name a non-string by its shape: String() would call into a peer's object (`{"toString":1}` throws)
      const shown =
        typeof rawPath === 'string'
          ? rawPath.slice(0, 256)
          : typeof rawPath === 'object' && rawPath !== null
            ? Array.isArray(rawPath)
              ? '(a list)'
              : '(an object)'
            : String(rawPath)
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
    const scope = this.#scope.getStore()
    if (field === 'to' && scope !== undefined) scope.to = shareResource(this.shareName, formatSharePath(names))
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
    if (!decision.allowed && options.scope === 'tree' && !this.subtrees)
      throw new ShareError('share-subtree-unsupported', `${verb} ${request.resource} (subtree): ${decision.reason}`)
    // the entry was being written when a re-check closed the connection (the peer was revoked):
    // the operation does not touch the disk after the revocation applied
    if (decision.allowed && this.#scope.getStore()?.closed?.() === true)
      throw new ShareError('share-connection-closed', `${verb} ${request.resource}: the connection was closed meanwhile`)
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
    if (options.scope === 'tree' && !this.subtrees)
      return {
        request,
        decision: { allowed: false, code: 'deny-error', reason: UNSUPPORTED, matchedGroups: [] }
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
          // an app's authorizer may throw anything: name a non-Error by its shape, never call into it
          reason: `the authorizer failed: ${err instanceof Error && typeof err.message === 'string' ? err.message : describeValue(err)}`,
          matchedGroups: []
        }
      }
    }
  }

  /** Append a decision before acting; a log that cannot be written refuses the operation (fail closed). */
  async record(record: DecisionRecord): Promise<void> {
    const scope = this.#scope.getStore()
    let entry = record
    if (scope !== undefined && record.kind === 'operation') {
      // every decision of one operation names it (a mkdir is decided as `put`) and a rename's destination
      entry = {
        ...record,
        ...(scope.op === record.verb ? {} : { op: scope.op }),
        ...(scope.to === undefined ? {} : { to: scope.to })
      }
      scope.resource ??= record.resource
      if (!record.allowed) scope.denied = true
    }
    // Fail closed: an operation whose decision cannot be recorded does not run (`log-unavailable`).
    const written = await recordOrRefuse(this.#log, entry)
    const seq = (written as { seq?: unknown } | undefined)?.seq
    if (scope !== undefined && record.kind === 'operation' && typeof seq === 'number') scope.decisions.push(seq)
  }

  /** Throw `share-connection-closed` when the operation in progress lost its connection (a re-check refused the peer). */
  assertOpen(): void {
    const scope = this.#scope.getStore()
    if (scope?.closed?.() === true)
      throw new ShareError('share-connection-closed', `${scope.op}: the connection was closed while the operation waited`)
  }

  /** Mark the operation in progress as decided again (see `OperationScope.redecided`). */
  redeciding(): void {
    const scope = this.#scope.getStore()
    if (scope !== undefined) scope.redecided = true
  }

  /** Run one protocol operation `op` in a scope that collects its decisions (for `outcome`). */
  within<T>(scope: OperationScope, fn: () => Promise<T>): Promise<T> {
    return this.#scope.run(scope, fn)
  }

  /**
   * Record what an allowed operation did, AFTER it ran: `ok` or `failed` with the reply's code,
   * bytes and SHA-256 (a successful `list` or `stat` writes nothing: its decision is its record). Nothing is written for an operation refused by a decision (that entry says
   * so) or one that never reached a decision. A failure to write is returned, not thrown: the
   * operation already happened, and its decision is on the record.
   */
  async outcome(peer: PeerInfo, scope: OperationScope, reply: Record<string, unknown>): Promise<unknown> {
    // refused by a decision: that entry is the record — unless it was allowed first (re-decided)
    if ((scope.denied && scope.redecided !== true) || scope.resource === undefined) return undefined
    const ok = reply.ok === true
    // A listing that succeeded changed nothing and carried no content: its allowed decision is its
    // record (log growth: one entry per list/stat, not two). A failed one still gets its outcome.
    if (ok && METADATA_READS.has(scope.op)) return undefined
    const bytes =
      typeof reply.bytes === 'number'
        ? reply.bytes
        : typeof reply.size === 'number' && scope.op === 'write'
          ? reply.size
          : undefined
    const sha256 = typeof reply.sha256 === 'string' && /^[0-9a-f]{64}$/.test(reply.sha256) ? reply.sha256 : undefined
    try {
      await recordOrRefuse(this.#log, {
        kind: 'outcome',
        outcome: ok ? 'ok' : 'failed',
        code: ok ? 'ok' : typeof reply.code === 'string' && reply.code !== '' ? reply.code.slice(0, 128) : 'share-io-error',
        reason: ok ? `${scope.op} done` : typeof reply.message === 'string' ? reply.message.slice(0, 1024) : 'failed',
        peer: logPeer(peer),
        op: scope.op,
        resource: scope.resource,
        ...(scope.to === undefined ? {} : { to: scope.to }),
        ...(ok && bytes !== undefined ? { bytes } : {}),
        ...(ok && sha256 !== undefined ? { sha256 } : {}),
        ...(scope.decisions.length === 0 ? {} : { decisions: scope.decisions.slice(0, 64) })
      })
      return undefined
    } catch (err) {
      return err
    }
  }
}

/** Operations whose success writes no outcome entry (decision-log README, "Log growth"). */
const METADATA_READS = new Set(['list', 'stat'])
