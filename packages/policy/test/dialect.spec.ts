import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { isPeerguardError } from '@peerguard/interface'
import { loadPolicy, type Policy, type PolicyPeer } from '@peerguard/policy'

/**
 * One glob dialect: decide() (fast index + fast matchers), decideWithCasl() (CASL `$regex`),
 * explain() and an independent reference matcher written from the README's definition agree on
 * patterns and names drawn from an alphabet holding every glob metacharacter.
 */

const peer: PolicyPeer = { peerId: 'p1', groups: [] }

function policyFor(pattern: string): Policy | string {
  const text = `version: 1\nrules:\n  - id: r\n    allow: [get]\n    peers: ["*"]\n    resources: [${JSON.stringify(pattern)}]\n`
  try {
    return loadPolicy({ text, file: 'dialect.yaml' })
  } catch (err) {
    if (!isPeerguardError(err)) throw err
    return `${err.code} ${err.message}`
  }
}

// ---- the reference: the README's definition, written as plainly as possible ----

/** Expand braces; undefined when they do not balance or have fewer than two alternatives. */
function refExpand(g: string): string[] | undefined {
  let depth = 0
  let open = -1
  for (let i = 0; i < g.length; i++) {
    const c = g[i]
    if (c === '[') {
      let j = i + 1
      if (g[j] === '^' || g[j] === '!') j++
      if (g[j] === ']') j++
      while (j < g.length && g[j] !== ']') j++
      if (j >= g.length) return undefined
      i = j
    } else if (c === '{') {
      if (depth === 0) open = i
      depth++
    } else if (c === '}') {
      depth--
      if (depth < 0) return undefined
      if (depth === 0) {
        const inner = g.slice(open + 1, i)
        const parts: string[] = []
        let d = 0
        let start = 0
        for (let k = 0; k < inner.length; k++) {
          if (inner[k] === '[') {
            let j = k + 1
            if (inner[j] === '^' || inner[j] === '!') j++
            if (inner[j] === ']') j++
            while (j < inner.length && inner[j] !== ']') j++
            k = j
          } else if (inner[k] === '{') d++
          else if (inner[k] === '}') d--
          else if (inner[k] === ',' && d === 0) {
            parts.push(inner.slice(start, k))
            start = k + 1
          }
        }
        parts.push(inner.slice(start))
        if (parts.length < 2) return undefined
        const out: string[] = []
        for (const p of parts) {
          const sub = refExpand(g.slice(0, open) + p + g.slice(i + 1))
          if (sub === undefined) return undefined
          out.push(...sub)
        }
        return out
      }
    }
  }
  return depth === 0 ? [g] : undefined
}

function classMatch(p: string, i: number, ch: string): { ok: boolean; end: number } {
  let j = i + 1
  let neg = false
  if (p[j] === '^' || p[j] === '!') {
    neg = true
    j++
  }
  let hit = false
  let first = true
  while (first || p[j] !== ']') {
    const lo = p[j] as string
    if (p[j + 1] === '-' && p[j + 2] !== ']' && j + 2 < p.length) {
      if (ch >= lo && ch <= (p[j + 2] as string)) hit = true
      j += 3
    } else {
      if (ch === lo) hit = true
      j++
    }
    first = false
  }
  return { ok: neg ? !hit && ch !== '/' : hit, end: j + 1 }
}

function segMatch(p: string, s: string, i = 0, j = 0): boolean {
  if (i === p.length) return j === s.length
  const c = p[i]
  if (c === '*') return segMatch(p, s, i + 1, j) || (j < s.length && segMatch(p, s, i, j + 1))
  if (j >= s.length) return false
  if (c === '?') return segMatch(p, s, i + 1, j + 1)
  if (c === '[') {
    const { ok, end } = classMatch(p, i, s[j] as string)
    return ok && segMatch(p, s, end, j + 1)
  }
  return c === s[j] && segMatch(p, s, i + 1, j + 1)
}

