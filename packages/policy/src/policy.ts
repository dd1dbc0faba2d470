import { subject as caslSubject } from '@casl/ability'
import {
  type Clock,
  type DecideRequest,
  type Decision,
  InvalidArgumentError,
  type PolicyDecider,
  type SourceLocation,
  systemClock
} from '@peerguard/interface'
import { type Action, isAction, type Verb, verbsOf } from './actions.js'
import { searchTree } from './automaton.js'
import { type CaslRawRule, caslRulesFor, type PolicyAbility, type RuleMeta } from './casl-rules.js'
import { PolicyUnknownPeerError } from './errors.js'
import { type Explanation, explainRequest } from './explain.js'
import { type LintFinding, lintPolicy } from './lint.js'
import { runPolicyTests, type TestReport } from './policy-tests.js'
import type { PolicyModel, PolicyPeer, RuleModel } from './model.js'
import { canonicalPeerId } from './peer-id.js'
import { type FastRule, RuleSet } from './peer-rules.js'
import { RuleIndex } from './rule-index.js'
import {
  badResourceName,
  type CompiledPattern,
  headOf,
  MAX_RESOURCE_LENGTH,
  type ResourceKind,
  splitResource
} from './resource.js'
import { nearest } from './suggest.js'
import { type RequestContext, type RequestFacts, requestFacts } from './values.js'

/** A question to the policy (declared once, in @peerguard/interface). */
export type { DecideRequest }

/** The decision codes; stable, they go into the decision log. */
export type DecisionCode = 'allow' | 'deny-rule' | 'deny-default' | 'deny-requirement' | 'deny-invalid-resource'

/** A Decision with its code narrowed. Plain data: `JSON.stringify` gives the log entry. */
export interface PolicyDecision extends Decision {
  readonly code: DecisionCode
  /**
   * `decideTree` only, on a denial: one resource of the subtree (the resource itself or one below
   * it) that is denied — a shortest one; `decide()` on it gives the same rule.
   */
  readonly blocked?: string
}

export interface PolicyOptions {
  /** Clock for time windows when a request carries no `time`. Default: the system clock. */
  readonly clock?: Clock
  /** How many peers' compiled rules to keep. Default: 10,000. */
  readonly maxCachedPeers?: number
}

interface PeerRecord {
  readonly tokens: ReadonlySet<string>
  /** Policy groups and `ou:` groups of the peer. */
  readonly groups: readonly string[]
  readonly set: RuleSet
  readonly decisions: Array<PolicyDecision | undefined>
}

const DENY_DEFAULT: PolicyDecision = Object.freeze({
  allowed: false,
  code: 'deny-default',
  reason: 'no rule allows this request (default deny)',
  matchedGroups: Object.freeze([]) as readonly string[]
})

function assertRequest(request: DecideRequest): void {
  if (request === null || typeof request !== 'object') {
    throw new InvalidArgumentError(`request: expected object, got ${request === null ? 'null' : typeof request}`)
  }
  assertPeer(request.peer)
  assertContext(request.context)
}

function assertPeer(peer: PolicyPeer): void {
  if (peer === null || typeof peer !== 'object' || typeof peer.peerId !== 'string') {
    throw new InvalidArgumentError('request.peer: expected { peerId: string, name?, groups?, address? }')
  }
  if (peer.name !== undefined && typeof peer.name !== 'string')
    throw new InvalidArgumentError('request.peer.name: expected string')
  if (peer.groups !== undefined && (!Array.isArray(peer.groups) || peer.groups.some((g) => typeof g !== 'string'))) {
    throw new InvalidArgumentError('request.peer.groups: expected an array of strings')
  }
  if (peer.address !== undefined && typeof peer.address !== 'string')
    throw new InvalidArgumentError('request.peer.address: expected string')
}

