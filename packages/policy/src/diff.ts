import { VERBS, type Verb } from './actions.js'
import type { Conditions, PolicyModel, PolicyPeer } from './model.js'
import type { Policy, PolicyDecision } from './policy.js'
import { instantiate } from './samples.js'
import type { RequestContext } from './values.js'

export interface DecisionChange {
  /** Who: a peer name, `id:…`, `name:…`, `ou:…` or `(any peer)`. */
  readonly peer: string
  readonly action: Verb
  readonly resource: string
  /** The request context this change shows up under (conditions of a rule). */
  readonly context: RequestContext
  readonly before: { readonly code: string; readonly rule?: string }
  readonly after: { readonly code: string; readonly rule?: string }
}

export interface PolicyDiff {
  readonly changes: readonly DecisionChange[]
  /** How many (peer, action, resource, context) questions were asked of both versions. */
  readonly checked: number
}

function samplePeers(models: readonly PolicyModel[]): Map<string, PolicyPeer> {
  const peers = new Map<string, PolicyPeer>([['(any peer)', { peerId: '~anyone', groups: [] }]])
  for (const m of models) {
    for (const def of m.peers.values()) {
      peers.set(def.alias, {
        peerId: def.id ?? `~${def.alias}`,
        ...(def.name === undefined ? {} : { name: def.name }),
        groups: []
      })
    }
    const tokens = [...m.rules.flatMap((r) => [...r.peers, ...r.except]), ...[...m.groups.values()].flatMap((g) => g.members)]
    for (const t of tokens) {
      if (t.startsWith('ou:')) peers.set(t, { peerId: `~${t}`, groups: [t.slice(3)] })
      else if (t.startsWith('name:')) peers.set(t, { peerId: `~${t}`, name: t.slice(5), groups: [] })
      else if (t.startsWith('id:')) peers.set(t, { peerId: t.slice(3), groups: [] })
    }
  }
  // A peer both named by a rule and excepted from it: one token alone never shows an exception.
  for (const m of models) {
    const leaves = (t: string, seen = new Set<string>()): string[] => {
      if (seen.has(t)) return []
      seen.add(t)
      const g = m.groups.get(t)
      return g === undefined ? [t === '*' ? '(any peer)' : t] : g.members.flatMap((x) => leaves(x, seen))
    }
    for (const r of m.rules) {
      for (const a of r.peers.flatMap((t) => leaves(t)))
        for (const b of r.except.flatMap((t) => leaves(t))) {
          const pa = peers.get(a)
          const pb = peers.get(b)
          if (pa === undefined || pb === undefined || peers.size >= 1000) continue
          const both = mergePeers(pa, pb)
          if (both !== undefined) peers.set(`${a}+${b}`, both)
        }
    }
  }
  return peers
}

/** One peer presenting both identities, or undefined when they cannot be one peer (two IDs or names). */
function mergePeers(a: PolicyPeer, b: PolicyPeer): PolicyPeer | undefined {
  const realA = !a.peerId.startsWith('~')
  const realB = !b.peerId.startsWith('~')
  if (realA && realB && a.peerId !== b.peerId) return undefined
  if (a.name !== undefined && b.name !== undefined && a.name !== b.name) return undefined
  const name = a.name ?? b.name
  return {
    peerId: realA ? a.peerId : realB ? b.peerId : `${a.peerId}+${b.peerId}`,
    ...(name === undefined ? {} : { name }),
    groups: [...new Set([...(a.groups ?? []), ...(b.groups ?? [])])]
  }
}

/** A context that satisfies a rule's conditions (so conditional rules are exercised too). */
function satisfying(when: Conditions, utcOffset: number): RequestContext {
  const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = { encrypted: true }
  if (when.minSize !== undefined || when.maxSize !== undefined) ctx.size = when.minSize ?? when.maxSize ?? 0
  if (when.time !== undefined || when.days !== undefined) {
    // 2025-01-05 was a Sunday; pick the first allowed day and the window's start, in the
    // policy's own UTC offset.
    const day = when.days?.[0] ?? 1
    const minute = when.time?.start ?? 720
    ctx.time = Date.UTC(2025, 0, 5 + day, 0, minute) - utcOffset * 60_000
  }
  if (when.networks?.[0] !== undefined) {
    const lo = when.networks[0].lo
    ctx.address = lo.startsWith('00000000000000000000ffff')
      ? [0, 2, 4, 6].map((i) => Number.parseInt(lo.slice(24 + i, 26 + i), 16)).join('.')
      : (lo.match(/.{4}/g) ?? []).join(':')
  }
  return ctx
}

/**
 * Which decisions change between two versions of a policy: every sample peer (named peers, each
 * `ou:`/`name:`/`id:` token, an anonymous peer) × every verb × sample resources from both
 * versions' globs × contexts that satisfy each conditional rule. A semantic diff: reordering,
 * renaming groups or rewriting a glob equivalently shows no change.
 */
export function diffPolicies(before: Policy, after: Policy, limit = 200_000): PolicyDiff {
  const models = [before.model, after.model]
  const peers = samplePeers(models)
  const resources = new Set<string>()
  const contexts = new Map<string, RequestContext>([['{"encrypted":true}', { encrypted: true }]])
  for (const m of models) {
    for (const r of m.rules) {
      for (const p of r.patterns) for (const s of instantiate(p)) resources.add(`${p.kind}:${s}`)
      if (r.when !== undefined) {
        const ctx = satisfying(r.when, m.utcOffset)
        contexts.set(JSON.stringify(ctx), ctx)
      }
    }
    for (const q of m.requirements) for (const s of instantiate(q.pattern)) resources.add(`${q.pattern.kind}:${s}`)
  }
  const changes: DecisionChange[] = []
  let checked = 0
  const brief = (d: PolicyDecision): { code: string; rule?: string } => ({
    code: d.code,
    ...(d.rule === undefined ? {} : { rule: d.rule.id })
  })
  outer: for (const [label, peer] of peers) {
    for (const context of contexts.values()) {
      for (const resource of resources) {
        for (const action of VERBS) {
          if (checked >= limit) break outer
          checked++
          const a = before.decide({ peer, action, resource, context })
          const b = after.decide({ peer, action, resource, context })
          if (a.allowed !== b.allowed || a.code !== b.code)
            changes.push({ peer: label, action, resource, context, before: brief(a), after: brief(b) })
        }
      }
    }
  }
  return { changes, checked }
}
