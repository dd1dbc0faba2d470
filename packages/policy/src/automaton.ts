/**
 * Finite automata over the glob tree of `glob.ts`, for questions about every name under a folder
 * at once: "does this pattern match some name in the subtree?" and "do these patterns together
 * match every name in the subtree?". Exact, not sampled: a breadth-first search over the product
 * of the patterns' subset automaton and an automaton of the valid names below the folder (non-empty
 * segments other than `.` and `..`, no `\` or NUL — the names `badResourceName` lets through).
 * The search has a budget; when it runs out the answer is "unsure" and the caller denies.
 */
import { type CharSet, type GlobNode, inSet } from './glob.js'

/** A Thompson NFA: per state, character edges and ε-edges; one start and one accept state. */
export interface Nfa {
  readonly start: number
  readonly accept: number
  readonly edges: ReadonlyArray<ReadonlyArray<readonly [CharSet, number]>>
  readonly eps: ReadonlyArray<readonly number[]>
}

export function buildNfa(root: GlobNode): Nfa {
  const edges: Array<Array<readonly [CharSet, number]>> = []
  const eps: number[][] = []
  const state = (): number => {
    edges.push([])
    eps.push([])
    return edges.length - 1
  }
  const build = (n: GlobNode, from: number): number => {
    switch (n.t) {
      case 'set': {
        const to = state()
        ;(edges[from] as Array<readonly [CharSet, number]>).push([n.set, to])
        return to
      }
      case 'seq':
        return n.items.reduce((cur, item) => build(item, cur), from)
      case 'alt': {
        const end = state()
        for (const item of n.items) {
          const s = state()
          ;(eps[from] as number[]).push(s)
          ;(eps[build(item, s)] as number[]).push(end)
        }
        return end
      }
      case 'star': {
        const loop = state()
        ;(eps[from] as number[]).push(loop)
        ;(eps[build(n.item, loop)] as number[]).push(loop)
        return loop
      }
    }
  }
  const start = state()
  const accept = build(root, start)
  return { start, accept, edges, eps }
}

/** Several NFAs side by side (their union), as one state space. */
class Machine {
  readonly edges: Array<ReadonlyArray<readonly [CharSet, number]>> = []
  readonly eps: Array<readonly number[]> = []
  readonly accepting: boolean[] = []
  readonly starts: number[] = []

  constructor(nfas: readonly Nfa[]) {
    for (const nfa of nfas) {
      const base = this.edges.length
      nfa.edges.forEach((list, i) => {
        this.edges.push(list.map(([s, to]) => [s, to + base] as const))
        this.eps.push((nfa.eps[i] as number[]).map((to) => to + base))
        this.accepting.push(i === nfa.accept)
      })
      this.starts.push(nfa.start + base)
    }
  }

  closure(states: Iterable<number>): number[] {
    const seen = new Set<number>()
    const stack = [...states]
    while (stack.length > 0) {
      const s = stack.pop() as number
      if (seen.has(s)) continue
      seen.add(s)
      for (const t of this.eps[s] as number[]) if (!seen.has(t)) stack.push(t)
    }
    return [...seen].sort((a, b) => a - b)
  }

  step(states: readonly number[], c: number): number[] {
    const next: number[] = []
    for (const s of states)
      for (const [set, to] of this.edges[s] as Array<readonly [CharSet, number]>) if (inSet(set, c)) next.push(to)
    return next.length === 0 ? next : this.closure(next)
  }

  accepts(states: readonly number[]): boolean {
    return states.some((s) => this.accepting[s] === true)
  }

  /** One representative character per class of characters no edge tells apart. */
  alphabet(specials: readonly number[]): number[] {
    const cuts = new Set<number>([0, 0x10000])
    for (const c of specials) cuts.add(c).add(c + 1)
    for (const list of this.edges)
      for (const [set] of list) for (let i = 0; i < set.length; i += 2) cuts.add(set[i] as number).add((set[i + 1] as number) + 1)
    const sorted = [...cuts].sort((a, b) => a - b)
    const reps: number[] = []
    for (let i = 0; i + 1 < sorted.length; i++) {
      const lo = sorted[i] as number
      const hi = (sorted[i + 1] as number) - 1
      reps.push(lo <= 0x78 && 0x78 <= hi ? 0x78 : lo <= 0x61 && 0x61 <= hi ? 0x61 : lo)
    }
    return reps
  }
}

const SLASH = 0x2f
const DOT = 0x2e
const DEAD = -1
/** States of the "valid names below" automaton: segment start, ".", "..", inside a good segment. */
const V_START = 0
const V_GOOD = 3

function nextV(v: number, c: number): number {
  if (c === SLASH) return v === V_GOOD ? V_START : DEAD
  if (c === 0x5c || c === 0) return DEAD
  if (c === DOT) return v === V_GOOD ? V_GOOD : v + 1
  return V_GOOD
}

/** What the search found: a name in the subtree, nothing, or it gave up. */
export type TreeSearch = { readonly found: string } | 'none' | 'unsure'

/** Largest number of product states one search may visit. */
export const TREE_SEARCH_BUDGET = 50_000

/**
 * Search `name` and every valid name below it (`name/…`) for one that the union of `nfas`
 * matches (`goal: 'match'`) or does not match (`goal: 'miss'`). Breadth-first, so the name found
 * is a shortest one.
 */
export function searchTree(nfas: readonly Nfa[], name: string, goal: 'match' | 'miss', budget = TREE_SEARCH_BUDGET): TreeSearch {
  const m = new Machine(nfas)
  const hit = (states: readonly number[]): boolean => m.accepts(states) === (goal === 'match')
  let states = m.closure(m.starts)
  for (let i = 0; i < name.length && states.length > 0; i++) states = m.step(states, name.charCodeAt(i))
  if (hit(states)) return { found: name }
  if (states.length === 0 && goal === 'match') return 'none'
  const below = m.step(states, SLASH)
  const reps = m.alphabet([SLASH, DOT, 0x5c, 0])
  const keyOf = (v: number, s: readonly number[]): string => `${v}:${s.join(',')}`
  const parent = new Map<string, { readonly from: string | undefined; readonly c: number }>()
  const queue: Array<{ v: number; s: number[]; key: string }> = []
  const first = keyOf(V_START, below)
  parent.set(first, { from: undefined, c: SLASH })
  queue.push({ v: V_START, s: below, key: first })
  const pathTo = (key: string): string => {
    const units: number[] = []
    for (let k: string | undefined = key; k !== undefined; ) {
      const p = parent.get(k) as { from: string | undefined; c: number }
      units.push(p.c)
      k = p.from
    }
    return name + String.fromCharCode(...units.reverse())
  }
  for (let head = 0; head < queue.length; head++) {
    const { v, s, key } = queue[head] as { v: number; s: number[]; key: string }
    if (v === V_GOOD && hit(s)) return { found: pathTo(key) }
    if (goal === 'match' && s.length === 0) continue
    for (const c of reps) {
      const nv = nextV(v, c)
      if (nv === DEAD) continue
      const ns = m.step(s, c)
      const nk = keyOf(nv, ns)
      if (parent.has(nk)) continue
      if (parent.size >= budget) return 'unsure'
      parent.set(nk, { from: key, c })
      queue.push({ v: nv, s: ns, key: nk })
    }
  }
  return 'none'
}
