import { InvalidArgumentError } from '@peerguard/interface'
import type { Policy, PolicyDecision } from '@peerguard/policy'
import type { DecisionLogEntry } from './decision-logs.js'
import type { ClassifiedFlow } from './engine.js'
import type { Inventory, InventoryPeer } from './inventory.js'
import { resourceOfOperation } from './policy-checks.js'
import type { WireOperation } from './operations.js'

/** Who did an operation, as far as the capture and the logs tell. */
export interface ReplayPeer {
  readonly name?: string
  readonly peerId?: string
  readonly groups?: readonly string[]
  /** Client address (host). */
  readonly address: string
}

/** One observed operation (deduplicated by peer, verb and resource) with its decision before and after. */
export interface ReplayOperation {
  readonly peer: ReplayPeer
  readonly verb: string
  readonly resource: string
  /** Where it was seen: a hardened node's decision log, or decoded from cleartext traffic. */
  readonly source: 'decision-log' | 'traffic'
  /** How many times it was seen, and when first (seconds since the epoch). */
  readonly count: number
  readonly firstSeen: number
  /**
   * The decision it got: the node's logged decision (hardened), the current policy's (plain, with
   * a current policy), or `observed` (plain, no current policy: it happened, nothing enforced it).
   */
  readonly before: { readonly allowed: boolean; readonly code: string }
  /** What the proposed policy decides. */
  readonly after: { readonly allowed: boolean; readonly code: string; readonly rule?: string; readonly reason: string }
}

export interface ReplayResult {
  /** Distinct observed operations judged. */
  readonly operations: number
  /** Allowed before, denied by the proposed policy. */
  readonly newlyDenied: readonly ReplayOperation[]
  /** Denied before, allowed by the proposed policy. */
  readonly newlyAllowed: readonly ReplayOperation[]
  readonly unchanged: number
  /** Operations seen on the wire that could not be judged (no enrolled client, no share for the server). */
  readonly unjudged: number
  /** Changes per peer (name, else peer ID, else address). */
  readonly byPeer: Readonly<Record<string, { readonly newlyDenied: number; readonly newlyAllowed: number }>>
}

export interface ReplayOptions {
  /** The policy proposed. */
  proposed: Policy
  /** The policy in force, to judge operations decoded from cleartext traffic; absent: they count as allowed. */
  current?: Policy
  inventory?: Inventory
  /** Flows of the capture with their decoded operations (`TrafficEngine.classified`). */
  flows: readonly ClassifiedFlow[]
  /** Verified decision-log entries of the hardened nodes. */
  entries?: readonly DecisionLogEntry[]
}

function decide(
  policy: Policy,
  peer: ReplayPeer & { peerId: string },
  verb: string,
  resource: string,
  encrypted: boolean,
  ms: number
): PolicyDecision | undefined {
  try {
    return policy.decide({
      peer: {
        peerId: peer.peerId,
        ...(peer.name === undefined ? {} : { name: peer.name }),
        groups: [...(peer.groups ?? [])],
        address: peer.address
      },
      action: verb,
      resource,
      context: { encrypted, time: ms }
    })
  } catch {
    return undefined
  }
}

/**
 * Replay what a capture and its decision logs show under a proposed policy: every operation
 * observed (hardened: the logged ones; plain and legacy: the ones decoded from the traffic) is
 * asked again, and the ones whose answer changes are listed, by whom. Nothing is sent anywhere.
 */
