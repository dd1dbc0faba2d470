import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { type Document, LineCounter, parseDocument, stringify } from 'yaml'
import { loadPolicy } from '@peerguard/policy'
import { Locator } from '../src/locator.js'
import { fastYamlData } from '../src/yaml-fast.js'
import { yamlPositions } from '../src/yaml-positions.js'

// The fast YAML path (js-yaml + a line scan for locations) against the reference (`yaml`, whose
// document keeps every node's position): same data, same locations, same accept/reject.

const P1 = '3IS267F-ZJNWP3R-EFDQRFT-B3DKBIO-IRNLGZ3-7T5I44W-ILR5DXE-NJVACAK'
const P2 = 'RH3QS73-4PSOVZE-J5MEFQO-PZYIGFF-OMJU5NJ-DKBP3TA-6T67SMX-MFJE6QO'

/** What `yaml` reads (the reference), or undefined when it reports an error. */
function reference(text: string): { data: unknown; doc: Document; lines: LineCounter } | undefined {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true })
  if (doc.errors.length > 0) return undefined
  try {
    return { data: doc.toJS({ maxAliasCount: 100 }), doc, lines }
  } catch {
    return undefined // an unresolved or excessive alias: the loader reports it
  }
}

const name = fc.constantFrom('alice', 'bob', 'carol-2', 'dave.e', 'x y', 'share:a/**', 'true', '10', 'o#k', "it's", 'é')
const peer = fc.oneof(
  fc.record({ id: fc.constantFrom(P1, P2) }, { requiredKeys: [] }),
  fc.record({ name: fc.constantFrom('n1', 'n 2', 'n:3'), groups: fc.array(fc.constantFrom('g0', 'g1'), { maxLength: 2 }) })
)
const rule = fc.record(
  {
    id: fc.constantFrom('r1', 'r.2', 'r:3', '10', 'true'),
    allow: fc.constant(['read']),
    peers: fc.array(fc.constantFrom('*', 'g0', 'g1', 'ou:staff'), { minLength: 1, maxLength: 3 }),
    resources: fc.array(fc.constantFrom('share:docs/**', 'share:a/*.txt', 'swarm:*', 'share:{a,b}/**'), {
      minLength: 1,
      maxLength: 2
    }),
    description: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('multi\nline\n', 'null', '1e3', '0x1F', 'yes'))
  },
  { requiredKeys: ['allow', 'peers', 'resources'] }
)
const policy = fc.record(
  {
    version: fc.constant(1),
    peers: fc.dictionary(name, peer, { maxKeys: 4 }),
    groups: fc.dictionary(fc.constantFrom('g0', 'g1', 'staff team'), fc.array(name, { minLength: 1, maxLength: 3 }), {
      maxKeys: 3
    }),
    rules: fc.array(rule, { maxLength: 6 }),
    resources: fc.dictionary(fc.constantFrom('share:docs/**', 'share:x'), fc.record({ require: fc.constant(['encrypted']) }), {
      maxKeys: 2
    }),
    tests: fc.array(fc.record({ peer: fc.constantFrom('alice', 'bob'), can: fc.constant(['read share:docs/a']) }), {
      maxLength: 2
    })
  },
  { requiredKeys: ['version', 'rules'] }
)
const style = fc.record({
  indentSeq: fc.boolean(),
  indent: fc.constantFrom(2, 4),
  defaultStringType: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE') as fc.Arbitrary<'PLAIN'>,
  defaultKeyType: fc.constantFrom(null, 'PLAIN', 'QUOTE_DOUBLE') as fc.Arbitrary<null>,
  collectionStyle: fc.constantFrom('any', 'block', 'block', 'flow') as fc.Arbitrary<'any' | 'block' | 'flow'>,
  comments: fc.boolean(),
  crlf: fc.boolean()
})

type Style = typeof style extends fc.Arbitrary<infer T> ? T : never

/** `stringify`, then (maybe) a comment after each line that ends in a colon, and CRLF. */
function render(doc: unknown, s: Style): string {
  let text = stringify(doc, { ...s, lineWidth: 0 })
  if (s.comments) text = text.replace(/:\n/g, ': # note\n# a comment line\n')
  return s.crlf ? text.replace(/\n/g, '\r\n') : text
}

