import { readFileSync } from 'node:fs'
import { describe, expect, it } from '@jest/globals'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import {
  loadPolicy,
  MAX_POLICY_BYTES,
  POLICY_SCHEMA,
  PolicyBadGlobError,
  PolicyBadValueError,
  PolicyCyclicGroupError,
  PolicyDuplicateIdError,
  PolicyInvalidError,
  PolicyLoadError,
  PolicyParseError,
  PolicyReadError,
  PolicyTooLargeError,
  PolicyUnknownActionError,
  PolicyUnknownGroupError,
  PolicyUnknownKeyError
} from '@peerguard/policy'

const root = new URL('../../../', import.meta.url)
const examples = ['office', 'home', 'private-swarm'].map((n) => new URL(`policies/${n}.yaml`, root).pathname)

/** Load `text` and return the error it throws (failing the test when it loads). */
function loadError(text: string): PolicyLoadError {
  try {
    loadPolicy({ text, file: 'test.yaml' })
  } catch (err) {
    if (err instanceof PolicyLoadError) return err
    throw err
  }
  throw new Error('expected the policy to be refused')
}

const BASE = `version: 1
peers:
  alice: { id: XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO }
groups:
  staff: [alice]
rules:
  - id: r1
    allow: [read]
    peers: [staff]
    resources: ["share:docs/**"]
`