export function replayPolicy(options: ReplayOptions): ReplayResult {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const { proposed, current, inventory, flows, entries = [] } = options
  if (typeof proposed?.decide !== 'function') throw new InvalidArgumentError('proposed: expected a loaded Policy')
  if (current !== undefined && typeof current.decide !== 'function')
    throw new InvalidArgumentError('current: expected a loaded Policy')
  if (!Array.isArray(flows)) throw new InvalidArgumentError('flows: expected an array of classified flows')
  const byAddr = new Map<string, InventoryPeer>()
  for (const p of inventory?.peers ?? []) for (const a of p.addresses) byAddr.set(a, p)
  const seen = new Map<string, ReplayOperation>()
  let unjudged = 0
  const note = (op: Omit<ReplayOperation, 'count'>): void => {
    const key = `${op.source}|${op.peer.peerId ?? op.peer.address}|${op.verb}|${op.resource}|${op.before.allowed}`
    const prev = seen.get(key)
    if (prev === undefined) seen.set(key, { ...op, count: 1 })
    else seen.set(key, { ...prev, count: prev.count + 1, firstSeen: Math.min(prev.firstSeen, op.firstSeen) })
  }
  for (const d of entries) {
    if (d.kind !== 'operation' || d.verb === undefined || d.resource === undefined || d.peer?.peerId === undefined) continue
    const host = d.peer.address === undefined ? '' : d.peer.address.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, '$1')
    const peer = {
      peerId: d.peer.peerId,
      ...(d.peer.name === undefined ? {} : { name: d.peer.name }),
      groups: d.peer.groups ?? [],
      address: host
    }
    const after = decide(proposed, peer, d.verb, d.resource, true, d.time)
    if (after === undefined) continue
    note({
      peer,
      verb: d.verb,
      resource: d.resource,
      source: 'decision-log',
      firstSeen: d.time / 1000,
      before: { allowed: d.allowed === true, code: d.code },
      after: {
        allowed: after.allowed,
        code: after.code,
        ...(after.rule === undefined ? {} : { rule: after.rule.id }),
        reason: after.reason
      }
    })
  }
  for (const flow of flows) {
    // Hardened flows are known from their logs; only what crossed in clear is decoded.
    if (flow.encrypted || flow.operations.length === 0) continue
    const client = byAddr.get(flow.key.src.toLowerCase())
    const server = byAddr.get(flow.key.dst.toLowerCase())
    for (const op of flow.operations) {
      const resource = resourceOfOperation(op as WireOperation, server)
      if (client === undefined || resource === undefined) {
        unjudged++
        continue
      }
      const peer = { peerId: client.peerId, name: client.name, groups: client.groups, address: flow.key.src }
      const ms = Math.round(op.time * 1000)
      const after = decide(proposed, peer, op.verb, resource, false, ms)
      const was = current === undefined ? undefined : decide(current, peer, op.verb, resource, false, ms)
      if (after === undefined) {
        unjudged++
        continue
      }
      note({
        peer,
        verb: op.verb,
        resource,
        source: 'traffic',
        firstSeen: op.time,
        before: was === undefined ? { allowed: true, code: 'observed' } : { allowed: was.allowed, code: was.code },
        after: {
          allowed: after.allowed,
          code: after.code,
          ...(after.rule === undefined ? {} : { rule: after.rule.id }),
          reason: after.reason
        }
      })
    }
  }
  const all = [...seen.values()].sort((a, b) => a.firstSeen - b.firstSeen)
  const newlyDenied = all.filter((o) => o.before.allowed && !o.after.allowed)
  const newlyAllowed = all.filter((o) => !o.before.allowed && o.after.allowed)
  const byPeer: Record<string, { newlyDenied: number; newlyAllowed: number }> = {}
  for (const [list, k] of [
    [newlyDenied, 'newlyDenied'],
    [newlyAllowed, 'newlyAllowed']
  ] as const) {
    for (const o of list) {
      const who = o.peer.name ?? o.peer.peerId ?? o.peer.address
      byPeer[who] ??= { newlyDenied: 0, newlyAllowed: 0 }
      byPeer[who][k]++
    }
  }
  return {
    operations: all.length,
    newlyDenied,
    newlyAllowed,
    unchanged: all.length - newlyDenied.length - newlyAllowed.length,
    unjudged,
    byPeer
  }
}
