/**
 * Resources are strings `<kind>:<name>`:
 *
 * - `share:<share>/<path>` — a file or folder inside a shared folder; the first path segment names
 *   the share (`share:docs/reports/q3.pdf` is `reports/q3.pdf` in the share `docs`).
 * - `swarm:<name>` — a swarm by the name its publisher gave it; `swarm-id:<64 hex digits>` — a
 *   swarm by its ID (the SHA-256 of its manifest; compared lowercased). Two kinds, so that a name
 *   a publisher picks can never stand for an ID: a `swarm:` pattern shaped like a hash is refused.
 * - `service:<name>` — a TCP service reached through the proxy (`service:printer`).
 * - `device:<name>` — a device (`device:scanner1`).
 * - `protocol:<id>` — a libp2p protocol a stream is opened for (`protocol:/app/echo/1.0.0`); the
 *   leading `/` of the ID is dropped before matching, so `protocol:/app/**` matches it, and
 *   `protocol:app/echo/1.0.0` means the same protocol.
 *
 * Patterns in rules are the same strings with globs of the dialect of `glob.ts` after the colon (`share:docs/**`,
 * `swarm:*`). A share pattern without `/` names the whole share: `share:docs` means `docs` and
 * everything in it. Globs match dot files (`**` covers `.git`): a deny must not miss hidden files.
 */
import { buildNfa, type Nfa } from './automaton.js'
import { globRegExp, type ParsedGlob, parseGlob } from './glob.js'

export const RESOURCE_KINDS = ['share', 'swarm', 'swarm-id', 'service', 'device', 'protocol'] as const
export type ResourceKind = (typeof RESOURCE_KINDS)[number]

/** Longest resource string `decide()` accepts. */
export const MAX_RESOURCE_LENGTH = 4096

export function isResourceKind(value: string): value is ResourceKind {
  return (
    value === 'share' ||
    value === 'swarm' ||
    value === 'swarm-id' ||
    value === 'service' ||
    value === 'device' ||
    value === 'protocol'
  )
}

const HEX_HASH = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/
const SWARM_ID = /^[0-9a-f]{64}$/

/** Lowercase a swarm ID; drop the leading `/` of a libp2p protocol ID; leave every other name as it is. */
export function normaliseName(kind: ResourceKind, name: string): string {
  if (kind === 'swarm-id') return name.toLowerCase()
  if (kind === 'protocol' && name.startsWith('/')) return name.slice(1)
  return name
}

const BAD_NAME = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\/|\/$|\\|\0/

/** A cheap pre-check on the hot path; BAD_NAME decides when it cannot rule the name out. */
function quickBad(name: string): boolean {
  const first = name.charCodeAt(0)
  if (first === 0x2f || name.charCodeAt(name.length - 1) === 0x2f) return true
  if (name.includes('//') || name.includes('\\') || name.includes('\0')) return true
  return (first === 0x2e || name.includes('/.')) && BAD_NAME.test(name)
}

/** Why a concrete resource name is refused (`..`, empty segment, NUL), or undefined when fine. */
export function badResourceName(name: string, kind?: ResourceKind): string | undefined {
  if (name.length === 0) return 'empty name'
  if (kind === 'swarm-id' && !SWARM_ID.test(name)) return 'a swarm ID is 64 hex digits'
  if (!quickBad(name)) return undefined
  if (name.includes('\0')) return 'NUL character'
  if (name.includes('\\')) return 'backslash (use /)'
  if (name.startsWith('/')) return 'leading /'
  for (const seg of name.split('/')) {
    if (seg === '') return 'empty path segment'
    if (seg === '..' || seg === '.') return `"${seg}" path segment`
  }
  return 'bad name'
}

/** The first segment of a concrete name. */
export function headOf(name: string): string {
  const slash = name.indexOf('/')
  return slash < 0 ? name : name.slice(0, slash)
}

export interface CompiledPattern {
  readonly kind: ResourceKind
  /** The glob after the colon, as written (info-hashes lowercased). */
  readonly glob: string
  /** The brace-free alternatives actually matched: `docs` for a share also becomes `docs/**`. */
  readonly globs: readonly string[]
  /** One anchored RegExp for the pattern (handed to CASL as `$regex`); built on first use. */
  readonly regex: RegExp
  /** The automaton `decideTree` walks; built on first use. */
  readonly nfa: Nfa
  /** Literal first segment shared by every alternative, for indexing. */
  readonly head: string | undefined
  /**
   * The same test as `regex`, faster for the common shapes (`a/b`, `a/b/**`), for names that
   * passed `badResourceName`. The differential tests hold it equal to `regex`.
   */
  readonly match: (name: string) => boolean
}