function assertContext(ctx: RequestContext | undefined): void {
  if (ctx === undefined) return
  if (ctx === null || typeof ctx !== 'object') throw new InvalidArgumentError('request.context: expected object')
  if (ctx.size !== undefined && (typeof ctx.size !== 'number' || !(ctx.size >= 0))) {
    throw new InvalidArgumentError('request.context.size: expected a number >= 0')
  }
  if (ctx.encrypted !== undefined && typeof ctx.encrypted !== 'boolean')
    throw new InvalidArgumentError('request.context.encrypted: expected boolean')
  if (ctx.time !== undefined && typeof ctx.time !== 'number' && !(ctx.time instanceof Date)) {
    throw new InvalidArgumentError('request.context.time: expected number (ms) or Date')
  }
  if (ctx.address !== undefined && typeof ctx.address !== 'string')
    throw new InvalidArgumentError('request.context.address: expected string')
}

/**
 * A loaded, validated, immutable policy. `decide()` is the hot path: per-peer rule sets are
 * compiled once (through CASL) and cached; a new Policy (a reload) starts with an empty cache.
 */
export class Policy implements PolicyDecider {
  readonly model: PolicyModel
  private readonly clock: Clock
  private readonly now: () => number
  private readonly maxCachedPeers: number
  private readonly metaOf = new WeakMap<object, RuleMeta>()
  private readonly byObject = new WeakMap<object, PeerRecord>()
  private readonly byKey = new Map<string, PeerRecord>()
  private readonly sets = new Map<string, RuleSet>()
  private readonly peersById = new Map<string, string[]>()
  private readonly peersByName = new Map<string, string[]>()
  /** Rules by peer token, groups by member, applicable rules per token set (built on first use). */
  private index: RuleIndex | undefined

  constructor(model: PolicyModel, options: PolicyOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected object')
    this.model = model
    this.clock = options.clock ?? systemClock
    const clock = this.clock
    this.now = () => clock.now()
    this.maxCachedPeers = options.maxCachedPeers ?? 10_000
    for (const def of model.peers.values()) {
      if (def.id !== undefined) this.peersById.set(def.id, [...(this.peersById.get(def.id) ?? []), def.alias])
      else if (def.name !== undefined) this.peersByName.set(def.name, [...(this.peersByName.get(def.name) ?? []), def.alias])
    }
  }

  /** The file the policy came from, when any. */
  get file(): string | undefined {
    return this.model.file
  }

  /** Decide one request. Never throws for a denial; throws InvalidArgumentError for a malformed request. */
  decide(request: DecideRequest): PolicyDecision {
    if (request === null || typeof request !== 'object')
      throw new InvalidArgumentError(`request: expected object, got ${request === null ? 'null' : typeof request}`)
    // The peer is checked in full when it is first seen (record()); the context on every call.
    assertContext(request.context)
    const { action, resource } = request
    if (!isAction(action))
      throw new InvalidArgumentError(
        `request.action: expected one of read, write, list, get, put, delete, rename, print, admin, got ${typeof action === 'string' ? JSON.stringify(action.slice(0, 40)) : typeof action}`
      )
    if (typeof resource !== 'string' || resource.length > MAX_RESOURCE_LENGTH)
      throw new InvalidArgumentError(`request.resource: expected string of at most ${MAX_RESOURCE_LENGTH} characters`)
    const split = splitResource(resource)
    if (split === undefined)
      throw new InvalidArgumentError(
        `request.resource: expected share:, swarm:, swarm-id:, service:, device: or protocol:<name>, got ${JSON.stringify(resource.slice(0, 40))}`
      )
    const bad = badResourceName(split.name, split.kind)
    if (bad !== undefined) return invalidResource(bad)
    const record = this.record(request.peer)
    if (action === 'read' || action === 'write') {
      let allowed: PolicyDecision | undefined
      for (const verb of verbsOf(action)) {
        const d = this.decideVerb(record, request, verb, split.kind, split.name)
        if (!d.allowed) return d
        allowed ??= d
      }
      return allowed as PolicyDecision
    }
    return this.decideVerb(record, request, action, split.kind, split.name)
  }

