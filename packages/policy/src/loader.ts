import { Ajv, type ErrorObject } from 'ajv'
import { LineCounter, parseDocument } from 'yaml'
import { InvalidArgumentError, type SourceLocation } from '@peerguard/interface'
import { ACTIONS, expandActions, isAction, type Action } from './actions.js'
import {
  PolicyBadGlobError,
  PolicyBadValueError,
  PolicyCyclicGroupError,
  PolicyDuplicateIdError,
  PolicyInvalidError,
  PolicyParseError,
  PolicyTooLargeError,
  PolicyUnknownActionError,
  PolicyUnknownGroupError,
  PolicyUnknownKeyError
} from './errors.js'
import { jsonDuplicateKey, lineColumn, lineStartsOf } from './json-positions.js'
import { type DocPath, Locator } from './locator.js'
import type {
  Assertion,
  Conditions,
  GroupDef,
  PeerDef,
  PolicyModel,
  PolicyPeer,
  RequirementModel,
  RuleModel,
  TestModel
} from './model.js'
import { compilePattern, splitResource } from './resource.js'
import { POLICY_SCHEMA, type PolicyDocument, type RawTest, type RawWhen } from './schema.js'
import { nearest } from './suggest.js'
import { addressKey, parseCidr, parseDay, parseSize, parseTimeWindow, parseUtcOffset, type RequestContext } from './values.js'

/** Largest policy text the loader reads: 16 MiB. */
export const MAX_POLICY_BYTES = 16 * 2 ** 20

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/

let validator: ReturnType<Ajv['compile']> | undefined
/** Schema errors, most useful first: an unknown key (a typo) explains a "missing key" next to it. */
const KEYWORD_RANK: Record<string, number> = { additionalProperties: 0, enum: 1, const: 1, oneOf: 1, type: 2, required: 4 }

function validate(data: unknown): ErrorObject | undefined {
  if (validator === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true })
    validator = ajv.compile(POLICY_SCHEMA)
  }
  if (validator(data)) return undefined
  const errors = validator.errors ?? []
  let best: ErrorObject | undefined
  for (const e of errors) {
    if (best === undefined || (KEYWORD_RANK[e.keyword] ?? 5) < (KEYWORD_RANK[best.keyword] ?? 5)) best = e
  }
  return best
}

function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

function quoteList(items: readonly string[]): string {
  return items.map((i) => `"${i}"`).join(', ')
}

