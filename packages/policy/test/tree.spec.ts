import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { isPeerguardError } from '@peerguard/interface'
import { loadPolicy, type Policy, type PolicyPeer } from '@peerguard/policy'

const staff: PolicyPeer = {
  peerId: 'HGJDJCX-WFH5XRY-K6AI4FJ-IDBW4OC-QU2KNRQ-3K745LG-X4UNFX2-U4MXTAO',
  name: 'staff.lan',
  groups: ['staff']
}
const hr: PolicyPeer = {
  peerId: 'YSP4XRO-VVVAXYK-F5IYR2I-TB2BU7A-7UTKEQA-SP6RR7D-VK63LW2-LAGULQM',
  name: 'hr.lan',
  groups: ['staff', 'hr']
}

const OFFICE = `version: 1
rules:
  - id: staff-office
    allow: [read, write]
    peers: ["ou:staff"]
    resources: ["share:office/**"]
  - id: salaries
    deny: [read, write]
    peers: ["ou:staff"]
    resources: ["share:office/hr/salaries/**"]
  - id: big-files
    deny: [put]
    peers: ["*"]
    resources: ["share:office/media/**"]
    when: { min-size: 1MB }
  - id: hr-reports
    allow: [get]
    peers: ["ou:hr"]
    resources: ["share:reports/{2024,2025}/*.pdf", "share:reports/", "share:reports/{2024,2025}/"]
`

describe('decideTree: the subtree query', () => {
  const policy = loadPolicy(OFFICE)
  const tree = (peer: PolicyPeer, action: string, resource: string, context = {}) =>
    policy.decideTree({ peer, action, resource, context })

  it('a rename of an ancestor of a denied folder is denied, naming the rule and a blocked resource', () => {
    const d = tree(staff, 'rename', 'share:office/hr')
    expect(d).toMatchObject({ allowed: false, code: 'deny-rule', rule: { id: 'salaries' }, blocked: 'share:office/hr/salaries' })
    expect(d.reason).toContain('share:office/hr/salaries/**')
    // decide() on the blocked resource gives the same rule.
    expect(policy.decide({ peer: staff, action: 'rename', resource: d.blocked as string })).toMatchObject({
      allowed: false,
      rule: { id: 'salaries' }
    })
    expect(tree(staff, 'rename', 'share:office')).toMatchObject({ code: 'deny-rule', rule: { id: 'salaries' } })
  })

  it('a subtree with no deny under it and an allow over all of it is allowed', () => {
    const d = tree(staff, 'write', 'share:office/public')
    expect(d).toMatchObject({ allowed: true, code: 'allow', rule: { id: 'staff-office' } })
    expect(d.blocked).toBeUndefined()
    expect(tree(staff, 'read', 'share:office/hr/other')).toMatchObject({ allowed: true })
  })

  it('the resource itself denied: the decide() result, blocked = the resource', () => {
    expect(tree(staff, 'get', 'share:office/hr/salaries/2026.txt')).toMatchObject({
      allowed: false,
      code: 'deny-rule',
      rule: { id: 'salaries' },
      blocked: 'share:office/hr/salaries/2026.txt'
    })
    expect(tree(staff, 'get', 'share:elsewhere')).toMatchObject({ code: 'deny-default', blocked: 'share:elsewhere' })
    expect(tree(staff, 'get', 'share:office/../x')).toMatchObject({ code: 'deny-invalid-resource' })
  })

  it('conditions are evaluated for the request as decide() does (unknown size: the deny applies)', () => {
    expect(tree(staff, 'put', 'share:office')).toMatchObject({ allowed: false, rule: { id: 'salaries' } })
    expect(tree(staff, 'put', 'share:office/media')).toMatchObject({ allowed: false, rule: { id: 'big-files' } })
    expect(tree(staff, 'put', 'share:office/media', { size: 10 })).toMatchObject({ allowed: true })
    expect(tree(staff, 'put', 'share:office/media', { size: 5_000_000 })).toMatchObject({ rule: { id: 'big-files' } })
  })

  it('a folder allowed only for itself or some of its children is not allowed as a tree (deny-default)', () => {
    expect(policy.decide({ peer: hr, action: 'get', resource: 'share:reports/2024/a.pdf' }).allowed).toBe(true)
    expect(policy.decide({ peer: hr, action: 'get', resource: 'share:reports' }).allowed).toBe(true)
    const d = tree(hr, 'get', 'share:reports')
    expect(d).toMatchObject({ allowed: false, code: 'deny-default' })
    expect(policy.decide({ peer: hr, action: 'get', resource: d.blocked as string }).allowed).toBe(false)
    expect(tree(hr, 'get', 'share:reports/2024')).toMatchObject({ allowed: false, code: 'deny-default' })
  })

  it('malformed requests throw as decide() does', () => {
    expect(() => tree(staff, 'fly', 'share:office')).toThrow(/request.action/)
    expect(() => policy.decideTree({ peer: staff, action: 'get', resource: 'bogus' })).toThrow(/request.resource/)
  })
})

