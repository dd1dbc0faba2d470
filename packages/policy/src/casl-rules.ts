/**
 * The bridge to CASL: every (rule, pattern) of a policy becomes one CASL raw rule whose subject
 * type is the resource kind, whose actions are verbs and whose MongoDB-style conditions test the
 * request's facts. CASL orders them (later = stronger) and answers `can()`; the fast matcher in
 * `peer-rules.ts` is compiled from CASL's own `rulesFor()` lists.
 */
import {
  buildMongoQueryMatcher,
  type ConditionsMatcher,
  createMongoAbility,
  type MongoAbility,
  type MongoQuery
} from '@casl/ability'
import { $and, $or, and, or } from '@ucast/mongo2js'
import { VERBS, type Verb } from './actions.js'
import type { Conditions, Effect, RequirementModel, RuleModel } from './model.js'
import type { CompiledPattern, ResourceKind } from './resource.js'
import type { RequestFacts } from './values.js'

/** CASL's MongoDB matcher plus `$or` / `$and`, which `createMongoAbility` leaves out by default. */
export const conditionsMatcher: ConditionsMatcher<MongoQuery> = buildMongoQueryMatcher({ $or, $and }, { or, and })

export type PolicyAbility = MongoAbility<[Verb, ResourceKind | ({ name: string } & RequestFacts)], MongoQuery>

export interface CaslRawRule {
  action: Verb[]
  subject: ResourceKind
  inverted: boolean
  conditions: MongoQuery
  reason: string
}

/** What a CASL raw rule stands for in the policy. */
export interface RuleMeta {
  /** A policy rule, or a resource requirement (`require: encrypted`). */
  readonly source:
    | { readonly kind: 'rule'; readonly rule: RuleModel }
    | { readonly kind: 'requirement'; readonly requirement: RequirementModel }
  readonly pattern: CompiledPattern
  readonly effect: Effect
  /** Slot of the decision in a peer's decision table: rule index, or rules.length + requirement index. */
  readonly slot: number
  /** The conditions as a plain predicate over facts (same meaning as the CASL conditions). */
  readonly test: ((facts: RequestFacts) => boolean) | undefined
  readonly needsFacts: boolean
}

type Q = Record<string, unknown>

const exists = (field: string, cond: Q): Q => ({ [field]: { $exists: true, ...cond } })

/** CASL conditions for `when:`. Unknown facts make an allow fail and a deny apply (fail closed). */
function whenToQuery(when: Conditions, effect: Effect): Q[] {
  const parts: Array<{ field: string; q: Q }> = []
  if (when.minSize !== undefined || when.maxSize !== undefined) {
    parts.push({
      field: 'size',
      q: exists('size', {
        ...(when.minSize === undefined ? {} : { $gte: when.minSize }),
        ...(when.maxSize === undefined ? {} : { $lte: when.maxSize })
      })
    })
  }
  if (when.time !== undefined) {
    const { start, end } = when.time
    parts.push({
      field: 'minute',
      q:
        start < end
          ? exists('minute', { $gte: start, $lt: end })
          : { $or: [exists('minute', { $gte: start }), exists('minute', { $lt: end })] }
    })
  }
  if (when.days !== undefined) parts.push({ field: 'day', q: { day: { $in: [...when.days] } } })
  if (when.networks !== undefined) {
    parts.push({ field: 'ip', q: { $or: when.networks.map((n) => exists('ip', { $gte: n.lo, $lte: n.hi })) } })
  }
  return parts.map(({ field, q }) => (effect === 'allow' ? q : { $or: [{ [field]: { $exists: false } }, q] }))
}

/** The same conditions as a predicate, for the fast path. Must agree with `whenToQuery`. */
function whenToPredicate(when: Conditions, effect: Effect): (facts: RequestFacts) => boolean {
  const unknown = effect === 'deny'
  const { minSize, maxSize, time, days, networks } = when
  return (f) => {
    if (minSize !== undefined || maxSize !== undefined) {
      if (f.size === undefined) {
        if (!unknown) return false
      } else if ((minSize !== undefined && f.size < minSize) || (maxSize !== undefined && f.size > maxSize)) return false
    }
    if (time !== undefined) {
      if (f.minute === undefined) {
        if (!unknown) return false
      } else if (
        time.start < time.end ? f.minute < time.start || f.minute >= time.end : f.minute < time.start && f.minute >= time.end
      ) {
        return false
      }
    }
    if (days !== undefined) {
      if (f.day === undefined) {
        if (!unknown) return false
      } else if (!days.includes(f.day)) return false
    }
    if (networks !== undefined) {
      const ip = f.ip
      if (ip === undefined) {
        if (!unknown) return false
      } else if (!networks.some((n) => ip >= n.lo && ip <= n.hi)) return false
    }
    return true
  }
}

/**
 * CASL raw rules for a set of policy rules, weakest first: allows (last in the file weakest),
 * then denies, then requirements. So a deny beats every allow, and among rules of one effect the
 * first in the file decides.
 */
export function caslRulesFor(
  rules: readonly RuleModel[],
  requirements: readonly RequirementModel[],
  metaOf: WeakMap<object, RuleMeta>,
  ruleCount: number
): CaslRawRule[] {
  const out: CaslRawRule[] = []
  const push = (raw: CaslRawRule, meta: RuleMeta): void => {
    metaOf.set(raw, meta)
    out.push(raw)
  }
  for (const effect of ['allow', 'deny'] as const) {
    for (let i = rules.length - 1; i >= 0; i--) {
      const rule = rules[i] as RuleModel
      if (rule.effect !== effect) continue
      const extra = rule.when === undefined ? [] : whenToQuery(rule.when, effect)
      const test = rule.when === undefined ? undefined : whenToPredicate(rule.when, effect)
      for (let p = rule.patterns.length - 1; p >= 0; p--) {
        const pattern = rule.patterns[p] as CompiledPattern
        push(
          {
            action: [...rule.verbs],
            subject: pattern.kind,
            inverted: effect === 'deny',
            conditions: (extra.length === 0
              ? { name: { $regex: pattern.regex } }
              : { $and: [{ name: { $regex: pattern.regex } }, ...extra] }) as MongoQuery,
            reason: rule.id
          },
          { source: { kind: 'rule', rule }, pattern, effect, slot: rule.index, test, needsFacts: test !== undefined }
        )
      }
    }
  }
  for (let i = requirements.length - 1; i >= 0; i--) {
    const req = requirements[i] as RequirementModel
    if (!req.encrypted) continue
    push(
      {
        action: [...VERBS],
        subject: req.pattern.kind,
        inverted: true,
        conditions: { name: { $regex: req.pattern.regex }, encrypted: { $ne: true } } as MongoQuery,
        reason: req.id
      },
      {
        source: { kind: 'requirement', requirement: req },
        pattern: req.pattern,
        effect: 'deny',
        slot: ruleCount + i,
        test: (f) => f.encrypted !== true,
        needsFacts: true
      }
    )
  }
  return out
}

export function createPolicyAbility(raw: CaslRawRule[]): PolicyAbility {
  return createMongoAbility(raw as never, { conditionsMatcher: conditionsMatcher as never }) as unknown as PolicyAbility
}
