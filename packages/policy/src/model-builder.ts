import type { SourceLocation } from '@peerguard/interface'
import { ACTIONS, expandActions, isAction, type Action } from './actions.js'
import {
  PolicyBadGlobError,
  PolicyBadPeerIdError,
  PolicyBadValueError,
  PolicyCyclicGroupError,
  PolicyDuplicateIdError,
  PolicyInvalidError,
  PolicyLoadError,
  PolicyUnknownActionError,
  PolicyUnknownGroupError
} from './errors.js'
import { withLazySource } from './lazy-source.js'
import type { DocPath, Locator } from './locator.js'
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
import { canonicalPeerId } from './peer-id.js'
import { type CompiledPattern, compilePattern, splitResource } from './resource.js'
import type { PolicyDocument, RawRule, RawTest, RawWhen } from './schema.js'
import { nearest } from './suggest.js'
import { addressKey, parseCidr, parseDay, parseSize, parseTimeWindow, parseUtcOffset, type RequestContext } from './values.js'

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/

const quoteList = (items: readonly string[]): string => items.map((i) => `"${i}"`).join(', ')

/** Semantic checks after the schema passed: names, groups and cycles, rules, conditions, tests. */
export class ModelBuilder {
  private readonly peers = new Map<string, PeerDef>()
  private readonly groups = new Map<string, GroupDef>()

  /**
   * @param errors when given, every error is collected there and the build goes on with the
   *   items that are fine (for lint, which reports every error at once); otherwise the first throws.
   */
  constructor(
    private readonly doc: PolicyDocument,
    private readonly loc: Locator,
    private readonly errors?: PolicyLoadError[]
  ) {}

  /** Run one check; in collecting mode a policy error is recorded and `undefined` returned. */
  private attempt<T>(check: () => T): T | undefined {
    if (this.errors === undefined) return check()
    try {
      return check()
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err
      this.errors.push(err)
      return undefined
    }
  }

  /** The peerguard text form of a peer ID written in either text form; a located error otherwise. */
  private peerId(text: string, path: DocPath): string {
    const r = canonicalPeerId(text)
    if ('id' in r) return r.id
    throw new PolicyBadPeerIdError(`bad peer ID "${text.slice(0, 80)}"`, this.loc.details(path, { expected: r.expected }))
  }

  build(): PolicyModel {
    const utcOffset = this.attempt(() => this.utcOffset()) ?? 0
    this.readPeers()
    this.readGroups()
    const groupOrder = this.attempt(() => this.orderGroups()) ?? []
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

  /** Attach a `source` location computed on first read (see withLazySource). `item` must be a fresh object. */
  private withSource<T extends object>(
    item: T,
    path: readonly [string, string | number]
  ): T & { readonly source: SourceLocation } {
    const loc = this.loc
    return withLazySource(item, () => loc.source(path))
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
      this.attempt(() => {
        this.checkName(alias, ['peers', alias], 'peer')
        if (def.id === undefined && def.name === undefined) {
          throw new PolicyInvalidError(
            `peer "${alias}" has neither id nor name`,
            this.loc.details(['peers', alias], { expected: 'id: <peer ID>, name: <certificate name>, or both' })
          )
        }
        const id = def.id === undefined ? undefined : this.peerId(def.id, ['peers', alias, 'id'])
        this.peers.set(alias, this.withSource({ alias, id, name: def.name }, ['peers', alias]))
      })
    }
  }

  private readGroups(): void {
    const entries = Object.entries(this.doc.groups ?? {})
    const valid: Array<[string, string[]]> = []
    for (const [name, members] of entries) {
      this.attempt(() => {
        this.checkName(name, ['groups', name], 'group')
        if (this.peers.has(name)) {
          throw new PolicyDuplicateIdError(
            `"${name}" is both a peer and a group`,
            this.loc.details(['groups', name], { key: true, expected: 'peer and group names to differ' })
          )
        }
        valid.push([name, members])
      })
    }
    const names = new Set(valid.map(([n]) => n))
    for (const [name, members] of valid) {
      const canonical = members.map((m, i) =>
        this.attempt(() => {
          if (m === '*')
            throw new PolicyInvalidError(
              '"*" inside a group',
              this.loc.details(['groups', name, i], { expected: 'peer or group names; write * in the rule instead' })
            )
          return this.checkToken(m, () => ['groups', name, i], names)
        })
      )
      const kept = canonical.filter((m): m is string => m !== undefined)
      this.groups.set(name, this.withSource({ name, members: kept }, ['groups', name]))
    }
  }

