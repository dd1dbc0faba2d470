import type { PolicyModel, RuleModel } from './model.js'

/** The rules that apply to one set of peer tokens, and the key of that set of rules. */
export interface ApplicableRules {
  /** In file order; shared between peers, never modified. */
  readonly rules: readonly RuleModel[]
  /** The rules' positions joined: peers with the same key share one compiled RuleSet. */
  readonly key: string
}

/**
 * Indexes of a policy model for compiling peers: the rules naming each peer token, the groups
 * listing each member, and the applicable rules per set of tokens the rules name (a peer's own
 * `id:` and alias usually name nothing, so the peers of one group share one entry). Compiling
 * 1,000 peers of a 10,000-rule policy then neither tests every group's members for every peer nor
 * gathers and sorts each group's rules again for each of its peers.
 */
export class RuleIndex {
  readonly #model: PolicyModel
  readonly #max: number
  /** Positions in `model.rules` of the rules naming each token in `peers`. */
  readonly #byToken = new Map<string, number[]>()
  /** Every token any rule names, in `peers` or `except`: only these decide which rules apply. */
  readonly #named = new Set<string>()
  /** The groups that list each member (a peer token or another group). */
  readonly #groupsOf = new Map<string, string[]>()
  readonly #cache = new Map<string, ApplicableRules>()

  constructor(model: PolicyModel, maxCached: number) {
    this.#model = model
    this.#max = maxCached
    model.rules.forEach((r, i) => {
      for (const t of new Set(r.peers)) {
        const list = this.#byToken.get(t)
        if (list === undefined) this.#byToken.set(t, [i])
        else list.push(i)
        this.#named.add(t)
      }
      for (const t of r.except) this.#named.add(t)
    })
    for (const g of model.groupOrder)
      for (const m of new Set(model.groups.get(g)?.members ?? [])) {
        const list = this.#groupsOf.get(m)
        if (list === undefined) this.#groupsOf.set(m, [g])
        else list.push(g)
      }
  }

  /**
   * Add to `tokens` every group that lists one of them, directly or through groups it is in;
   * the groups are added in the model's group order (members first).
   */
  addGroups(tokens: Set<string>): void {
    const reached = new Set<string>()
    const work = [...tokens]
    for (let t = work.pop(); t !== undefined; t = work.pop())
      for (const g of this.#groupsOf.get(t) ?? [])
        if (!reached.has(g)) {
          reached.add(g)
          work.push(g)
        }
    if (reached.size === 0) return
    for (const g of this.#model.groupOrder) if (reached.has(g)) tokens.add(g)
  }

  /**
   * The rules that apply to a peer with these tokens, in file order: those naming one of them in
   * `peers` and none in `except`. They depend only on the tokens some rule names, so they are
   * cached under that list (JSON, so no two lists share a key).
   */
  applicable(tokens: ReadonlySet<string>): ApplicableRules {
    const named: string[] = []
    for (const t of tokens) if (this.#named.has(t)) named.push(t)
    const cacheKey = JSON.stringify(named)
    let hit = this.#cache.get(cacheKey)
    if (hit === undefined) {
      const rules = this.#find(tokens)
      hit = { rules, key: rules.map((r) => r.index).join(',') }
      if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value as string)
      this.#cache.set(cacheKey, hit)
    }
    return hit
  }

  #find(tokens: ReadonlySet<string>): RuleModel[] {
    const lists: number[][] = []
    for (const t of tokens) {
      const list = this.#byToken.get(t)
      if (list !== undefined) lists.push(list)
    }
    // One token's list is already in file order, without repeats; several are merged.
    const hits = lists.length === 1 ? (lists[0] as number[]) : lists.flat().sort((a, b) => a - b)
    const out: RuleModel[] = []
    let last = -1
    for (const i of hits) {
      if (i === last) continue
      last = i
      const r = this.#model.rules[i] as RuleModel
      if (r.except.length === 0 || !r.except.some((t) => tokens.has(t))) out.push(r)
    }
    return out
  }
}
