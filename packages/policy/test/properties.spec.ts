import { describe, expect, it } from '@jest/globals'
import { subject } from '@casl/ability'
import fc from 'fast-check'
import { LineCounter, parseDocument, stringify } from 'yaml'
import { isPeerguardError } from '@peerguard/interface'
import { loadPolicy, type PolicyPeer, VERBS } from '@peerguard/policy'

/** The loader may refuse anything, but only with our own errors. */
function onlyOurErrors(text: string): void {
  try {
    loadPolicy({ text, file: 'fuzz.yaml' })
  } catch (err) {
    if (!isPeerguardError(err)) throw err
    expect(err.code.startsWith('policy-') || err.code === 'invalid-argument').toBe(true)
    expect(err.message).toMatch(/^fuzz\.yaml:\d+:\d+: /)
  }
}

/** Peer IDs (peerguard text form) of three test keys. */
const [P1, P2, P3] = [
  '3IS267F-ZJNWP3R-EFDQRFT-B3DKBIO-IRNLGZ3-7T5I44W-ILR5DXE-NJVACAK',
  'RH3QS73-4PSOVZE-J5MEFQO-PZYIGFF-OMJU5NJ-DKBP3TA-6T67SMX-MFJE6QO',
  '5UB4BGY-Z5OA4YL-PYFKSDM-3DZWQB5-MPJQ52L-LDZ2CPN-RGWT7UW-IP7IKAY'
]
const GROUPS = ['g0', 'g1', 'g2', 'g3']
const SHARES = ['docs', 'public', 'media']
const segment = fc.constantFrom('a', 'b', 'x.txt', '.hidden', 'deep')
const glob = fc.oneof(
  fc
    .tuple(fc.constantFrom(...SHARES), fc.constantFrom('', '/**', '/*', '/a/**', '/*.txt', '/{a,b}/**', '/.hidden/**', '/a'))
    .map(([s, g]) => `share:${s}${g}`),
  fc.constantFrom('share:*/a/**', 'share:**', 'swarm:*', 'swarm:team-*', 'service:printer', 'device:*')
)
const action = fc.constantFrom('read', 'write', ...VERBS)
const peerToken = fc.constantFrom('*', ...GROUPS, 'ou:staff', 'ou:guest', 'name:n1', `id:${P1}`, 'p-alias')
const when = fc.option(
  fc.record(
    {
      'max-size': fc.integer({ min: 10, max: 2000 }),
      'min-size': fc.integer({ min: 0, max: 10 }),
      time: fc.constantFrom('08:00-18:00', '22:00-06:00'),
      days: fc.subarray(['mon', 'tue', 'sat', 'sun'], { minLength: 1 }),
      networks: fc.subarray(['10.0.0.0/8', '192.168.1.0/24', 'fd00::/8'], { minLength: 1 })
    },
    { requiredKeys: [] }
  ),
  { nil: undefined }
)
const rule = fc.record({
  deny: fc.boolean(),
  actions: fc.uniqueArray(action, { minLength: 1, maxLength: 3 }),
  peers: fc.uniqueArray(peerToken, { minLength: 1, maxLength: 2 }),
  except: fc.option(
    fc.uniqueArray(
      peerToken.filter((t) => t !== '*'),
      { minLength: 1, maxLength: 2 }
    ),
    { nil: undefined }
  ),
  resources: fc.uniqueArray(glob, { minLength: 1, maxLength: 2 }),
  when
})
const policyDoc = fc.record({
  rules: fc.array(rule, { minLength: 0, maxLength: 12 }),
  members: fc.array(fc.uniqueArray(fc.constantFrom('p-alias', 'ou:staff', 'ou:guest', 'name:n1'), { maxLength: 2 }), {
    minLength: 4,
    maxLength: 4
  }),
  encryptedShares: fc.subarray(SHARES)
})
const peer: fc.Arbitrary<PolicyPeer> = fc.record({
  peerId: fc.constantFrom(P1, P2, P3),
  name: fc.option(fc.constantFrom('n1', 'n2'), { nil: undefined }),
  groups: fc.subarray(['staff', 'guest', 'other'])
})
const resource = fc.oneof(
  fc
    .tuple(fc.constantFrom(...SHARES, 'other'), fc.array(segment, { maxLength: 3 }))
    .map(([s, p]) => `share:${[s, ...p].join('/')}`),
  fc.constantFrom('swarm:team-a', 'swarm:x', 'service:printer', 'service:scanner', 'device:d1')
)
const context = fc.record(
  {
    size: fc.integer({ min: 0, max: 3000 }),
    encrypted: fc.boolean(),
    time: fc.integer({ min: Date.parse('2025-01-01'), max: Date.parse('2025-01-15') }),
    address: fc.constantFrom('10.1.2.3', '192.168.1.9:445', '[fd00::5]:80', '172.16.0.1')
  },
  { requiredKeys: [] }
)

