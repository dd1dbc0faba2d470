import type { SourceLocation } from '@peerguard/interface'
import type { PolicyModel, RuleModel } from './model.js'
import { type CompiledPattern, globCovers } from './resource.js'

export type LintCode =
  | 'policy-lint-shadowed'
  | 'policy-lint-unreachable'
  | 'policy-lint-duplicate'
  | 'policy-lint-unused-group'
  | 'policy-lint-unused-peer'
  | 'policy-lint-overlap'
  | 'policy-lint-suspicious-pattern'

export interface LintFinding {
  readonly code: LintCode
  /** `error` findings make `peerguard policy lint` exit 1; `warning`s do not. */
  readonly severity: 'error' | 'warning'
  readonly message: string
  /** The rule or name the finding is about. */
  readonly subject: string
  readonly source: SourceLocation
}

/** Peers (aliases, `id:`/`name:`/`ou:` tokens) a group can ever hold, through nesting. */
function expandGroups(model: PolicyModel): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const g of model.groupOrder) {
    const set = new Set<string>()
    for (const m of model.groups.get(g)?.members ?? []) {
      const inner = out.get(m)
      if (inner !== undefined) for (const x of inner) set.add(x)
      else set.add(m)
    }
    out.set(g, set)
  }
  return out
}

/** True when every peer `inner` can name is also named by `outer`'s peers. */
function peersCover(outer: RuleModel, inner: RuleModel, model: PolicyModel, expanded: Map<string, Set<string>>): boolean {
  if (outer.peers.includes('*')) return true
  const outerSet = new Set<string>(outer.peers)
  for (const t of outer.peers) for (const x of expanded.get(t) ?? []) outerSet.add(x)
  return (
    inner.peers.every((t) => {
      if (t === '*') return false
      if (outerSet.has(t)) return true
      const members = expanded.get(t)
      return members !== undefined && members.size > 0 && [...members].every((m) => outerSet.has(m))
    }) && model.rules.length > 0
  )
}

/** The peer tokens a rule names, groups expanded to their members. */
function peerLeaves(rule: RuleModel, expanded: Map<string, Set<string>>): Set<string> {
  const out = new Set<string>()
  for (const t of rule.peers) {
    out.add(t)
    for (const x of expanded.get(t) ?? []) out.add(x)
  }
  return out
}

function sameRule(a: RuleModel, b: RuleModel): boolean {
  const key = (r: RuleModel): string =>
    JSON.stringify([
      r.effect,
      [...r.verbs].sort(),
      [...r.peers].sort(),
      [...r.except].sort(),
      r.patterns.map((p) => `${p.kind}:${p.glob}`).sort(),
      r.when?.text ?? null
    ])
  return key(a) === key(b)
}

/** Characters that are globs elsewhere (extglobs, regexes, gitignore) but mean themselves here. */
const FOREIGN_META = /[!+@$^]/

/** Why a pattern probably does not say what its author meant, or undefined. */
function suspicious(rule: RuleModel, p: CompiledPattern): string | undefined {
  const text = `${p.kind}:${p.glob}`
  const foreign = FOREIGN_META.exec(p.glob.replace(/\[[^\]]*\]/g, ''))
  if (foreign !== null)
    return `${text}: "${foreign[0]}" means the character itself in peerguard globs (no extglobs, regexes or negation); write [${foreign[0]}] to say so`
  if (p.glob.includes(',') && !p.glob.includes('{'))
    return `${text}: "," outside braces is a literal comma; for alternatives write {a,b}`
  if (p.glob.replace(/\[[^\]]*\]/g, '').includes(']')) return `${text}: a "]" outside a class is a literal ]`
  if (rule.effect === 'deny' && p.kind === 'share' && !p.glob.endsWith('/')) {
    const entry = p.globs.find((g) => g.includes('/') && !/[*?[]/.test(g) && !(g.split('/').pop() as string).includes('.'))
    if (entry !== undefined)
      return `${text}: the deny covers share:${entry} itself only, not what is inside it; write share:${entry}/** for the folder and its contents, or share:${entry}/ for the folder entry only`
  }
  return undefined
}

