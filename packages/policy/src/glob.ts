/**
 * The one glob dialect of resource patterns. A pattern is parsed once, here, into a small regular
 * expression tree; the RegExp CASL and `explain` test, the literal head the fast index uses and
 * the automaton `decideTree` walks all come from that tree, so they cannot disagree.
 *
 * The dialect (policies/README.md, "Resource patterns"):
 * - `/` separates path segments; `**` as a whole segment is any number of segments (zero too);
 *   `**` inside a segment is refused.
 * - `*` is any run of characters inside one segment, `?` one character other than `/`.
 * - `[abc]`, `[a-z]`, `[^a-z]` / `[!a-z]`: one character of (or not of) a class; `]` first in a
 *   class is literal; POSIX classes (`[:alpha:]`) and `/` inside a class are refused.
 * - `{a,b,c}`: alternatives (nestable, may contain `/`), at least two, at most 256 in all.
 * - `|`, `(` and `)` are refused everywhere outside a class (no extglobs, no regex alternation),
 *   and so is a leading `!` (no negation); `\` and NUL are refused. Every other character,
 *   `!` `+` `@` `$` `^` `.` `,` included, means itself.
 * - A trailing `/` (`docs/hr/`) names the folder itself only — the same names as `docs/hr`.
 */

/** Sorted, disjoint, inclusive UTF-16 code-unit intervals, flat: `[lo0, hi0, lo1, hi1, …]`. */
export type CharSet = readonly number[]

export type GlobNode =
  | { readonly t: 'set'; readonly set: CharSet }
  | { readonly t: 'seq'; readonly items: readonly GlobNode[] }
  | { readonly t: 'alt'; readonly items: readonly GlobNode[] }
  | { readonly t: 'star'; readonly item: GlobNode }

const MAX_UNIT = 0xffff
const SLASH = 0x2f
/** Any code unit but `/`: what `*` repeats and `?` matches. */
export const NOT_SLASH: CharSet = [0, SLASH - 1, SLASH + 1, MAX_UNIT]
/** Most alternatives one pattern may expand to. */
export const MAX_ALTERNATIVES = 256

/** One brace-free alternative of a pattern. */
export interface GlobAlternative {
  /** The alternative as text (braces expanded, trailing `/` removed). */
  readonly text: string
  readonly node: GlobNode
  /** The whole alternative when it has no wildcard, else undefined. */
  readonly literal: string | undefined
  /** The first segment when it has no wildcard (for the index), else undefined. */
  readonly head: string | undefined
}

export interface ParsedGlob {
  readonly alternatives: readonly GlobAlternative[]
  readonly node: GlobNode
}

const set = (s: CharSet): GlobNode => ({ t: 'set', set: s })
const unit = (c: number): GlobNode => set([c, c])
const seq = (items: GlobNode[]): GlobNode => (items.length === 1 ? (items[0] as GlobNode) : { t: 'seq', items })
const star = (item: GlobNode): GlobNode => ({ t: 'star', item })
/** One non-empty segment: `[^/]+`. */
const SEGMENT = seq([set(NOT_SLASH), star(set(NOT_SLASH))])

/** Normalise intervals: sort and merge. */
export function charSet(ranges: ReadonlyArray<readonly [number, number]>): CharSet {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: number[] = []
  for (const [lo, hi] of sorted) {
    const last = out.length - 1
    if (last > 0 && lo <= (out[last] as number) + 1) out[last] = Math.max(out[last] as number, hi)
    else out.push(lo, hi)
  }
  return out
}

/** The units of NOT_SLASH that are not in `s`. */
function negate(s: CharSet): CharSet {
  const out: Array<[number, number]> = []
  let next = 0
  for (let i = 0; i < s.length; i += 2) {
    if ((s[i] as number) > next) out.push([next, (s[i] as number) - 1])
    next = (s[i + 1] as number) + 1
  }
  if (next <= MAX_UNIT) out.push([next, MAX_UNIT])
  const split: Array<[number, number]> = []
  for (const [lo, hi] of out) {
    if (lo <= SLASH - 1 && SLASH <= hi) split.push([lo, SLASH - 1])
    else if (lo < SLASH && hi < SLASH) split.push([lo, hi])
    if (hi >= SLASH + 1 && lo <= hi) split.push([Math.max(lo, SLASH + 1), hi])
  }
  return charSet(split)
}

