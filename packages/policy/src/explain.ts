import type { SourceLocation } from '@peerguard/interface'
import { isAction, verbsOf, type Verb } from './actions.js'
import type { Conditions, RuleModel } from './model.js'
import type { DecideRequest, Policy, PolicyDecision } from './policy.js'
import { badResourceName, splitResource } from './resource.js'
import { requestFacts, type RequestFacts } from './values.js'

/** How one rule fared against a request. */
export interface RuleVerdict {
  readonly id: string
  readonly effect: 'allow' | 'deny' | 'require'
  readonly source: SourceLocation
  /** True when the rule matched the request (peer, action, resource and conditions). */
  readonly matched: boolean
  /** True for the rule that made the decision. */
  readonly decided: boolean
  /** Why it matched or not, one short phrase per check. */
  readonly why: readonly string[]
}

export interface Explanation {
  readonly decision: PolicyDecision
  readonly peer: { readonly peerId: string; readonly name?: string; readonly groups: readonly string[] }
  readonly action: string
  readonly verbs: readonly Verb[]
  readonly resource: string
  /** Every rule of the policy (requirements first), in the order precedence considers them. */
  readonly rules: readonly RuleVerdict[]
}

function describeWhen(when: Conditions, facts: RequestFacts, effect: 'allow' | 'deny'): { ok: boolean; why: string[] } {
  const why: string[] = []
  let ok = true
  const unknown = (what: string): void => {
    if (effect === 'allow') {
      ok = false
      why.push(`${what} unknown: an allow needs it`)
    } else why.push(`${what} unknown: a deny applies (fail closed)`)
  }
  if (when.minSize !== undefined || when.maxSize !== undefined) {
    const range = `${when.minSize ?? 0}..${when.maxSize ?? 'any'} bytes`
    if (facts.size === undefined) unknown('size')
    else if (
      (when.minSize !== undefined && facts.size < when.minSize) ||
      (when.maxSize !== undefined && facts.size > when.maxSize)
    ) {
      ok = false
      why.push(`size ${facts.size} outside ${range}`)
    } else why.push(`size ${facts.size} within ${range}`)
  }
  if (when.time !== undefined) {
    const fmt = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
    const window = `${fmt(when.time.start)}-${fmt(when.time.end)}`
    const m = facts.minute
    if (m === undefined) unknown('time')
    else {
      const inside =
        when.time.start < when.time.end ? m >= when.time.start && m < when.time.end : m >= when.time.start || m < when.time.end
      if (!inside) ok = false
      why.push(`time ${fmt(m)} ${inside ? 'inside' : 'outside'} ${window}`)
    }
  }
  if (when.days !== undefined) {
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
    if (facts.day === undefined) unknown('day')
    else {
      const inside = when.days.includes(facts.day)
      if (!inside) ok = false
      why.push(`day ${names[facts.day]} ${inside ? 'in' : 'not in'} ${when.days.map((d) => names[d]).join(',')}`)
    }
  }
  if (when.networks !== undefined) {
    const ip = facts.ip
    if (ip === undefined) unknown('source address')
    else {
      const inside = when.networks.some((n) => ip >= n.lo && ip <= n.hi)
      if (!inside) ok = false
      why.push(`source address ${inside ? 'in' : 'not in'} ${String(when.text.networks)}`)
    }
  }
  return { ok, why }
}

/** Explain a request: the decision plus every rule considered and why it matched or not. */
export function explainRequest(policy: Policy, request: DecideRequest, now: () => number): Explanation {
  const decision = policy.decide(request)
  const model = policy.model
  const verbs = isAction(request.action) ? verbsOf(request.action) : []
  const split = splitResource(request.resource)
  const groups = policy.groupsOf(request.peer)
  // The very tokens decide() compiles the peer's rules from.
  const tokens = policy.tokensOf(request.peer)
  const facts = requestFacts(request.context, request.peer.address, now, model.utcOffset)
  const name = split?.name ?? ''
  const invalid = split === undefined ? 'unknown kind' : badResourceName(name, split.kind)
  const verdicts: RuleVerdict[] = []
  for (const req of model.requirements) {
    if (!req.encrypted) continue
    const hit = split !== undefined && req.pattern.kind === split.kind && req.pattern.regex.test(name)
    const why = [
      hit
        ? `resource matches ${req.pattern.kind}:${req.pattern.glob}`
        : `resource does not match ${req.pattern.kind}:${req.pattern.glob}`
    ]
    if (hit) why.push(facts.encrypted === true ? 'channel is encrypted' : 'channel is not known to be encrypted')
    verdicts.push({
      id: req.id,
      effect: 'require',
      source: req.source,
      matched: hit && facts.encrypted !== true,
      decided: decision.rule?.id === req.id,
      why
    })
  }
  const ordered: RuleModel[] = [
    ...model.rules.filter((r) => r.effect === 'deny'),
    ...model.rules.filter((r) => r.effect === 'allow')
  ]
  for (const rule of ordered) {
    const why: string[] = []
    const who = rule.peers.filter((t) => tokens.has(t))
    const excepted = rule.except.filter((t) => tokens.has(t))
    const peerOk = who.length > 0 && excepted.length === 0
    why.push(who.length > 0 ? `peer is ${who.join(', ')}` : `peer is not ${rule.peers.join(', ')}`)
    if (excepted.length > 0) why.push(`peer is excepted (except: ${excepted.join(', ')})`)
    const common = rule.verbs.filter((v) => verbs.includes(v))
    const actionOk = common.length > 0
    why.push(
      actionOk
        ? `action ${common.join(',')} in ${rule.actions.join(',')}`
        : `action ${String(request.action)} not in ${rule.actions.join(',')}`
    )
    const pattern = split === undefined ? undefined : rule.patterns.find((p) => p.kind === split.kind && p.regex.test(name))
    why.push(
      pattern !== undefined
        ? `resource matches ${pattern.kind}:${pattern.glob}`
        : `resource does not match ${rule.patterns.map((p) => `${p.kind}:${p.glob}`).join(', ')}`
    )
    let condOk = true
    if (rule.when !== undefined) {
      const c = describeWhen(rule.when, facts, rule.effect)
      condOk = c.ok
      why.push(...c.why)
    }
    verdicts.push({
      id: rule.id,
      effect: rule.effect,
      source: rule.source,
      matched: peerOk && actionOk && pattern !== undefined && condOk,
      decided: decision.rule?.id === rule.id,
      why
    })
  }
  return {
    decision,
    peer: { peerId: request.peer.peerId, ...(request.peer.name === undefined ? {} : { name: request.peer.name }), groups },
    action: String(request.action),
    verbs,
    resource: request.resource,
    rules:
      invalid === undefined ? verdicts : verdicts.map((v) => ({ ...v, matched: false, why: [`resource refused: ${invalid}`] }))
  }
}
