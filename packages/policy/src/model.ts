import type { PolicyPeer, RequestContext, SourceLocation } from '@peerguard/interface'
import type { Action, Verb } from './actions.js'
import type { CompiledPattern } from './resource.js'

/** A peer as a decision sees it (declared once, in @peerguard/interface). */
export type { PolicyPeer }

/** Conditions of a rule's `when:` block, parsed. */
export interface Conditions {
  readonly minSize?: number
  readonly maxSize?: number
  /** Minutes of the day [start, end); end < start wraps midnight. */
  readonly time?: { readonly start: number; readonly end: number }
  /** Weekdays, 0 = Sunday. */
  readonly days?: readonly number[]
  /** Inclusive address-key ranges. */
  readonly networks?: ReadonlyArray<{ readonly lo: string; readonly hi: string }>
  /** The block as written, for explain output. */
  readonly text: Readonly<Record<string, unknown>>
}

export type Effect = 'allow' | 'deny'

export interface RuleModel {
  /** 0-based position in the file. */
  readonly index: number
  readonly id: string
  readonly effect: Effect
  readonly actions: readonly Action[]
  readonly verbs: readonly Verb[]
  /** Peer tokens as written: `*`, names, `id:`, `name:`, `ou:` (`id:` in peerguard text form). */
  readonly peers: readonly string[]
  /** Peer tokens the rule does not apply to, though `peers` names them (`except:`). */
  readonly except: readonly string[]
  readonly patterns: readonly CompiledPattern[]
  readonly when: Conditions | undefined
  readonly description: string | undefined
  readonly source: SourceLocation
}

export interface RequirementModel {
  readonly id: string
  readonly pattern: CompiledPattern
  readonly encrypted: boolean
  readonly source: SourceLocation
}

export interface PeerDef {
  readonly alias: string
  readonly id?: string
  readonly name?: string
  readonly source: SourceLocation
}

export interface GroupDef {
  readonly name: string
  readonly members: readonly string[]
  readonly source: SourceLocation
}

export interface Assertion {
  readonly text: string
  readonly action: Action
  readonly resource: string
}

export interface TestModel {
  readonly index: number
  readonly name: string
  /** The peer as written (a name), or `id:<peerId>` / `name:<CN>` / `ou:<groups>` for an inline peer. */
  readonly peerLabel: string
  readonly peer: PolicyPeer
  readonly can: readonly Assertion[]
  readonly cannot: readonly Assertion[]
  readonly context: RequestContext
  readonly source: SourceLocation
}

/** Everything the loader learned from a policy text; immutable. */
export interface PolicyModel {
  readonly file: string | undefined
  readonly description: string | undefined
  /** Minutes east of UTC of the clock that time windows use. */
  readonly utcOffset: number
  readonly peers: ReadonlyMap<string, PeerDef>
  readonly groups: ReadonlyMap<string, GroupDef>
  /** Group names, members before the groups that contain them. */
  readonly groupOrder: readonly string[]
  readonly rules: readonly RuleModel[]
  readonly requirements: readonly RequirementModel[]
  readonly tests: readonly TestModel[]
}