function altMatch(glob: string, name: string): boolean {
  const gs = (glob.endsWith('/') ? glob.slice(0, -1) : glob).split('/')
  const ns = name.split('/')
  const m = (i: number, j: number): boolean => {
    if (i === gs.length) return j === ns.length
    if (gs[i] === '**') return m(i + 1, j) || (j < ns.length && m(i, j + 1))
    return j < ns.length && segMatch(gs[i] as string, ns[j] as string) && m(i + 1, j + 1)
  }
  return m(0, 0)
}

function refMatch(glob: string, name: string): boolean {
  return (refExpand(glob) ?? []).some((alt) => altMatch(alt, name) || (!alt.includes('/') && altMatch(`${alt}/**`, name)))
}

// ---- generators: every metacharacter, in patterns and in names ----

const META = ['*', '**', '?', '[', ']', '{', '}', ',', '(', ')', '|', '!', '+', '@', '^', '$', '.', '-', '/']
const PIECES = [
  ...META,
  'a',
  'b',
  'x',
  '[ab]',
  '[^a]',
  '[!b]',
  '[a-c]',
  '[]]',
  '[*]',
  '[(]',
  '{a,b}',
  '{a,*}',
  '{a,b/c}',
  '+(a)',
  '@(a|b)',
  '!(a)'
]
const patternArb = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }).map((p) => `share:d/${p.join('')}`)
const NAME_CHARS = ['a', 'b', 'c', 'x', '*', '?', '[', ']', '{', '}', ',', '(', ')', '|', '!', '+', '@', '^', '$', '.', '-', ' ']
const segmentArb = fc
  .array(fc.constantFrom(...NAME_CHARS), { minLength: 1, maxLength: 4 })
  .map((c) => c.join(''))
  .filter((s) => s !== '.' && s !== '..')
const nameArb = fc.array(segmentArb, { minLength: 1, maxLength: 3 }).map((s) => `d/${s.join('/')}`)