const toText = (doc: object): string => stringify(doc)
function sampleDoc(d: { rules: Array<Record<string, unknown>>; members: string[][]; encryptedShares: string[] }) {
  return {
    version: 1,
    peers: { 'p-alias': { id: P2 } },
    groups: Object.fromEntries(GROUPS.map((g, i) => [g, i === 3 ? ['g0', ...(d.members[3] ?? [])] : (d.members[i] ?? [])])),
    resources: Object.fromEntries(d.encryptedShares.map((s) => [`share:${s}`, { require: ['encrypted'] }])),
    rules: d.rules.map((r) => ({
      [r.deny === true ? 'deny' : 'allow']: r.actions,
      peers: r.peers,
      ...(r.except === undefined ? {} : { except: r.except }),
      resources: r.resources,
      ...(r.when === undefined ? {} : { when: r.when })
    }))
  }
}

describe('loader: only our errors escape', () => {
  it('arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), onlyOurErrors), { numRuns: 400 })
  })

  it('arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => onlyOurErrors(JSON.stringify(v))),
      { numRuns: 300 }
    )
  })

  it('valid policies with one value replaced by garbage', () => {
    const garbage = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
      fc.object({ maxDepth: 1 })
    )
    fc.assert(
      fc.property(policyDoc, fc.nat(), garbage, (d, pick, value) => {
        const doc = sampleDoc(d) as Record<string, unknown>
        // Walk to a pseudo-random node and replace it.
        let node: unknown = doc
        let parent: Record<string, unknown> | unknown[] = doc
        let key: string | number = 'rules'
        for (let depth = 0; depth < 4 && node !== null && typeof node === 'object'; depth++) {
          const keys = Object.keys(node as object)
          if (keys.length === 0) break
          parent = node as Record<string, unknown>
          key = keys[(pick >> (depth * 3)) % keys.length] as string
          node = (parent as Record<string, unknown>)[key]
        }
        ;(parent as Record<string, unknown>)[key] = value
        onlyOurErrors(stringify(doc))
      }),
      {
        numRuns: 300,
        // Found by CI: an enum value that is a mapping whose `toString` is a list made the error
        // message builder throw a TypeError (String() called into the value).
        examples: [[{ rules: [], members: [[], [], [], []], encryptedShares: ['docs'] } as never, 2130706418, { toString: [] }]]
      }
    )
  })

  it('truncated valid policies', () => {
    fc.assert(
      fc.property(policyDoc, fc.nat(), (d, cut) => {
        const text = stringify(sampleDoc(d))
        onlyOurErrors(text.slice(0, cut % (text.length + 1)))
      }),
      { numRuns: 200 }
    )
  })
})