  private decideVerb(record: PeerRecord, request: DecideRequest, verb: Verb, kind: ResourceKind, name: string): PolicyDecision {
    const bucket = record.set.bucket(verb, kind)
    const rules = bucket.byHead.size === 0 ? bucket.wild : (bucket.byHead.get(headOf(name)) ?? bucket.wild)
    let facts: RequestFacts | undefined
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as FastRule
      if (!r.match(name)) continue
      const test = r.meta.test
      if (test !== undefined) {
        facts ??= requestFacts(request.context, request.peer.address, this.now, this.model.utcOffset)
        if (!test(facts)) continue
      }
      return record.decisions[r.meta.slot] ?? this.makeDecision(record, r.meta)
    }
    return DENY_DEFAULT
  }

  /**
   * Decide for a whole subtree: allowed only when `action` is allowed on `resource` itself AND on
   * every resource below it (`resource/<anything>`), under the request's context exactly as
   * `decide()` evaluates it. Denied otherwise: `deny-rule` / `deny-requirement` naming the first
   * rule (in precedence order) that denies some resource of the subtree, or `deny-default` when
   * some resource of the subtree no allow covers; `blocked` names one such resource. Exact for
   * every pattern of the dialect (an automaton search, not sampling); when the search runs out of
   * budget it denies.
   */
  decideTree(request: DecideRequest): PolicyDecision {
    const first = this.decide(request)
    if (!first.allowed) return first.code === 'deny-invalid-resource' ? first : { ...first, blocked: request.resource }
    const split = splitResource(request.resource) as { kind: ResourceKind; name: string }
    const record = this.record(request.peer)
    let facts: RequestFacts | undefined
    for (const verb of verbsOf(request.action as Action)) {
      const bucket = record.set.bucket(verb, split.kind)
      const rules = bucket.byHead.size === 0 ? bucket.wild : (bucket.byHead.get(headOf(split.name)) ?? bucket.wild)
      const allows: FastRule[] = []
      for (const r of rules) {
        if (r.meta.test !== undefined) {
          facts ??= requestFacts(request.context, request.peer.address, this.now, this.model.utcOffset)
          if (!r.meta.test(facts)) continue
        }
        if (r.meta.effect === 'allow') {
          allows.push(r)
          continue
        }
        const hit = searchTree([r.meta.pattern.nfa], split.name, 'match')
        if (hit === 'none') continue
        const d = record.decisions[r.meta.slot] ?? this.makeDecision(record, r.meta)
        return hit === 'unsure' ? treeTooComplex(request.resource) : treeDenial(d, split.kind, hit.found, r.meta.pattern)
      }
      const miss = searchTree(
        allows.map((r) => r.meta.pattern.nfa),
        split.name,
        'miss'
      )
      if (miss === 'unsure') return treeTooComplex(request.resource)
      if (miss !== 'none') return treeDenial(DENY_DEFAULT, split.kind, miss.found, undefined)
    }
    return Object.freeze({ ...first, reason: `${first.reason}; so is every resource under ${request.resource}` })
  }

  private makeDecision(record: PeerRecord, meta: RuleMeta): PolicyDecision {
    let d: PolicyDecision
    if (meta.source.kind === 'requirement') {
      const req = meta.source.requirement
      d = Object.freeze({
        allowed: false,
        code: 'deny-requirement',
        rule: Object.freeze({ id: req.id, source: req.source }),
        reason: `${req.pattern.kind}:${req.pattern.glob} requires an encrypted channel`,
        matchedGroups: Object.freeze([]) as readonly string[]
      })
    } else {
      const rule = meta.source.rule
      const matchedGroups = Object.freeze(rule.peers.filter((t) => record.groups.includes(t)))
      const who = rule.peers.filter((t) => record.tokens.has(t)).join(', ')
      d = Object.freeze({
        allowed: rule.effect === 'allow',
        code: rule.effect === 'allow' ? 'allow' : 'deny-rule',
        rule: Object.freeze({ id: rule.id, source: rule.source }),
        reason: `${rule.effect === 'allow' ? 'allowed' : 'denied'} by rule "${rule.id}" (peers: ${who})`,
        matchedGroups
      })
    }
    record.decisions[meta.slot] = d
    return d
  }

  /** The peer tokens that name `peer`: `*`, `id:`, `name:`, `ou:`, peer names and groups. */
  private computeTokens(peer: PolicyPeer): Set<string> {
    const tokens = new Set<string>(['*', `id:${peer.peerId}`])
    if (peer.name !== undefined) tokens.add(`name:${peer.name}`)
    for (const g of peer.groups ?? []) tokens.add(`ou:${g}`)
    for (const alias of this.peersById.get(peer.peerId) ?? []) {
      const def = this.model.peers.get(alias)
      if (def !== undefined && (def.name === undefined || def.name === peer.name)) tokens.add(alias)
    }
    if (peer.name !== undefined) for (const alias of this.peersByName.get(peer.name) ?? []) tokens.add(alias)
    this.ruleIndex().addGroups(tokens)
    return tokens
  }

  private record(peer: PolicyPeer): PeerRecord {
    if (peer === null || typeof peer !== 'object') assertPeer(peer)
    const cached = this.byObject.get(peer)
    if (cached !== undefined) return cached
    assertPeer(peer)
    const key = `${peer.peerId}\u0000${peer.name ?? ''}\u0000${(peer.groups ?? []).join('\u0000')}`
    let record = this.byKey.get(key)
    if (record === undefined) {
      const tokens = this.computeTokens(peer)
      const { rules: applicable, key: setKey } = this.ruleIndex().applicable(tokens)
      let set = this.sets.get(setKey)
      if (set === undefined) {
        set = new RuleSet(this.caslRules(applicable), this.metaOf)
        if (this.sets.size >= this.maxCachedPeers) this.sets.delete(this.sets.keys().next().value as string)
        this.sets.set(setKey, set)
      }
      const groups = [...tokens].filter((t) => this.model.groups.has(t) || t.startsWith('ou:'))
      record = { tokens, groups, set, decisions: [] }
      if (this.byKey.size >= this.maxCachedPeers) this.byKey.delete(this.byKey.keys().next().value as string)
      this.byKey.set(key, record)
    }
    this.byObject.set(peer, record)
    return record
  }

  private ruleIndex(): RuleIndex {
    this.index ??= new RuleIndex(this.model, this.maxCachedPeers)
    return this.index
  }

  private caslRules(applicable: readonly RuleModel[]): CaslRawRule[] {
    return caslRulesFor(applicable, this.model.requirements, this.metaOf, this.model.rules.length)
  }

  /** The CASL ability that holds `peer`'s rules (subject types are resource kinds, actions verbs). */
  abilityFor(peer: PolicyPeer): PolicyAbility {
    assertRequest({ peer, action: 'get', resource: 'share:x' })
    return this.record(peer).set.ability
  }

  /** The peer a name under `peers:` stands for (a placeholder ID when it is defined by name only). */
  peerNamed(alias: string): PolicyPeer | undefined {
    if (typeof alias !== 'string') throw new InvalidArgumentError('alias: expected string')
    const def = this.model.peers.get(alias)
    if (def === undefined) return undefined
    return { peerId: def.id ?? `~${def.alias}`, ...(def.name === undefined ? {} : { name: def.name }), groups: [] }
  }

  /** The peer tokens that name `peer` (`*`, `id:`, `name:`, `ou:`, peer names, groups): what rules are matched on. */
  tokensOf(peer: PolicyPeer): ReadonlySet<string> {
    assertRequest({ peer, action: 'get', resource: 'share:x' })
    return this.record(peer).tokens
  }

  /**
   * The peer a question names: a name under `peers:`, else a peer ID in either text form. Anything
   * else throws `PolicyUnknownPeerError` (with the nearest name as a hint): nothing is guessed.
   */
  peerFor(text: string): PolicyPeer {
    if (typeof text !== 'string') throw new InvalidArgumentError('peer: expected string')
    const named = this.peerNamed(text)
    if (named !== undefined) return named
    const id = canonicalPeerId(text)
    if ('id' in id) return { peerId: id.id, groups: [] }
    const guess = nearest(text, this.model.peers.keys())
    throw new PolicyUnknownPeerError(text, guess === undefined ? undefined : `did you mean "${guess}"?`)
  }

  /** The groups `peer` belongs to: policy groups and `ou:` certificate groups. */
  groupsOf(peer: PolicyPeer): readonly string[] {
    assertRequest({ peer, action: 'get', resource: 'share:x' })
    return this.record(peer).groups
  }

  /**
   * The same decision through plain CASL (`ability.relevantRuleFor`), without the fast index.
   * Slower; the reference the fast path is tested against.
   */
  decideWithCasl(request: DecideRequest): PolicyDecision {
    assertRequest(request)
    if (!isAction(request.action)) throw new InvalidArgumentError('request.action: unknown action')
    const split = typeof request.resource === 'string' ? splitResource(request.resource) : undefined
    if (split === undefined) throw new InvalidArgumentError('request.resource: expected kind:name')
    const bad = badResourceName(split.name, split.kind)
    if (bad !== undefined) return invalidResource(bad)
    const record = this.record(request.peer)
    const facts = requestFacts(request.context, request.peer.address, this.now, this.model.utcOffset)
    let allowed: PolicyDecision | undefined
    for (const verb of verbsOf(request.action)) {
      const subject = caslSubject(split.kind, { name: split.name, ...facts })
      const rule = record.set.ability.relevantRuleFor(verb, subject as never)
      const d =
        rule === null
          ? DENY_DEFAULT
          : (record.decisions[(this.metaOf.get(rule.origin) as RuleMeta).slot] ??
            this.makeDecision(record, this.metaOf.get(rule.origin) as RuleMeta))
      if (!d.allowed) return d
      allowed ??= d
    }
    return allowed as PolicyDecision
  }

  /** The decision and every rule considered, with why each matched or not. */
  explain(request: DecideRequest): Explanation {
    return explainRequest(this, request, this.now)
  }

  /** Run the policy's own `tests:` block. */
  test(): TestReport {
    return runPolicyTests(this)
  }

  /** Shadowed, unreachable and duplicate rules; unused names; allow/deny overlaps. */
  lint(): LintFinding[] {
    return lintPolicy(this.model)
  }

  /** What `resource` requires of the channel it is reached over. */
  requirements(resource: string): { readonly encrypted: boolean; readonly rules: readonly string[] } {
    if (typeof resource !== 'string') throw new InvalidArgumentError('resource: expected string')
    const split = splitResource(resource)
    if (split === undefined) throw new InvalidArgumentError('resource: expected kind:name')
    const hits = this.model.requirements.filter(
      (r) => r.encrypted && r.pattern.kind === split.kind && r.pattern.regex.test(split.name)
    )
    return { encrypted: hits.length > 0, rules: hits.map((r) => r.id) }
  }

  /** Rule ids and locations, in file order. */
  rules(): ReadonlyArray<{ readonly id: string; readonly effect: 'allow' | 'deny'; readonly source: SourceLocation }> {
    return this.model.rules.map((r) => ({ id: r.id, effect: r.effect, source: r.source }))
  }
}

function invalidResource(why: string): PolicyDecision {
  return Object.freeze({
    allowed: false,
    code: 'deny-invalid-resource',
    reason: `resource refused: ${why}`,
    matchedGroups: Object.freeze([]) as readonly string[]
  })
}

function treeDenial(
  base: PolicyDecision,
  kind: ResourceKind,
  name: string,
  pattern: CompiledPattern | undefined
): PolicyDecision {
  const blocked = `${kind}:${name}`
  const why = base.code === 'deny-default' ? `no rule allows ${blocked} (default deny)` : `${base.reason} for ${blocked}`
  return Object.freeze({
    ...base,
    reason: pattern === undefined ? why : `${why} (pattern ${pattern.kind}:${pattern.glob})`,
    blocked
  })
}

function treeTooComplex(resource: string): PolicyDecision {
  return Object.freeze({
    ...DENY_DEFAULT,
    reason: `the rules under ${resource} are too complex to decide for the whole subtree (denied)`,
    blocked: resource
  })
}
