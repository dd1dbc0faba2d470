/**
 * Concrete names a glob matches, for questions about many names at once (a `tests:` assertion on
 * `share:docs/**`, a semantic diff). Sampling, not proof: the samples are the glob itself with its
 * wildcards filled in, plus the filled-in globs of the policy's rules that it matches.
 */
import type { PolicyModel } from './model.js'
import { badResourceName, type CompiledPattern, compilePattern } from './resource.js'

const FILL = 'sample'
const MAX_SAMPLES = 64

function expandBraces(glob: string, out: string[]): void {
  const m = /\{([^{}]*)\}/.exec(glob)
  if (m === null) {
    out.push(glob)
    return
  }
  for (const alt of (m[1] as string).split(',').slice(0, 8)) {
    if (out.length >= MAX_SAMPLES) return
    expandBraces(glob.slice(0, m.index) + alt + glob.slice(m.index + m[0].length), out)
  }
}

/** Fill the wildcards of one glob; the results are checked against the compiled pattern. */
export function instantiate(pattern: CompiledPattern): string[] {
  const out = new Set<string>()
  for (const glob of pattern.globs) {
    if (glob.includes('(')) continue
    const expanded: string[] = []
    expandBraces(glob, expanded)
    for (const g of expanded) {
      for (const deep of [false, true]) {
        let s = g
        s = s.replace(/(^|\/)\*\*(\/|$)/g, (_m, a: string, b: string) =>
          deep ? `${a}${FILL}/${FILL}${b}` : a === '' ? '' : b === '' ? '' : '/'
        )
        s = s.replace(/\*\*/g, FILL).replace(/\*/g, FILL).replace(/\?/g, 's')
        s = s.replace(/\[(!|\^)?([^\]]*)\]/g, (_m, neg: string | undefined, body: string) =>
          neg === undefined ? (body[0] ?? 'x') : body.includes('x') ? 'y' : 'x'
        )
        s = s.replace(/^\/+|\/+$/g, '')
        if (s !== '' && badResourceName(s, pattern.kind) === undefined && pattern.regex.test(s)) out.add(s)
        // A file inside a matched folder, too (`docs/**` → `docs/sample/sample.txt`).
        const file = `${s}/${FILL}.txt`
        if (s !== '' && badResourceName(file, pattern.kind) === undefined && pattern.regex.test(file)) out.add(file)
      }
    }
  }
  return [...out].slice(0, MAX_SAMPLES)
}

/** Concrete resources (`kind:name`) a resource glob stands for, given the policy's rules. */
export function samplesFor(resource: string, model: PolicyModel): string[] {
  const pattern = compilePattern(resource)
  if (typeof pattern === 'string') return []
  const names = new Set(instantiate(pattern))
  if (!/[*?[\]{}()]/.test(pattern.glob)) return [`${pattern.kind}:${pattern.glob}`]
  const others: CompiledPattern[] = [...model.rules.flatMap((r) => r.patterns), ...model.requirements.map((r) => r.pattern)]
  for (const p of others) {
    if (p.kind !== pattern.kind) continue
    for (const s of instantiate(p)) if (names.size < MAX_SAMPLES * 4 && pattern.regex.test(s)) names.add(s)
  }
  return [...names].map((n) => `${pattern.kind}:${n}`)
}