describe('fast YAML path (js-yaml) against yaml', () => {
  it('reads generated policies to the same data, and locates their items where yaml does', () => {
    let read = 0
    fc.assert(
      fc.property(policy, style, (doc, s) => {
        const text = render(doc, s)
        const ref = reference(text)
        const fast = fastYamlData(text)
        if (ref === undefined) {
          expect(fast).toBeUndefined()
          return
        }
        if (fast === undefined) return // declined (a false positive of the screen): yaml reads it
        read++
        expect({ text, fast }).toEqual({ text, fast: ref.data })
        const positions = yamlPositions(text, fast as object)
        const full = new Locator(text, undefined, ref.doc, ref.lines)
        const quick = new Locator(text, undefined, undefined, undefined, fast as object)
        for (const key of ['rules', 'tests', 'peers', 'groups', 'resources'] as const) {
          const value = (ref.data as Record<string, unknown>)[key]
          if (value === undefined || value === null) continue
          const names = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value as object)
          for (const item of names) {
            expect(quick.source([key, item])).toEqual(full.source([key, item]))
            // Plain block text is located by the scan itself, not by the yaml fallback.
            if (s.collectionStyle === 'block' && !s.comments) expect(positions.has(`${key}\u0000${item}`)).toBe(true)
          }
        }
      }),
      { numRuns: 300 }
    )
    expect(read).toBeGreaterThan(10) // the fast path was taken (~40 of 300; random descriptions with `!`, `&`, ` :` or a glued `#` are declined)
  })

  it('loads generated valid policies to the same rules and locations as the reference document', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 8 }), style, (generated, s) => {
        const rules = generated.map((r, i) => (r.id === undefined ? r : { ...r, id: `${r.id}-${i}` })) // ids are unique
        const text = render({ version: 1, peers: { alice: { id: P1 } }, groups: { g0: ['alice'], g1: ['alice'] }, rules }, s)
        const policy = loadPolicy({ text, file: 'p.yaml' })
        const ref = reference(text)
        expect(ref).toBeDefined()
        const full = new Locator(text, 'p.yaml', ref?.doc, ref?.lines)
        expect(policy.rules().map((r) => r.source)).toEqual(rules.map((_, i) => full.source(['rules', i])))
      }),
      { numRuns: 150 }
    )
  })

  it('reads scalars as yaml core schema does, and rejects what yaml rejects', () => {
    const piece = fc.constantFrom(
      ...['0', '1', '-', '+', '.', 'e', 'x', 'o', 'a', 'inf', 'nan', 'null', 'true', 'False', '~', '_', ' ', ':', '#'],
      ...['"', "'", '\\', 'y', 'Yes', 'on', '2025-01-02', '0b1', '[', ']', '{', '}', ',', '*', '&', '!', '|', '>', '?', '%']
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), fc.constantFrom('value', 'key', 'item'), (parts, where) => {
        const s = parts.join('')
        const text =
          where === 'value' ? `version: 1\nx: ${s}\n` : where === 'key' ? `version: 1\n${s}: 1\n` : `version: 1\nx:\n  - ${s}\n`
        const ref = reference(text)
        const fast = fastYamlData(text)
        if (ref === undefined) expect(fast).toBeUndefined()
        else if (fast !== undefined) expect(fast).toEqual(ref.data)
      }),
      // CI found `{:}` (an empty key in a flow mapping): js-yaml read the key as "null", yaml as "";
      // a sweep with 8× the runs found `{null}` (a null-like key without a value), the same divergence
      {
        numRuns: 3000,
        examples: [
          [['{', ':', '}'], 'value'],
          [['{', 'null', '}'], 'value']
        ]
      }
    )
  })

  it('leaves anchors, tags, directives and odd keys to yaml', () => {
    for (const text of [
      'version: 1\nbase: &b [read]\nx: *b\n',
      'version: 1\nx: !!str 1\n',
      '%YAML 1.1\n---\nversion: 1\nx: yes\n',
      'version: 1\n? [a]\n: 1\n',
      'version: 1\nnull: 1\n',
      'version: 1\n__proto__: {}\n',
      "version: 1\nx: ''#\n" // a glued # is no comment: yaml rejects it, js-yaml would not (found by the property)
    ])
      expect(fastYamlData(text)).toBeUndefined()
    expect(fastYamlData('version: 1\nx: 0o17\ny: 0x1F\nz: 1_000\nw: 2025-01-02\nv: .NaN\n')).toEqual({
      version: 1,
      x: 15,
      y: 31,
      z: '1_000',
      w: '2025-01-02',
      v: Number.NaN
    })
  })
})