export function inSet(s: CharSet, c: number): boolean {
  for (let i = 0; i < s.length; i += 2) {
    if (c < (s[i] as number)) return false
    if (c <= (s[i + 1] as number)) return true
  }
  return false
}

class GlobSyntaxError extends Error {}
const fail = (expected: string): never => {
  throw new GlobSyntaxError(expected)
}

const isSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdfff

/** Index just past the class that opens at `i`, or -1 when it is not closed. */
function classEnd(s: string, i: number): number {
  let j = i + 1
  if (s[j] === '^' || s[j] === '!') j++
  if (s[j] === ']') j++
  while (j < s.length && s[j] !== ']') j++
  return j < s.length ? j + 1 : -1
}

function parseClass(s: string, i: number): { node: GlobNode; end: number } {
  let j = i + 1
  let negated = false
  if (s[j] === '^' || s[j] === '!') {
    negated = true
    j++
  }
  const ranges: Array<[number, number]> = []
  let first = true
  for (;;) {
    if (j >= s.length) fail('a [ class closed by ]')
    const c = s.charCodeAt(j)
    if (s[j] === ']' && !first) break
    if (c === SLASH) fail('a [ class without / (a class matches one character inside a segment)')
    if (s[j] === '[' && (s[j + 1] === ':' || s[j + 1] === '=' || s[j + 1] === '.'))
      fail('a class without POSIX classes such as [:alpha:] (write the range, e.g. [a-zA-Z])')
    if (isSurrogate(c)) fail('a class of characters from the Basic Multilingual Plane')
    if (s[j + 1] === '-' && j + 2 < s.length && s[j + 2] !== ']') {
      const hi = s.charCodeAt(j + 2)
      if (hi === SLASH || isSurrogate(hi) || hi < c) fail('a class range low-high such as a-z, without /')
      ranges.push([c, hi])
      j += 3
    } else {
      ranges.push([c, c])
      j++
    }
    first = false
  }
  const members = charSet(ranges)
  return { node: set(negated ? negate(members) : members), end: j + 1 }
}

/** Expand `{a,b}` alternatives (outside classes); the results have no braces. */
function expandBraces(s: string): string[] {
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]
    if (ch === '[') {
      const end = classEnd(s, i)
      if (end < 0) fail('a [ class closed by ]')
      i = end - 1
    } else if (ch === '}') fail('braces that open before they close ({a,b})')
    else if (ch === '{') {
      const parts: string[] = []
      let depth = 1
      let start = i + 1
      let k = i + 1
      for (; k < s.length; k++) {
        const c = s[k]
        if (c === '[') {
          const end = classEnd(s, k)
          if (end < 0) fail('a [ class closed by ]')
          k = end - 1
        } else if (c === '{') depth++
        else if (c === '}' && --depth === 0) break
        else if (c === ',' && depth === 1) {
          parts.push(s.slice(start, k))
          start = k + 1
        }
      }
      if (k >= s.length) fail('a { closed by }')
      parts.push(s.slice(start, k))
      if (parts.length < 2) fail('braces with at least two alternatives ({a,b}); match a literal { with [{]')
      const alternatives = parts.flatMap(expandBraces)
      const tails = expandBraces(s.slice(k + 1))
      if (alternatives.length * tails.length > MAX_ALTERNATIVES) fail(`at most ${MAX_ALTERNATIVES} brace alternatives`)
      const head = s.slice(0, i)
      return alternatives.flatMap((a) => tails.map((t) => head + a + t))
    }
  }
  return [s]
}

function parseSegment(seg: string, first: boolean): { node: GlobNode; literal: boolean } {
  if (seg.includes('**')) fail('** only as a whole path segment (docs/**/x.txt); use * inside a segment')
  const items: GlobNode[] = []
  let literal = true
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i] as string
    const c = seg.charCodeAt(i)
    if (ch === '*') {
      items.push(star(set(NOT_SLASH)))
      literal = false
    } else if (ch === '?') {
      items.push(set(NOT_SLASH))
      literal = false
    } else if (ch === '[') {
      const { node, end } = parseClass(seg, i)
      items.push(node)
      literal = false
      i = end - 1
    } else if (ch === '|' || ch === '(' || ch === ')') {
      fail(`a glob without ${ch} (no extglobs or | alternation: write {a,b}, or [${ch}] for the character itself)`)
    } else if (ch === '!' && first && i === 0) {
      fail('a glob without a leading ! (negation is not supported; write a deny rule)')
    } else items.push(unit(c))
  }
  return { node: seq(items), literal }
}