  /**
   * A peer token must be `*`, `id:`/`name:`/`ou:` with a value, or a defined peer or group.
   * Returns it with an `id:` brought to the peerguard text form.
   */
  private checkToken(
    token: string,
    where: () => DocPath,
    groups: ReadonlySet<string> | ReadonlyMap<string, unknown> = this.groups
  ): string {
    if (token === '*') return token
    const colon = token.indexOf(':')
    if (colon > 0) {
      const prefix = token.slice(0, colon)
      if (prefix === 'id' && token.length > colon + 1) return `id:${this.peerId(token.slice(colon + 1), where())}`
      if ((prefix === 'name' || prefix === 'ou') && token.length > colon + 1) return token
      throw new PolicyInvalidError(
        `bad peer reference "${token}"`,
        this.loc.details(where(), { expected: 'id:<peer ID>, name:<certificate name> or ou:<certificate group>' })
      )
    }
    if (this.peers.has(token) || groups.has(token)) return token
    const guess = nearest(token, [...this.peers.keys(), ...groups.keys()])
    throw new PolicyUnknownGroupError(
      `unknown peer or group "${token}"`,
      this.loc.details(where(), {
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
    const rules: RuleModel[] = []
    this.doc.rules.forEach((raw, index) => {
      const rule = this.readRule(raw, index, ids)
      if (rule !== undefined) rules.push(rule)
    })
    return rules
  }

  /** One rule; in collecting mode every problem in it is recorded and the rule left out. */
  private readRule(raw: RawRule, index: number, ids: Map<string, number>): RuleModel | undefined {
    const path = ['rules', index] as const
    const before = this.errors?.length ?? 0
    const id = raw.id ?? `rule-${index + 1}`
    this.attempt(() => {
      const previous = ids.get(id)
      if (previous !== undefined) {
        throw new PolicyDuplicateIdError(
          `duplicate rule id "${id}" (also rules[${previous}])`,
          this.loc.details([...path, 'id'], { expected: 'a unique id' })
        )
      }
      ids.set(id, index)
    })
    this.attempt(() => {
      if ((raw.allow === undefined) === (raw.deny === undefined)) {
        throw new PolicyInvalidError(
          raw.allow === undefined ? 'rule has neither allow: nor deny:' : 'rule has both allow: and deny:',
          this.loc.details(path, { expected: 'exactly one of allow: or deny:' })
        )
      }
    })
    const effect = raw.allow === undefined ? 'deny' : 'allow'
    const actions = (raw.allow ?? raw.deny ?? []) as Action[]
    const tokens = (key: 'peers' | 'except'): Array<string | undefined> =>
      (raw[key] ?? []).map((t, i) =>
        this.attempt(() => {
          if (key === 'except' && t === '*')
            throw new PolicyInvalidError(
              '"*" in except:',
              this.loc.details([...path, key, i], {
                expected: 'peer or group names (a rule that excepts everyone never applies)'
              })
            )
          return this.checkToken(t, () => [...path, key, i])
        })
      )
    const peers = tokens('peers')
    const except = tokens('except')
    const patterns = raw.resources.map((text, i) =>
      this.attempt(() => {
        const p = compilePattern(text)
        if (typeof p === 'string')
          throw new PolicyBadGlobError(
            `bad resource pattern "${text.slice(0, 80)}"`,
            this.loc.details([...path, 'resources', i], { expected: p })
          )
        return p
      })
    )
    const when = raw.when === undefined ? undefined : this.attempt(() => this.readWhen(raw.when as RawWhen, [...path, 'when']))
    if ((this.errors?.length ?? 0) > before) return undefined
    const loc = this.loc
    // Located on first read: finding positions in a large JSON text costs more than parsing it.
    return withLazySource<Omit<RuleModel, 'source'>>(
      {
        index,
        id,
        effect,
        actions,
        verbs: expandActions(actions),
        peers: [...new Set(peers as string[])],
        except: [...new Set(except as string[])],
        patterns: patterns as CompiledPattern[],
        when,
        description: raw.description
      },
      () => loc.source(path)
    )
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
    const out: RequirementModel[] = []
    for (const [key, def] of Object.entries(this.doc.resources ?? {})) {
      this.attempt(() => {
        const pattern = compilePattern(key)
        if (typeof pattern === 'string')
          throw new PolicyBadGlobError(
            `bad resource pattern "${key.slice(0, 80)}"`,
            this.loc.details(['resources', key], { key: true, expected: pattern })
          )
        out.push({
          id: `require:${key}`,
          pattern,
          encrypted: def.require?.includes('encrypted') === true,
          source: this.loc.source(['resources', key])
        })
      })
    }
    return out
  }

  private readTests(): TestModel[] {
    const out: TestModel[] = []
    ;(this.doc.tests ?? []).forEach((raw, index) => {
      const path = ['tests', index] as const
      const before = this.errors?.length ?? 0
      const who = this.attempt(() => this.testPeer(raw, path, index))
      const assertions = (key: 'can' | 'cannot'): Assertion[] =>
        (raw[key] ?? []).flatMap((text, i) => this.attempt(() => this.assertion(text, [...path, key, i])) ?? [])
      const can = assertions('can')
      const cannot = assertions('cannot')
      const context = this.attempt(() => this.testContext(raw, path))
      if (who === undefined || context === undefined || (this.errors?.length ?? 0) > before) return
      out.push({
        index,
        name: raw.name ?? `tests[${index}] ${who.label}`,
        peerLabel: who.label,
        peer: who.peer,
        can,
        cannot,
        context,
        source: this.loc.source(path)
      })
    })
    return out
  }

  /**
   * The peer of a test, built as the enforcement points build it from a channel: the peer ID,
   * the certificate name (CN) and groups (OU) it presents, and its address. `peer: alice` (or
   * `named: alice`) takes the ID and name from `peers:`; a peer without a known ID gets a
   * placeholder that no `id:` can match.
   */
  private testPeer(raw: RawTest, path: DocPath, index: number): { peer: PolicyPeer; label: string } {
    const spec = typeof raw.peer === 'string' ? { named: raw.peer } : raw.peer
    const at = (key: string): DocPath => (typeof raw.peer === 'string' ? [...path, 'peer'] : [...path, 'peer', key])
    let def: PeerDef | undefined
    if (spec.named !== undefined) {
      def = this.peers.get(spec.named)
      if (def === undefined) {
        const guess = nearest(spec.named, this.peers.keys())
        throw new PolicyUnknownGroupError(
          `unknown peer "${spec.named}"`,
          this.loc.details(at('named'), {
            expected: this.groups.has(spec.named)
              ? 'a peer, not a group (write {groups: [...]} for the groups (OU) a certificate carries)'
              : 'a name defined under peers:',
            ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
          })
        )
      }
    }
    const id = spec.id === undefined ? undefined : this.peerId(spec.id, at('id'))
    const conflict = (key: string, mine: string | undefined, file: string | undefined): void => {
      if (mine !== undefined && file !== undefined && mine !== file)
        throw new PolicyInvalidError(
          `test peer ${key} "${mine}" differs from peer "${def?.alias}" in peers: ("${file}")`,
          this.loc.details(at(key), { expected: `the ${key} of peer "${def?.alias}", or no ${key}` })
        )
    }
    conflict('id', id, def?.id)
    conflict('name', spec.name, def?.name)
    if (spec.address !== undefined && addressKey(spec.address) === undefined)
      throw new PolicyBadValueError(
        `bad address ${JSON.stringify(spec.address)}`,
        this.loc.details(at('address'), { expected: 'an IPv4 or IPv6 address' })
      )
    const peerId = id ?? def?.id ?? `~${def?.alias ?? `test-${index}`}`
    const name = spec.name ?? def?.name
    const groups = [...(spec.groups ?? [])]
    const label = def?.alias ?? (id !== undefined ? `id:${id}` : name !== undefined ? `name:${name}` : `ou:${groups.join(',')}`)
    return {
      peer: {
        peerId,
        ...(name === undefined ? {} : { name }),
        groups,
        ...(spec.address === undefined ? {} : { address: spec.address })
      },
      label
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