/** Names made only of these characters mean themselves in the dialect. */
const SAFE_LITERAL = /^[A-Za-z0-9_.~%=,:\- /]+$/

function fastMatcher(globs: readonly string[], regex: () => RegExp): (name: string) => boolean {
  const literal = (g: string): boolean => SAFE_LITERAL.test(g)
  if (globs.length === 1 && literal(globs[0] as string)) {
    const only = globs[0] as string
    return (name) => name === only
  }
  // `L/**` (alone, or with `L` for a whole share): L itself or anything under it.
  const tree = globs.find((g) => g.endsWith('/**') && literal(g.slice(0, -3)))
  if (tree !== undefined && globs.every((g) => g === tree || g === tree.slice(0, -3))) {
    const base = tree.slice(0, -3)
    const prefix = `${base}/`
    return (name) => name === base || name.startsWith(prefix)
  }
  return (name) => regex().test(name)
}

const patternCache = new Map<string, CompiledPattern>()

/** Compile `kind:glob`; returns what was expected instead when the pattern is bad. */
export function compilePattern(text: string): CompiledPattern | string {
  const cached = patternCache.get(text)
  if (cached !== undefined) return cached
  const colon = text.indexOf(':')
  const kind = colon < 0 ? '' : text.slice(0, colon)
  if (!isResourceKind(kind)) return `a resource pattern <kind>:<glob> with kind ${RESOURCE_KINDS.join(', ')}`
  const glob = normaliseName(kind, text.slice(colon + 1))
  if (glob.length === 0 || glob.length > 1024) return 'a non-empty glob of at most 1024 characters after the colon'
  if (glob.startsWith('!')) return 'a glob without a leading ! (negation is not supported; write a deny rule)'
  if (glob.startsWith('/')) return 'a relative glob (no leading /)'
  if (glob.includes('\0') || glob.includes('\\')) return 'a glob without backslashes or NUL characters'
  if (kind === 'swarm' && HEX_HASH.test(glob))
    return 'a swarm name, not a hash: write swarm-id:<64 hex digits> for a swarm ID (a publisher picks the name, and may pick a hash)'
  if (kind === 'swarm-id' && !/[*?[{]/.test(glob) && !SWARM_ID.test(glob)) return 'a swarm ID of 64 hex digits, or a glob'
  const parsed: ParsedGlob | string = parseGlob(glob, kind === 'share')
  if (typeof parsed === 'string') return parsed
  const globs = parsed.alternatives.map((a) => a.text)
  const heads = new Set(parsed.alternatives.map((a) => a.head))
  let compiled: RegExp | undefined
  let nfa: Nfa | undefined
  const regex = (): RegExp => {
    compiled ??= globRegExp(parsed)
    return compiled
  }
  const pattern: CompiledPattern = {
    kind,
    glob,
    globs,
    get regex() {
      return regex()
    },
    get nfa() {
      nfa ??= buildNfa(parsed.node)
      return nfa
    },
    head: heads.size === 1 ? [...heads][0] : undefined,
    match: fastMatcher(globs, regex)
  }
  if (patternCache.size >= 10_000) patternCache.delete(patternCache.keys().next().value as string)
  patternCache.set(text, pattern)
  return pattern
}

/** Split `kind:name` into its kind and name; undefined when the kind is unknown. */
export function splitResource(resource: string): { kind: ResourceKind; name: string } | undefined {
  const colon = resource.indexOf(':')
  if (colon < 0) return undefined
  const kind = resource.slice(0, colon)
  if (!isResourceKind(kind)) return undefined
  return { kind, name: normaliseName(kind, resource.slice(colon + 1)) }
}

/** True when every string the glob `inner` matches is matched by `outer` (conservative). */
export function globCovers(outer: CompiledPattern, inner: CompiledPattern): boolean {
  if (outer.kind !== inner.kind) return false
  return inner.globs.every((g) => outer.globs.some((o) => singleGlobCovers(o, g)))
}

function singleGlobCovers(outer: string, inner: string): boolean {
  if (outer === inner || outer === '**') return true
  // `P/**` covers `P` and every glob under `P/` when P is literal.
  if (outer.endsWith('/**')) {
    const prefix = outer.slice(0, -3)
    if (!SAFE_LITERAL.test(prefix)) return false
    return inner === prefix || inner.startsWith(`${prefix}/`)
  }
  return false
}