describe('one glob dialect', () => {
  it('decide, decideWithCasl, explain and the reference agree on every metacharacter', () => {
    let loaded = 0
    let matched = 0
    fc.assert(
      fc.property(patternArb, fc.array(nameArb, { minLength: 1, maxLength: 8 }), (pattern, names) => {
        const policy = policyFor(pattern)
        if (typeof policy === 'string') {
          // Refused: only as a located bad glob.
          expect(policy).toMatch(/^policy-bad-glob dialect\.yaml:\d+:\d+: /)
          return
        }
        loaded++
        const glob = pattern.slice('share:'.length)
        for (const name of names) {
          const request = { peer, action: 'get', resource: `share:${name}` }
          const fast = policy.decide(request)
          const casl = policy.decideWithCasl(request)
          const explained = policy.explain(request)
          const ref = refMatch(glob, name)
          if (ref) matched++
          expect({ name, fast: fast.allowed }).toEqual({ name, fast: ref })
          expect(casl).toEqual(fast)
          expect(explained.decision).toEqual(fast)
          expect(explained.rules.find((r) => r.id === 'r')?.matched).toBe(ref)
        }
      }),
      {
        numRuns: 1500,
        // Matching names are rare in random runs (40-122 per 1,500 over 40 seeds, mean ~75: a floor
        // of 20 failed about 1 run in 1,000). These three always match all 8 names (24), so the
        // coverage floor below holds on every seed; a broken matcher or reference fails on them.
        examples: [
          ['share:d/**', ['d/a', 'd/b/c', 'd/x.', 'd/[a]', 'd/{a,b}', 'd/a b/c', 'd/!', 'd/+/@/$']],
          ['share:d/*', ['d/a', 'd/bc', 'd/*', 'd/?', 'd/x-y', 'd/(a)', 'd/^$', 'd/|']],
          ['share:d/[ab]?', ['d/aa', 'd/bx', 'd/a*', 'd/b?', 'd/a.', 'd/b-', 'd/a ', 'd/b]']]
        ]
      }
    )
    expect(loaded).toBeGreaterThan(300)
    expect(matched).toBeGreaterThanOrEqual(24)
  })

  it('extglob and alternation characters are refused with a located error that says what to write', () => {
    for (const bad of ['share:hr|payroll/**', 'share:docs/+(a|b)', 'share:docs/@(x)', 'share:docs/!(x)', 'share:docs/(a)']) {
      const r = policyFor(bad)
      expect(r).toMatch(/^policy-bad-glob dialect\.yaml:6:\d+: /)
    }
    const r = policyFor('share:hr|payroll/**')
    expect(r).toContain('write {a,b}')
    // The character itself, in a class, is fine.
    const ok = policyFor('share:hr[|]payroll/**') as Policy
    expect(ok.decide({ peer, action: 'get', resource: 'share:hr|payroll/x' }).allowed).toBe(true)
    expect(ok.decide({ peer, action: 'get', resource: 'share:hr/x' }).allowed).toBe(false)
  })

  it('the issue-10 case: `hr|payroll` can no longer mean two things', () => {
    expect(policyFor('share:{hr,payroll}/**')).not.toEqual(expect.any(String))
    const p = policyFor('share:{hr,payroll}/**') as Policy
    for (const n of ['hr/a', 'payroll/a', 'payroll'])
      expect(p.decide({ peer, action: 'get', resource: `share:${n}` }).allowed).toBe(true)
    expect(p.decide({ peer, action: 'get', resource: 'share:hr|payroll/a' }).allowed).toBe(false)
  })

  it.each([
    ['share:docs/a**', '** only as a whole path segment'],
    ['share:docs/{a}', 'at least two alternatives'],
    ['share:docs/{a,b', 'a { closed by }'],
    ['share:docs/a}', 'braces that open before they close'],
    ['share:docs/[a', 'a [ class closed by ]'],
    ['share:docs/[[:alpha:]]', 'POSIX classes'],
    ['share:docs/[z-a]', 'a class range low-high'],
    ['share:docs//x', 'empty, . or .. segments']
  ])('refuses %s (%s)', (pattern, expected) => {
    expect(policyFor(pattern)).toContain(expected)
  })

  it('a folder itself: share:docs/ and share:docs/hr/ name the folder, not what is inside', () => {
    const p = policyFor('share:docs/hr/') as Policy
    expect(p.decide({ peer, action: 'get', resource: 'share:docs/hr' }).allowed).toBe(true)
    expect(p.decide({ peer, action: 'get', resource: 'share:docs/hr/a' }).allowed).toBe(false)
    expect(p.decideTree({ peer, action: 'get', resource: 'share:docs/hr' })).toMatchObject({
      allowed: false,
      code: 'deny-default'
    })
    const root = policyFor('share:docs/') as Policy
    expect(root.decide({ peer, action: 'get', resource: 'share:docs' }).allowed).toBe(true)
    expect(root.decide({ peer, action: 'get', resource: 'share:docs/a' }).allowed).toBe(false)
    const whole = policyFor('share:docs') as Policy
    expect(whole.decide({ peer, action: 'get', resource: 'share:docs/a/b' }).allowed).toBe(true)
    expect(whole.decideTree({ peer, action: 'get', resource: 'share:docs' }).allowed).toBe(true)
  })
})

describe('lint: patterns that probably do not say what their author meant', () => {
  it('flags extglob characters taken literally, a bare comma, a stray ] and a deny on a folder entry only', () => {
    const p = loadPolicy(`version: 1
rules:
  - id: plus
    allow: [get]
    peers: ["*"]
    resources: ["share:docs/c++/**", "share:docs/a,b", "share:docs/x]"]
  - id: entry-only
    deny: [get]
    peers: ["*"]
    resources: ["share:docs/hr", "share:docs/secret.txt", "share:docs/ok/", "share:docs/ok2/**"]
`)
    const found = p.lint().filter((f) => f.code === 'policy-lint-suspicious-pattern')
    expect(found.map((f) => [f.subject, f.severity])).toEqual([
      ['plus', 'warning'],
      ['plus', 'warning'],
      ['plus', 'warning'],
      ['entry-only', 'warning']
    ])
    expect(found[0]?.message).toContain('"+" means the character itself')
    expect(found[1]?.message).toContain('literal comma')
    expect(found[3]?.message).toContain('write share:docs/hr/** for the folder and its contents, or share:docs/hr/')
  })
})