function schemaError(error: ErrorObject, loc: Locator): Error {
  const path = pointerToPath(error.instancePath)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {})
      const guess = nearest(key, allowed)
      return new PolicyUnknownKeyError(
        `unknown key "${key}"`,
        loc.details([...path, key], {
          key: true,
          expected: `one of ${quoteList(allowed)}`,
          ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
        })
      )
    }
    case 'required':
      return new PolicyInvalidError(
        `missing key "${String(params.missingProperty)}"`,
        loc.details(path, { expected: 'the key to be present' })
      )
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String)
      const value = String(error.data)
      const guess = nearest(value, allowed)
      const hint = guess === undefined ? {} : { hint: `did you mean "${guess}"?` }
      if (path.includes('allow') || path.includes('deny')) {
        return new PolicyUnknownActionError(
          `unknown action "${value}"`,
          loc.details(path, { expected: `one of ${quoteList(allowed)}`, ...hint })
        )
      }
      return new PolicyInvalidError(
        `unknown value "${value}"`,
        loc.details(path, { expected: `one of ${quoteList(allowed)}`, ...hint })
      )
    }
    case 'const':
      return new PolicyInvalidError(
        `unsupported value ${JSON.stringify(error.data) ?? 'undefined'}`,
        loc.details(path, { expected: JSON.stringify(params.allowedValue) })
      )
    case 'type':
      return new PolicyInvalidError(
        `wrong type (${describeValue(error.data)})`,
        loc.details(path, { expected: String(params.type) })
      )
    case 'maxItems':
    case 'maxProperties':
    case 'maxLength':
      return new PolicyTooLargeError(
        `too large`,
        loc.details(path, {
          expected: `at most ${String(params.limit)} ${error.keyword === 'maxLength' ? 'characters' : 'entries'}`
        })
      )
    case 'oneOf':
      return new PolicyInvalidError(
        'wrong peer',
        loc.details(path, { expected: 'a peer name, or {id, name?, groups?, address?}' })
      )
    default:
      return new PolicyInvalidError(error.message ?? 'invalid value', loc.details(path))
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40) ?? ''}`
}

/** Parse the text into plain data and a locator. Only PolicyParseError escapes. */
function parseText(text: string, file: string | undefined): { data: unknown; loc: Locator } {
  if (/^\s*[{[]/.test(text)) {
    let data: unknown
    let parsed = false
    try {
      data = JSON.parse(text)
      parsed = true
    } catch {
      // Not strict JSON: let the YAML parser (a JSON superset) locate the problem or accept it.
    }
    if (parsed) {
      const dup = jsonDuplicateKey(text)
      if (dup !== undefined) {
        const { line, column } = lineColumn(lineStartsOf(text), dup.offset)
        throw new PolicyParseError(`duplicate key ${JSON.stringify(dup.key)}`, {
          ...(file === undefined ? {} : { file }),
          line,
          column,
          path: '(document)',
          expected: 'each key once per mapping'
        })
      }
      return { data, loc: new Locator(text, file) }
    }
  }
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true })
  const first = doc.errors[0]
  if (first !== undefined) {
    const pos = lines.linePos(first.pos[0])
    throw new PolicyParseError(first.message.split('\n')[0] ?? 'malformed YAML', {
      ...(file === undefined ? {} : { file }),
      line: pos.line,
      column: pos.col,
      path: '(document)',
      expected: 'well-formed YAML or JSON'
    })
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new PolicyParseError(err instanceof Error ? err.message : 'cannot convert the document', {
      ...(file === undefined ? {} : { file }),
      line: 1,
      column: 1,
      path: '(document)',
      expected: 'a document without excessive aliases'
    })
  }
  return { data, loc: new Locator(text, file, doc, lines) }
}

/**
 * Parse, validate and check a policy text. Throws one of the located `Policy…Error` classes
 * (each a PeerguardError with a stable code) for any problem; never anything else.
 */
export function parsePolicyModel(text: string, file?: string): PolicyModel {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(`text: expected string, got ${text === null ? 'null' : typeof text}`)
  if (file !== undefined && typeof file !== 'string') throw new InvalidArgumentError(`file: expected string, got ${typeof file}`)
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyTooLargeError(`policy text of ${text.length} characters`, {
      ...(file === undefined ? {} : { file }),
      line: 1,
      column: 1,
      path: '(document)',
      expected: `at most ${MAX_POLICY_BYTES} characters`
    })
  }
  const { data, loc } = parseText(text, file)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new PolicyInvalidError(
      `the document is ${describeValue(data)}`,
      loc.details([], {
        expected: 'a mapping with version: 1 and rules:',
        ...(typeof data === 'string' && /\.(ya?ml|json)$/i.test(data)
          ? { hint: `to load a file, call loadPolicy({ path: ${JSON.stringify(data)} })` }
          : {})
      })
    )
  }
  const schemaProblem = validate(data)
  if (schemaProblem !== undefined) throw schemaError(schemaProblem, loc)
  return new ModelBuilder(data as PolicyDocument, loc).build()
}

class ModelBuilder {
  private readonly peers = new Map<string, PeerDef>()
  private readonly groups = new Map<string, GroupDef>()

  constructor(
    private readonly doc: PolicyDocument,
    private readonly loc: Locator
  ) {}

  build(): PolicyModel {
    const utcOffset = this.utcOffset()
    this.readPeers()
    this.readGroups()
    const groupOrder = this.orderGroups()
    const rules = this.readRules()
    const requirements = this.readRequirements()
    const tests = this.readTests()
    return {
      file: this.loc.file,
      description: this.doc.description,
      utcOffset,
      peers: this.peers,
      groups: this.groups,
      groupOrder,
      rules,
      requirements,
      tests
    }
  }

  /**
   * Attach a `source` location computed on first read: finding positions in a large JSON text
   * costs more than parsing it, and most rules never need theirs.
   */
  private withSource<T extends object>(
    item: T,
    path: readonly [string, string | number]
  ): T & { readonly source: SourceLocation } {
    const loc = this.loc
    let source: SourceLocation | undefined
    return {
      ...item,
      get source() {
        source ??= loc.source(path)
        return source
      }
    }
  }

  private utcOffset(): number {
    if (this.doc['utc-offset'] === undefined) return 0
    const r = parseUtcOffset(this.doc['utc-offset'])
    if (!r.ok)
      throw new PolicyBadValueError(
        `bad utc-offset "${this.doc['utc-offset']}"`,
        this.loc.details(['utc-offset'], { expected: r.expected })
      )
    return r.value
  }

  private checkName(name: string, path: DocPath, what: string): void {
    if (!NAME_RE.test(name) || name.length > 128) {
      throw new PolicyInvalidError(
        `bad ${what} name "${name.slice(0, 64)}"`,
        this.loc.details(path, {
          key: true,
          expected: 'letters, digits, _ . @ - (not starting with . @ -), at most 128 characters'
        })
      )
    }
  }

  private readPeers(): void {
    for (const [alias, def] of Object.entries(this.doc.peers ?? {})) {
      this.checkName(alias, ['peers', alias], 'peer')
      if (def.id === undefined && def.name === undefined) {
        throw new PolicyInvalidError(
          `peer "${alias}" has neither id nor name`,
          this.loc.details(['peers', alias], { expected: 'id: <peer ID>, name: <certificate name>, or both' })
        )
      }
      this.peers.set(alias, this.withSource({ alias, id: def.id, name: def.name }, ['peers', alias]))
    }
  }

  private readGroups(): void {
    const entries = Object.entries(this.doc.groups ?? {})
    for (const [name, members] of entries) {
      this.checkName(name, ['groups', name], 'group')
      if (this.peers.has(name)) {
        throw new PolicyDuplicateIdError(
          `"${name}" is both a peer and a group`,
          this.loc.details(['groups', name], { key: true, expected: 'peer and group names to differ' })
        )
      }
      this.groups.set(name, this.withSource({ name, members }, ['groups', name]))
    }
    for (const [name, members] of entries) {
      members.forEach((m, i) => {
        if (m === '*')
          throw new PolicyInvalidError(
            '"*" inside a group',
            this.loc.details(['groups', name, i], { expected: 'peer or group names; write * in the rule instead' })
          )
        this.checkToken(m, ['groups', name, i])
      })
    }
  }

  /** A peer token must be `*`, `id:`/`name:`/`ou:` with a value, or a defined peer or group. */
  private checkToken(token: string, path: DocPath): void {
    if (token === '*') return
    const colon = token.indexOf(':')
    if (colon > 0) {
      const prefix = token.slice(0, colon)
      if ((prefix === 'id' || prefix === 'name' || prefix === 'ou') && token.length > colon + 1) return
      throw new PolicyInvalidError(
        `bad peer reference "${token}"`,
        this.loc.details(path, { expected: 'id:<peer ID>, name:<certificate name> or ou:<certificate group>' })
      )
    }
    if (this.peers.has(token) || this.groups.has(token)) return
    const guess = nearest(token, [...this.peers.keys(), ...this.groups.keys()])
    throw new PolicyUnknownGroupError(
      `unknown peer or group "${token}"`,
      this.loc.details(path, {
        expected: 'a name defined under peers: or groups:, *, id:<peer ID>, name:<certificate name> or ou:<certificate group>',
        ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
      })
    )
  }

  /** Depth-first order, members first; a cycle is an error located at the group that closes it. */
  private orderGroups(): string[] {
    const order: string[] = []
    const state = new Map<string, 1 | 2>()
    const visit = (name: string, trail: string[]): void => {
      const s = state.get(name)
      if (s === 2) return
      if (s === 1) {
        const cycle = [...trail.slice(trail.indexOf(name)), name]
        const closer = trail[trail.length - 1] as string
        const group = this.groups.get(closer) as GroupDef
        throw new PolicyCyclicGroupError(
          `groups form a cycle: ${cycle.join(' -> ')}`,
          this.loc.details(['groups', closer, group.members.indexOf(name)], {
            expected: 'groups that do not contain themselves'
          })
        )
      }
      state.set(name, 1)
      for (const m of (this.groups.get(name) as GroupDef).members) if (this.groups.has(m)) visit(m, [...trail, name])
      state.set(name, 2)
      order.push(name)
    }
    for (const name of this.groups.keys()) visit(name, [])
    return order
  }

  private readRules(): RuleModel[] {
    const ids = new Map<string, number>()
    return this.doc.rules.map((raw, index) => {
      const path = ['rules', index] as const
      const id = raw.id ?? `rule-${index + 1}`
      const previous = ids.get(id)
      if (previous !== undefined) {
        throw new PolicyDuplicateIdError(
          `duplicate rule id "${id}" (also rules[${previous}])`,
          this.loc.details([...path, 'id'], { expected: 'a unique id' })
        )
      }
      ids.set(id, index)
      if ((raw.allow === undefined) === (raw.deny === undefined)) {
        throw new PolicyInvalidError(
          raw.allow === undefined ? 'rule has neither allow: nor deny:' : 'rule has both allow: and deny:',
          this.loc.details(path, { expected: 'exactly one of allow: or deny:' })
        )
      }
      const effect = raw.allow === undefined ? 'deny' : 'allow'
      const actions = (raw.allow ?? raw.deny ?? []) as Action[]
      raw.peers.forEach((t, i) => {
        this.checkToken(t, [...path, 'peers', i])
      })
      const patterns = raw.resources.map((text, i) => {
        const p = compilePattern(text)
        if (typeof p === 'string')
          throw new PolicyBadGlobError(
            `bad resource pattern "${text.slice(0, 80)}"`,
            this.loc.details([...path, 'resources', i], { expected: p })
          )
        return p
      })
      const loc = this.loc
      let source: SourceLocation | undefined
      const rule: RuleModel = {
        index,
        id,
        effect,
        actions,
        verbs: expandActions(actions),
        peers: raw.peers.length === 1 ? raw.peers : [...new Set(raw.peers)],
        patterns,
        when: raw.when === undefined ? undefined : this.readWhen(raw.when, [...path, 'when']),
        description: raw.description,
        // Located on first read: finding positions in a large JSON text costs more than parsing it.
        get source() {
          source ??= loc.source(path)
          return source
        }
      }
      return rule
    })
  }

  private readWhen(raw: RawWhen, path: DocPath): Conditions {
    const bad = (key: string | number, sub: DocPath, what: string, expected: string): never => {
      throw new PolicyBadValueError(what, this.loc.details([...path, key, ...sub], { expected }))
    }
    const out: { -readonly [K in keyof Conditions]: Conditions[K] } = { text: raw as Record<string, unknown> }
    for (const key of ['min-size', 'max-size'] as const) {
      const v = raw[key]
      if (v === undefined) continue
      const r = parseSize(v)
      if (!r.ok) bad(key, [], `bad ${key} ${JSON.stringify(v)}`, r.expected)
      else if (key === 'min-size') out.minSize = r.value
      else out.maxSize = r.value
    }
    if (out.minSize !== undefined && out.maxSize !== undefined && out.minSize > out.maxSize) {
      bad('min-size', [], 'min-size is larger than max-size', 'min-size <= max-size')
    }
    if (raw.time !== undefined) {
      const r = parseTimeWindow(raw.time)
      if (!r.ok) bad('time', [], `bad time window ${JSON.stringify(raw.time)}`, r.expected)
      else out.time = r.value
    }
    if (raw.days !== undefined) {
      const days = new Set<number>()
      raw.days.forEach((d, i) => {
        const r = parseDay(d)
        if (!r.ok) bad('days', [i], `bad day ${JSON.stringify(d)}`, r.expected)
        else days.add(r.value)
      })
      out.days = [...days].sort()
    }
    if (raw.networks !== undefined) {
      out.networks = raw.networks.map((n, i) => {
        const r = parseCidr(n)
        if (!r.ok) return bad('networks', [i], `bad network ${JSON.stringify(n)}`, r.expected)
        return r.value
      })
    }
    return out
  }

  private readRequirements(): RequirementModel[] {
    return Object.entries(this.doc.resources ?? {}).map(([key, def]) => {
      const pattern = compilePattern(key)
      if (typeof pattern === 'string')
        throw new PolicyBadGlobError(
          `bad resource pattern "${key.slice(0, 80)}"`,
          this.loc.details(['resources', key], { key: true, expected: pattern })
        )
      return {
        id: `require:${key}`,
        pattern,
        encrypted: def.require?.includes('encrypted') === true,
        source: this.loc.source(['resources', key])
      }
    })
  }

  private readTests(): TestModel[] {
    return (this.doc.tests ?? []).map((raw, index) => {
      const path = ['tests', index] as const
      const { peer, label } = this.testPeer(raw, path)
      const assertions = (key: 'can' | 'cannot'): Assertion[] =>
        (raw[key] ?? []).map((text, i) => this.assertion(text, [...path, key, i]))
      return {
        index,
        name: raw.name ?? `tests[${index}] ${label}`,
        peerLabel: label,
        peer,
        can: assertions('can'),
        cannot: assertions('cannot'),
        context: this.testContext(raw, path),
        source: this.loc.source(path)
      }
    })
  }

  private testPeer(raw: RawTest, path: DocPath): { peer: PolicyPeer; label: string } {
    if (typeof raw.peer === 'string') {
      const def = this.peers.get(raw.peer)
      if (def === undefined) {
        const guess = nearest(raw.peer, this.peers.keys())
        throw new PolicyUnknownGroupError(
          `unknown peer "${raw.peer}"`,
          this.loc.details([...path, 'peer'], {
            expected: this.groups.has(raw.peer)
              ? 'a peer, not a group (write {id: ..., groups: [...]} for a certificate group)'
              : 'a name defined under peers:',
            ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
          })
        )
      }
      return {
        peer: { peerId: def.id ?? `~${def.alias}`, ...(def.name === undefined ? {} : { name: def.name }), groups: [] },
        label: raw.peer
      }
    }
    return {
      peer: {
        peerId: raw.peer.id,
        ...(raw.peer.name === undefined ? {} : { name: raw.peer.name }),
        groups: raw.peer.groups ?? [],
        ...(raw.peer.address === undefined ? {} : { address: raw.peer.address })
      },
      label: `id:${raw.peer.id}`
    }
  }

  private assertion(text: string, path: DocPath): Assertion {
    const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(text)
    if (m === null)
      throw new PolicyInvalidError(
        `bad assertion "${text.slice(0, 80)}"`,
        this.loc.details(path, { expected: '"<action> <kind>:<resource>", e.g. "read share:public/readme.txt"' })
      )
    const action = m[1] as string
    const resource = m[2] as string
    if (!isAction(action)) {
      const guess = nearest(action, ACTIONS)
      throw new PolicyUnknownActionError(
        `unknown action "${action}"`,
        this.loc.details(path, {
          expected: `one of ${quoteList(ACTIONS)}`,
          ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
        })
      )
    }
    const split = splitResource(resource)
    const compiled = compilePattern(resource)
    if (split === undefined || typeof compiled === 'string') {
      throw new PolicyBadGlobError(
        `bad resource "${resource.slice(0, 80)}"`,
        this.loc.details(path, { expected: typeof compiled === 'string' ? compiled : 'kind:name' })
      )
    }
    return { text: `${action} ${resource}`, action, resource }
  }

  private testContext(raw: RawTest, path: DocPath): RequestContext {
    const c = raw.context ?? {}
    const ctx: { -readonly [K in keyof RequestContext]: RequestContext[K] } = { encrypted: c.encrypted ?? true }
    if (c.size !== undefined) {
      const r = parseSize(c.size)
      if (!r.ok)
        throw new PolicyBadValueError(
          `bad size ${JSON.stringify(c.size)}`,
          this.loc.details([...path, 'context', 'size'], { expected: r.expected })
        )
      ctx.size = r.value
    }
    if (c.time !== undefined) {
      const t = Date.parse(c.time)
      if (!Number.isFinite(t))
        throw new PolicyBadValueError(
          `bad time ${JSON.stringify(c.time)}`,
          this.loc.details([...path, 'context', 'time'], { expected: 'an ISO 8601 date and time such as 2025-03-04T10:00:00Z' })
        )
      ctx.time = t
    }
    if (c.address !== undefined) {
      if (addressKey(c.address) === undefined)
        throw new PolicyBadValueError(
          `bad address ${JSON.stringify(c.address)}`,
          this.loc.details([...path, 'context', 'address'], { expected: 'an IPv4 or IPv6 address' })
        )
      ctx.address = c.address
    }
    return ctx
  }
}
