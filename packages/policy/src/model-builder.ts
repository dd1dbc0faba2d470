import type { SourceLocation } from '@peerguard/interface'
import { ACTIONS, expandActions, isAction, type Action } from './actions.js'
import {
  PolicyBadGlobError,
  PolicyBadValueError,
  PolicyCyclicGroupError,
  PolicyDuplicateIdError,
  PolicyInvalidError,
  PolicyUnknownActionError,
  PolicyUnknownGroupError
} from './errors.js'
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
import { compilePattern, splitResource } from './resource.js'
import type { PolicyDocument, RawTest, RawWhen } from './schema.js'
import { nearest } from './suggest.js'
import { addressKey, parseCidr, parseDay, parseSize, parseTimeWindow, parseUtcOffset, type RequestContext } from './values.js'

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/

const quoteList = (items: readonly string[]): string => items.map((i) => `"${i}"`).join(', ')

/** Semantic checks after the schema passed: names, groups and cycles, rules, conditions, tests. */
export class ModelBuilder {
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
        this.checkToken(m, () => ['groups', name, i])
      })
    }
  }

  /** A peer token must be `*`, `id:`/`name:`/`ou:` with a value, or a defined peer or group. */
  private checkToken(token: string, where: () => DocPath): void {
    if (token === '*') return
    const colon = token.indexOf(':')
    if (colon > 0) {
      const prefix = token.slice(0, colon)
      if ((prefix === 'id' || prefix === 'name' || prefix === 'ou') && token.length > colon + 1) return
      throw new PolicyInvalidError(
        `bad peer reference "${token}"`,
        this.loc.details(where(), { expected: 'id:<peer ID>, name:<certificate name> or ou:<certificate group>' })
      )
    }
    if (this.peers.has(token) || this.groups.has(token)) return
    const guess = nearest(token, [...this.peers.keys(), ...this.groups.keys()])
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
        this.checkToken(t, () => [...path, 'peers', i])
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