function parseAlternative(text: string): GlobAlternative {
  let body = text
  if (body.endsWith('/') && body.length > 1) body = body.slice(0, -1) // the folder itself
  const segs = body.split('/')
  if (segs.some((s) => s === '' || s === '.' || s === '..')) fail('a glob without empty, . or .. segments')
  // Collapse `**/**`: the same set of names.
  const collapsed = segs.filter((s, i) => !(s === '**' && segs[i - 1] === '**'))
  const items: GlobNode[] = []
  let literal = true
  let slashNext = false
  collapsed.forEach((seg, i) => {
    const last = i === collapsed.length - 1
    if (seg === '**') {
      literal = false
      if (i === 0 && last) items.push(SEGMENT, star(seq([unit(SLASH), SEGMENT])))
      else if (i === 0) items.push(star(seq([SEGMENT, unit(SLASH)])))
      else items.push(star(seq([unit(SLASH), SEGMENT])))
      slashNext = i > 0
      return
    }
    if (slashNext) items.push(unit(SLASH))
    const s = parseSegment(seg, i === 0)
    literal &&= s.literal
    items.push(s.node)
    slashNext = true
  })
  const first = collapsed[0] as string
  const headLiteral = first !== '**' && parseSegment(first, true).literal
  return { text: body, node: seq(items), literal: literal ? body : undefined, head: headLiteral ? first : undefined }
}

/**
 * Parse a glob of the dialect. `wholeShare`: an alternative without `/` also covers everything
 * under it (`share:docs` is the share `docs` and its contents). Returns what was expected instead
 * when the glob is not in the dialect.
 */
export function parseGlob(glob: string, wholeShare: boolean): ParsedGlob | string {
  try {
    const texts = [...new Set(expandBraces(glob))]
    const alternatives: GlobAlternative[] = []
    for (const text of texts) {
      const alt = parseAlternative(text)
      alternatives.push(alt)
      if (wholeShare && !text.includes('/')) alternatives.push(parseAlternative(`${text}/**`))
    }
    const node =
      alternatives.length === 1
        ? (alternatives[0] as GlobAlternative).node
        : { t: 'alt' as const, items: alternatives.map((a) => a.node) }
    return { alternatives, node }
  } catch (err) {
    if (err instanceof GlobSyntaxError) return err.message
    throw err
  }
}

const hex4 = (c: number): string => `\\u${c.toString(16).padStart(4, '0')}`
const SAFE = /[A-Za-z0-9_ ~%=,:-]/

function unitSource(c: number): string {
  const ch = String.fromCharCode(c)
  return SAFE.test(ch) ? ch : hex4(c)
}

function setSource(s: CharSet): string {
  if (s.length === 4 && s[0] === 0 && s[1] === SLASH - 1 && s[2] === SLASH + 1 && s[3] === MAX_UNIT) return '[^/]'
  if (s.length === 2 && s[0] === s[1]) return unitSource(s[0] as number)
  let out = '['
  for (let i = 0; i < s.length; i += 2) {
    out += hex4(s[i] as number)
    if (s[i + 1] !== s[i]) out += `-${hex4(s[i + 1] as number)}`
  }
  return `${out}]`
}

function source(n: GlobNode): string {
  switch (n.t) {
    case 'set':
      return setSource(n.set)
    case 'seq':
      return n.items.map(source).join('')
    case 'alt':
      return `(?:${n.items.map(source).join('|')})`
    case 'star': {
      const inner = source(n.item)
      return n.item.t === 'set' ? `${inner}*` : `(?:${inner})*`
    }
  }
}

/** An anchored RegExp for the parsed glob (what CASL's `$regex` and `explain` test). */
export function globRegExp(parsed: ParsedGlob): RegExp {
  return new RegExp(`^${source(parsed.node)}$`)
}