/**
 * Find rules that can never apply and names nobody uses. Errors: an allow fully covered by an
 * unconditional deny (shadowed), a rule whose peers are only empty groups (unreachable).
 * Warnings: duplicate rules, unused groups and peers, an allow and a deny on one glob, patterns
 * that probably do not mean what they say (extglob characters, a deny on a folder entry only).
 */
export function lintPolicy(model: PolicyModel): LintFinding[] {
  const findings: LintFinding[] = []
  const expanded = expandGroups(model)
  const denies = model.rules.filter((r) => r.effect === 'deny')
  for (const rule of model.rules) {
    for (const p of rule.patterns) {
      const why = suspicious(rule, p)
      if (why !== undefined)
        findings.push({
          code: 'policy-lint-suspicious-pattern',
          severity: 'warning',
          message: why,
          subject: rule.id,
          source: rule.source
        })
    }
    const emptyTokens = rule.peers.filter((t) => expanded.get(t)?.size === 0)
    if (emptyTokens.length === rule.peers.length) {
      findings.push({
        code: 'policy-lint-unreachable',
        severity: 'error',
        message: `rule "${rule.id}" can never match: ${emptyTokens.map((t) => `group "${t}"`).join(', ')} ${emptyTokens.length === 1 ? 'is' : 'are'} empty`,
        subject: rule.id,
        source: rule.source
      })
      continue
    }
    const earlier = model.rules.slice(0, rule.index).find((r) => sameRule(r, rule))
    if (earlier !== undefined) {
      findings.push({
        code: 'policy-lint-duplicate',
        severity: 'warning',
        message: `rule "${rule.id}" repeats rule "${earlier.id}"`,
        subject: rule.id,
        source: rule.source
      })
      continue
    }
    if (rule.effect !== 'allow') continue
    const shadow = denies.find(
      (d) =>
        d.when === undefined &&
        // A deny with exceptions leaves the excepted peers to the allow (conservative: never shadows).
        d.except.length === 0 &&
        rule.verbs.every((v) => d.verbs.includes(v)) &&
        peersCover(d, rule, model, expanded) &&
        rule.patterns.every((p) => d.patterns.some((dp) => globCovers(dp, p)))
    )
    if (shadow !== undefined) {
      findings.push({
        code: 'policy-lint-shadowed',
        severity: 'error',
        message: `allow rule "${rule.id}" never applies: deny rule "${shadow.id}" covers all its peers, actions and resources (deny wins)`,
        subject: rule.id,
        source: rule.source
      })
      continue
    }
    const mine = peerLeaves(rule, expanded)
    for (const d of denies) {
      if (d.when !== undefined) continue
      const theirs = peerLeaves(d, expanded)
      if (!mine.has('*') && !theirs.has('*') && ![...mine].some((t) => theirs.has(t))) continue
      const verbs = rule.verbs.filter((v) => d.verbs.includes(v))
      const globs = rule.patterns.filter((p) => d.patterns.some((dp) => dp.kind === p.kind && dp.glob === p.glob))
      if (verbs.length > 0 && globs.length > 0) {
        findings.push({
          code: 'policy-lint-overlap',
          severity: 'warning',
          message: `allow rule "${rule.id}" and deny rule "${d.id}" both name ${globs.map((g) => `${g.kind}:${g.glob}`).join(', ')} for ${verbs.join(',')}: the deny wins where both match`,
          subject: rule.id,
          source: rule.source
        })
      }
    }
  }
  const used = new Set<string>()
  for (const r of model.rules) for (const t of [...r.peers, ...r.except]) used.add(t)
  for (const g of model.groups.values()) for (const m of g.members) used.add(m)
  for (const t of model.tests) used.add(t.peerLabel)
  for (const g of model.groups.values()) {
    if (!used.has(g.name)) {
      findings.push({
        code: 'policy-lint-unused-group',
        severity: 'warning',
        message: `group "${g.name}" is never used`,
        subject: g.name,
        source: g.source
      })
    }
  }
  for (const p of model.peers.values()) {
    if (!used.has(p.alias)) {
      findings.push({
        code: 'policy-lint-unused-peer',
        severity: 'warning',
        message: `peer "${p.alias}" is never used`,
        subject: p.alias,
        source: p.source
      })
    }
  }
  return findings
}