describe('example policies', () => {
  it.each(examples)('%s loads, passes its own tests and lints without errors', (path) => {
    const policy = loadPolicy({ path })
    const report = policy.test()
    expect(report.failed).toBe(0)
    expect(report.total).toBeGreaterThan(4)
    expect(policy.lint().filter((f) => f.severity === 'error')).toEqual([])
  })

  it.each(examples)('%s validates against policies/schema.json', (path) => {
    const schema = JSON.parse(readFileSync(new URL('policies/schema.json', root), 'utf8')) as object
    const validate = new Ajv({ allowUnionTypes: true }).compile(schema)
    expect(validate(parseYaml(readFileSync(path, 'utf8')))).toBe(true)
  })

  it('policies/schema.json is the schema the loader uses', () => {
    expect(JSON.parse(readFileSync(new URL('policies/schema.json', root), 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(POLICY_SCHEMA))
    )
  })
})

describe('loadPolicy: accepted input', () => {
  it('accepts JSON as well as YAML, with the same meaning and rule locations', () => {
    const yaml = loadPolicy(BASE)
    const json = loadPolicy({ text: JSON.stringify(parseYaml(BASE), null, 2), file: 'p.json' })
    const request = {
      peer: { peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO' },
      action: 'get',
      resource: 'share:docs/a.txt'
    }
    expect(yaml.decide(request).allowed).toBe(true)
    expect(json.decide(request).allowed).toBe(true)
    expect(json.decide(request).rule?.source).toEqual({ file: 'p.json', line: 14, column: 5 })
    expect(yaml.decide(request).rule?.source).toEqual({ line: 7, column: 5 })
  })

  it('reads a file by { path } and names it in errors', () => {
    expect(loadPolicy({ path: examples[0] as string }).file).toBe(examples[0])
    expect(() => loadPolicy({ path: '/nonexistent/policy.yaml' })).toThrow(PolicyReadError)
  })
})

describe('loadPolicy: bad input gives located errors', () => {
  it('malformed YAML: parse error with line and column', () => {
    const err = loadError('version: 1\nrules:\n  - id: r1\n   allow: [read\n')
    expect(err).toBeInstanceOf(PolicyParseError)
    expect(err.code).toBe('policy-parse-error')
    expect(err.location.file).toBe('test.yaml')
    expect(err.location.line).toBeGreaterThanOrEqual(3)
    expect(err.message).toMatch(/^test\.yaml:\d+:\d+: /)
  })

  it('duplicate keys are refused rather than silently merged, in YAML and in JSON', () => {
    expect(loadError('version: 1\nrules: []\nrules: []\n')).toBeInstanceOf(PolicyParseError)
    const err = loadError(
      '{\n  "version": 1,\n  "rules": [{"peers": ["*"], "allow": ["read"], "resources": ["share:x"], "allow": ["write"]}]\n}'
    )
    expect(err).toBeInstanceOf(PolicyParseError)
    expect(err.message).toContain('duplicate key "allow"')
    expect(err.location).toEqual({ file: 'test.yaml', line: 3, column: 75 })
    // Equal keys in different objects are fine; escapes are decoded before comparing.
    expect(() =>
      loadPolicy(
        '{"version": 1, "rules": [{"peers": ["*"], "allow": ["read"], "resources": ["share:x"]}, {"peers": ["*"], "allow": ["read"], "resources": ["share:y"]}]}'
      )
    ).not.toThrow()
    expect(loadError('{"version": 1, "rules": [], "rul\\u0065s": []}').message).toContain('duplicate key "rules"')
  })

  it('unknown key: names the key, where it is, what was expected, and the nearest key', () => {
    const err = loadError(BASE.replace('    allow: [read]', '    alow: [read]'))
    expect(err).toBeInstanceOf(PolicyUnknownKeyError)
    expect(err.code).toBe('policy-unknown-key')
    expect(err.location).toEqual({ file: 'test.yaml', line: 8, column: 5 })
    expect(err.message).toContain('unknown key "alow"')
    expect(err.message).toContain('expected one of')
    expect(err.details?.hint).toBe('did you mean "allow"?')
    expect(err.details?.path).toBe('rules[0].alow')
  })

  it('unknown top-level key suggests the nearest one', () => {
    const err = loadError(BASE.replace('groups:', 'grups:'))
    expect(err).toBeInstanceOf(PolicyUnknownKeyError)
    expect(err.details?.hint).toBe('did you mean "groups"?')
    expect(err.location.line).toBe(4)
  })

  it('unknown action, with a suggestion', () => {
    const err = loadError(BASE.replace('allow: [read]', 'allow: [raed]'))
    expect(err).toBeInstanceOf(PolicyUnknownActionError)
    expect(err.details?.hint).toBe('did you mean "read"?')
    expect(err.location.line).toBe(8)
  })

  it('a rule naming a group that does not exist', () => {
    const err = loadError(BASE.replace('peers: [staff]', 'peers: [staf]'))
    expect(err).toBeInstanceOf(PolicyUnknownGroupError)
    expect(err.code).toBe('policy-unknown-group')
    expect(err.details?.hint).toBe('did you mean "staff"?')
    expect(err.location.line).toBe(9)
  })

  it('cyclic groups, direct and through nesting', () => {
    const err = loadError(BASE.replace('  staff: [alice]', '  staff: [alice, admins]\n  admins: [ops]\n  ops: [staff]'))
    expect(err).toBeInstanceOf(PolicyCyclicGroupError)
    expect(err.message).toMatch(/cycle: (staff|admins|ops) -> .* -> \1/)
    expect(loadError(BASE.replace('  staff: [alice]', '  staff: [alice, staff]'))).toBeInstanceOf(PolicyCyclicGroupError)
  })

  it.each([
    ['share:docs/[a-', 'bracket'],
    ['share:!docs/**', 'negation'],
    ['share:/etc/**', 'absolute'],
    ['share:docs/../etc', 'dot-dot'],
    ['files:docs/**', 'unknown kind'],
    ['share:', 'empty']
  ])('bad glob %s (%s)', (glob) => {
    const err = loadError(BASE.replace('"share:docs/**"', JSON.stringify(glob)))
    expect(err).toBeInstanceOf(PolicyBadGlobError)
    expect(err.location.line).toBe(10)
  })

  it.each([
    ['max-size: 10ZB', 'unit'],
    ['max-size: 5PB', 'absurd size'],
    ['max-size: -1', 'negative'],
    ['time: "25:00-26:00"', 'hour'],
    ['time: "08:00-08:00"', 'empty window'],
    ['days: [funday]', 'day'],
    ['networks: ["10.0.0.0/33"]', 'prefix'],
    ['networks: ["not-an-ip"]', 'address'],
    ['min-size: 10MB\n      max-size: 1MB', 'min > max']
  ])('bad condition %s (%s)', (cond) => {
    const err = loadError(`${BASE}    when:\n      ${cond}\n`)
    expect(err).toBeInstanceOf(PolicyBadValueError)
    expect(err.location.line).toBeGreaterThanOrEqual(12)
  })

  it('a rule needs exactly one of allow and deny', () => {
    expect(loadError(BASE.replace('    allow: [read]\n', ''))).toBeInstanceOf(PolicyInvalidError)
    expect(loadError(BASE.replace('    allow: [read]\n', '    allow: [read]\n    deny: [write]\n'))).toBeInstanceOf(
      PolicyInvalidError
    )
  })

  it('duplicate rule ids and a peer named like a group', () => {
    expect(loadError(`${BASE}  - id: r1\n    deny: [read]\n    peers: [staff]\n    resources: ["share:x"]\n`)).toBeInstanceOf(
      PolicyDuplicateIdError
    )
    expect(loadError(BASE.replace('  staff: [alice]', '  alice: [alice]'))).toBeInstanceOf(PolicyDuplicateIdError)
  })

  it('wrong types and missing keys', () => {
    expect(loadError('version: 1\nrules: {}\n')).toBeInstanceOf(PolicyInvalidError)
    expect(loadError('version: 2\nrules: []\n').message).toContain('expected 1')
    expect(loadError('rules: []\n').message).toContain('missing key "version"')
    expect(loadError('- just\n- a list\n')).toBeInstanceOf(PolicyInvalidError)
    expect(loadError('')).toBeInstanceOf(PolicyInvalidError)
  })

  it('tests naming unknown peers or bad assertions', () => {
    expect(loadError(`${BASE}tests:\n  - peer: bob\n    can: ["read share:docs/a"]\n`)).toBeInstanceOf(PolicyUnknownGroupError)
    expect(loadError(`${BASE}tests:\n  - peer: alice\n    can: ["raed share:docs/a"]\n`)).toBeInstanceOf(PolicyUnknownActionError)
    expect(loadError(`${BASE}tests:\n  - peer: alice\n    can: ["read"]\n`)).toBeInstanceOf(PolicyInvalidError)
    expect(loadError(`${BASE}tests:\n  - peer: alice\n    context: { time: yesterday }\n`)).toBeInstanceOf(PolicyBadValueError)
  })

  it('a path passed as text gets a hint to use { path }', () => {
    expect(loadError('policies/office.yaml').details?.hint).toBe(
      'to load a file, call loadPolicy({ path: "policies/office.yaml" })'
    )
  })

  it('texts over the size limit are refused before parsing', () => {
    const err = loadError(`#${' '.repeat(MAX_POLICY_BYTES)}`)
    expect(err).toBeInstanceOf(PolicyTooLargeError)
  })

  it('alias bombs are refused', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`
    const err = loadError(bomb)
    expect(err).toBeInstanceOf(PolicyParseError)
  })

  it('wrong argument types throw invalid-argument', () => {
    for (const bad of [undefined, null, 42, {}, { path: 7 }, { text: 'x', file: 3 }]) {
      expect(() => loadPolicy(bad as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }) as unknown as Error)
    }
  })
})