describe('differential: the fast path agrees with plain CASL', () => {
  it('decide() equals ability.can() and relevantRuleFor() on random policies and requests', () => {
    fc.assert(
      fc.property(
        policyDoc,
        fc.array(fc.tuple(peer, action, resource, context), { minLength: 1, maxLength: 25 }),
        (d, requests) => {
          const policy = loadPolicy(toText(sampleDoc(d)))
          for (const [p, a, r, ctx] of requests) {
            const request = { peer: p, action: a, resource: r, context: ctx }
            const fast = policy.decide(request)
            const slow = policy.decideWithCasl(request)
            expect(fast).toEqual(slow)
            // And straight through the CASL ability, for requests whose facts need no derivation.
            if (ctx.time === undefined && ctx.address === undefined && a !== 'read' && a !== 'write') {
              const [kind, name] = [r.slice(0, r.indexOf(':')), r.slice(r.indexOf(':') + 1)]
              const facts = {
                name,
                ...(ctx.size === undefined ? {} : { size: ctx.size }),
                ...(ctx.encrypted === undefined ? {} : { encrypted: ctx.encrypted })
              }
              const ability = policy.abilityFor(p)
              const hasTimeRules = d.rules.some((x) => x.when?.time !== undefined || x.when?.days !== undefined)
              if (!hasTimeRules) expect(ability.can(a as never, subject(kind, facts) as never)).toBe(fast.allowed)
            }
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it('peers compiled one after another on one policy (shared indexes and caches) decide as on a fresh policy each', () => {
    fc.assert(
      fc.property(
        policyDoc,
        fc.array(fc.tuple(peer, fc.constantFrom(...VERBS), resource), { minLength: 2, maxLength: 8 }),
        (d, requests) => {
          const text = toText(sampleDoc({ ...d, rules: d.rules.map((x) => ({ ...x, when: undefined })) }))
          const shared = loadPolicy(text)
          const doc = sampleDoc(d)
          for (const [p, verb, r] of requests) {
            // The groups, read independently: a group holds a peer when it lists one of its tokens
            // or a group that holds it (g3 lists g0).
            const tokens = new Set([
              '*',
              `id:${p.peerId}`,
              ...(p.name === undefined ? [] : [`name:${p.name}`]),
              ...(p.groups ?? []).map((g) => `ou:${g}`),
              ...(p.peerId === P2 ? ['p-alias'] : [])
            ])
            for (let grew = true; grew; ) {
              grew = false
              for (const [g, members] of Object.entries(doc.groups))
                if (!tokens.has(g) && members.some((m) => tokens.has(m))) {
                  tokens.add(g)
                  grew = true
                }
            }
            const expectedGroups = [...tokens].filter((t) => t.startsWith('ou:') || GROUPS.includes(t)).sort()
            const fresh = loadPolicy(text)
            const request = { peer: { ...p }, action: verb, resource: r, context: { encrypted: true } }
            expect([...shared.groupsOf(request.peer)].sort()).toEqual(expectedGroups)
            expect(shared.groupsOf(request.peer)).toEqual(fresh.groupsOf(request.peer))
            expect(shared.decide(request)).toEqual(fresh.decide(request))
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  it('an independent reading of the precedence rules agrees (deny > allow > default deny)', () => {
    fc.assert(
      fc.property(policyDoc, peer, fc.constantFrom(...VERBS), resource, (d, p, verb, r) => {
        const policy = loadPolicy(
          toText(sampleDoc({ ...d, rules: d.rules.map((x) => ({ ...x, when: undefined })), encryptedShares: [] }))
        )
        const groups = policy.groupsOf(p)
        const aliases = p.peerId === P2 ? ['p-alias'] : []
        const tokens = new Set([
          '*',
          `id:${p.peerId}`,
          ...(p.name === undefined ? [] : [`name:${p.name}`]),
          ...groups,
          ...aliases
        ])
        const kind = r.slice(0, r.indexOf(':'))
        const name = r.slice(r.indexOf(':') + 1)
        const matching = d.rules.filter((x) => {
          const verbs = x.actions.flatMap((a) =>
            a === 'read' ? ['list', 'get'] : a === 'write' ? ['put', 'delete', 'rename', 'print'] : [a]
          )
          return (
            verbs.includes(verb) &&
            x.peers.some((t) => tokens.has(t)) &&
            !(x.except ?? []).some((t) => tokens.has(t)) &&
            x.resources.some((g) =>
              policy.model.rules.some((m) =>
                m.patterns.some((pt) => `${pt.kind}:${pt.glob}` === g && pt.kind === kind && pt.regex.test(name))
              )
            )
          )
        })
        const expected = matching.some((x) => x.deny) ? false : matching.length > 0
        expect(policy.decide({ peer: p, action: verb, resource: r }).allowed).toBe(expected)
      }),
      { numRuns: 300 }
    )
  })
})

describe('resource names: traversal is refused, everything else is judged', () => {
  it('deny-invalid-resource exactly for names with empty, . or .. segments, backslashes or NUL', () => {
    const policy = loadPolicy('version: 1\nrules:\n  - allow: [get]\n    peers: ["*"]\n    resources: ["share:**"]\n')
    const name = fc
      .array(fc.constantFrom('a', '.', '/', '\\', '\0', 'b.txt', '..'), { minLength: 1, maxLength: 8 })
      .map((p) => p.join(''))
    fc.assert(
      fc.property(name, (n) => {
        const bad = n.includes('\\') || n.includes('\0') || n.split('/').some((s) => s === '' || s === '.' || s === '..')
        const d = policy.decide({ peer: { peerId: 'p' }, action: 'get', resource: `share:${n}` })
        expect(d.code).toBe(bad ? 'deny-invalid-resource' : 'allow')
      }),
      { numRuns: 2000 }
    )
  })
})

describe('decide: garbage requests', () => {
  it('give a decision or an InvalidArgumentError, nothing else', () => {
    const policy = loadPolicy(
      'version: 1\nrules:\n  - allow: [read]\n    peers: ["*"]\n    resources: ["share:**"]\n    when: { max-size: 10 }\n'
    )
    const anything = fc.oneof(fc.anything(), fc.string(), fc.constantFrom('get', 'read', 'share:a/b', 'swarm:x'))
    const req = fc.record(
      {
        peer: fc.oneof(
          anything,
          fc.record({ peerId: anything, name: anything, groups: anything, address: anything }, { requiredKeys: [] })
        ),
        action: anything,
        resource: anything,
        context: fc.oneof(
          anything,
          fc.record({ size: anything, encrypted: anything, time: anything, address: anything }, { requiredKeys: [] })
        )
      },
      { requiredKeys: [] }
    )
    fc.assert(
      fc.property(fc.oneof(req, anything), (r) => {
        try {
          const d = policy.decide(r as never)
          expect(typeof d.allowed).toBe('boolean')
          expect(['allow', 'deny-rule', 'deny-default', 'deny-requirement', 'deny-invalid-resource']).toContain(d.code)
        } catch (err) {
          expect(isPeerguardError(err) && err.code === 'invalid-argument').toBe(true)
        }
      }),
      { numRuns: 1000 }
    )
  })
})

describe('JSON policies: the duplicate-key scan', () => {
  it('never flags a JSON text without duplicates, whatever its strings contain', () => {
    const text = fc.string({ maxLength: 40, unit: 'binary' })
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 4 }), (description, ruleDescription, indent) => {
        const doc = {
          version: 1,
          description,
          resources: { [`share:${description.replace(/[^a-z]/g, '') || 'x'}`]: { description: ruleDescription } },
          rules: [{ description: ruleDescription, peers: ['*'], allow: ['read'], resources: ['share:x'] }]
        }
        const json = JSON.stringify(doc, null, indent)
        const policy = loadPolicy(json)
        expect(policy.model.description).toBe(description)
        // The linear scan locates rules where the YAML parser (which keeps positions) does.
        const lines = new LineCounter()
        const node = parseDocument(json, { lineCounter: lines }).getIn(['rules', 0], true) as { range: [number] }
        const pos = lines.linePos(node.range[0])
        expect(policy.rules()[0]?.source).toEqual({ line: pos.line, column: pos.col })
      }),
      { numRuns: 500 }
    )
  })
})
