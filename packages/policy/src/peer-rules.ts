/**
 * Per-peer compiled rules. For one set of applicable policy rules, a CASL ability is built once;
 * for each (verb, kind) asked about, CASL's `rulesFor()` gives the rules in priority order and
 * they are indexed by the literal first segment of their glob (the share name), so a decision
 * tests only the few rules that can match.
 */
import type { Verb } from './actions.js'
import { type CaslRawRule, createPolicyAbility, type PolicyAbility, type RuleMeta } from './casl-rules.js'
import type { ResourceKind } from './resource.js'

export interface FastRule {
  readonly meta: RuleMeta
  readonly match: (name: string) => boolean
}

export interface Bucket {
  /** Rules whose glob starts with a literal segment, by that segment (plus the wildcard ones). */
  readonly byHead: Map<string, readonly FastRule[]>
  /** Rules for a resource whose first segment no literal glob names. */
  readonly wild: readonly FastRule[]
}

/** The compiled rules of one set of applicable rules; shared by every peer that has that set. */
export class RuleSet {
  readonly ability: PolicyAbility
  private readonly buckets: Record<string, Record<string, Bucket>> = Object.create(null)

  constructor(
    raw: CaslRawRule[],
    private readonly metaOf: WeakMap<object, RuleMeta>
  ) {
    this.ability = createPolicyAbility(raw)
  }

  bucket(verb: Verb, kind: ResourceKind): Bucket {
    const byKind = (this.buckets[verb] ??= Object.create(null) as Record<string, Bucket>)
    let b = byKind[kind]
    if (b === undefined) {
      b = this.build(verb, kind)
      byKind[kind] = b
    }
    return b
  }

  private build(verb: Verb, kind: ResourceKind): Bucket {
    const rules: FastRule[] = this.ability.rulesFor(verb, kind).map((r) => {
      const meta = this.metaOf.get(r.origin)
      if (meta === undefined) throw new Error('policy: CASL returned a rule this policy did not give it')
      return { meta, match: meta.pattern.match }
    })
    const heads = new Set<string>()
    for (const r of rules) if (r.meta.pattern.head !== undefined) heads.add(r.meta.pattern.head)
    const wild = rules.filter((r) => r.meta.pattern.head === undefined)
    const byHead = new Map<string, readonly FastRule[]>()
    for (const h of heads)
      byHead.set(
        h,
        rules.filter((r) => r.meta.pattern.head === undefined || r.meta.pattern.head === h)
      )
    return { byHead, wild }
  }
}