// ---- differential: decideTree against a brute-force enumeration of the subtree ----

/** Segments the enumeration builds paths from: letters, dots, and every glob metacharacter. */
const SEGMENTS = [
  'a',
  'b',
  'x.txt',
  '.h',
  '..a',
  'ab',
  '*',
  '?',
  '[',
  ']',
  '{a,b}',
  '!',
  '+',
  '@',
  '(',
  ')',
  '|',
  '^',
  '$',
  ',',
  'a b'
]
const PATTERN_PARTS = [
  'a',
  'b',
  '*',
  '**',
  '?',
  '*.txt',
  '.h',
  '[ab]',
  '[^a]',
  '[!.]*',
  '{a,b}',
  '{a,b/a}',
  'a*',
  '*b',
  '?b',
  '+',
  '@',
  '!',
  '$',
  '^',
  ',',
  '[*]',
  '[[]',
  '[|]',
  '{*,a/**}',
  'a|b',
  '(a)',
  '**a'
]

const pattern = fc
  .tuple(fc.array(fc.constantFrom(...PATTERN_PARTS), { minLength: 0, maxLength: 3 }), fc.boolean())
  .map(([parts, slash]) => `share:d${parts.length === 0 ? '' : `/${parts.join('/')}`}${slash && parts.length > 0 ? '/' : ''}`)
const ruleArb = fc.record({
  deny: fc.boolean(),
  verbs: fc.subarray(['get', 'put', 'rename'] as const, { minLength: 1 }),
  resources: fc.array(fc.oneof(pattern, fc.constantFrom('share:d', 'share:**', 'share:*/a/**')), { minLength: 1, maxLength: 2 }),
  sized: fc.boolean()
})

function enumerate(base: string, depth: number): string[] {
  const out: string[] = []
  const walk = (prefix: string, d: number): void => {
    if (d === 0) return
    for (const s of SEGMENTS) {
      const n = `${prefix}/${s}`
      out.push(n)
      walk(n, d - 1)
    }
  }
  walk(base, depth)
  return out
}

function load(
  rules: Array<{ deny: boolean; verbs: readonly string[]; resources: string[]; sized: boolean }>
): Policy | undefined {
  const doc = {
    version: 1,
    rules: rules.map((r) => ({
      [r.deny ? 'deny' : 'allow']: r.verbs,
      peers: ['*'],
      resources: r.resources,
      ...(r.sized ? { when: { 'max-size': 100 } } : {})
    }))
  }
  try {
    return loadPolicy(stringify(doc))
  } catch (err) {
    if (isPeerguardError(err) && err.code === 'policy-bad-glob') return undefined
    throw err
  }
}

const peer: PolicyPeer = { peerId: 'p1', groups: [] }

describe('decideTree: differential against brute force', () => {
  it('an allow is never wrong on any enumerated descendant; a denial always names a real denied resource', () => {
    const bases = ['share:d', 'share:d/a', 'share:d/b', 'share:d/*', 'share:d/a/a']
    const names = new Map(bases.map((b) => [b, enumerate(b, 2)]))
    let allowed = 0
    let denied = 0
    fc.assert(
      fc.property(
        fc.array(ruleArb, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(...bases),
        fc.constantFrom('get', 'put', 'rename', 'read', 'write'),
        fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
        (rules, base, action, size) => {
          const policy = load(rules)
          if (policy === undefined) return
          const context = size === undefined ? {} : { size }
          const d = policy.decideTree({ peer, action, resource: base, context })
          if (d.allowed) {
            allowed++
            for (const n of [base, ...(names.get(base) as string[])]) {
              const one = policy.decide({ peer, action, resource: n, context })
              if (one.code === 'deny-invalid-resource') continue
              if (!one.allowed) throw new Error(`decideTree allowed ${base} but decide denies ${n}: ${one.reason}`)
            }
          } else {
            denied++
            const b = d.blocked as string
            expect(b === base || b.startsWith(`${base}/`)).toBe(true)
            const one = policy.decide({ peer, action, resource: b, context })
            expect(one.allowed).toBe(false)
            expect(one.code).toBe(d.code)
            expect(one.rule?.id).toBe(d.rule?.id)
          }
        }
      ),
      { numRuns: 400 }
    )
    // Both outcomes must occur, or the property says little.
    expect(allowed).toBeGreaterThan(10)
    expect(denied).toBeGreaterThan(10)
  })
})
