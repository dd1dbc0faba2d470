import {
  type Decision,
  type DecisionRecord,
  type DecisionSink,
  type OperationRecord,
  type PeerInfo,
  logPeer,
  type PolicyDecider,
  policyPeerOf,
  recordOrRefuse
} from '@peerguard/interface'

/** Policy verbs (policies/README.md): `get` (a read) to fetch, `put` (a write) to seed or publish. */
export type SwarmVerb = 'get' | 'put'

const NO_POLICY: Decision = Object.freeze({
  allowed: true,
  code: 'allow',
  reason: 'no policy: every peer certified by the LAN CA may take part',
  matchedGroups: Object.freeze([]) as readonly string[]
})

const FINAL_DENY = new Set(['deny-rule', 'deny-requirement', 'deny-invalid-resource'])

/**
 * Decide `verb` on a swarm for a peer (SWARM.md §5). The swarm is two resources of different
 * kinds: `swarm:<name>` (the name its publisher chose) and `swarm-id:<swarm id>` (the SHA-256 of
 * its manifest, which nobody chooses). A deny rule on either refuses, otherwise an allow on either
 * allows, otherwise the default deny. Being two kinds, a rule that grants one swarm by ID never
 * matches a name, so a peer allowed to publish one swarm by ID cannot publish other content under
 * that ID as its name. Without a policy every certified peer is allowed.
 */
export function decideSwarm(
  policy: PolicyDecider | undefined,
  peer: PeerInfo,
  verb: SwarmVerb,
  swarm: { name: string; swarmId: string }
): Decision {
  if (policy === undefined) return NO_POLICY
  const ask = (resource: string): Decision => {
    try {
      return policy.decide({
        peer: policyPeerOf(peer),
        action: verb,
        resource,
        context: { encrypted: true }
      })
    } catch (err) {
      // A policy that cannot decide refuses (fail closed).
      return { allowed: false, code: 'deny-default', reason: `policy error: ${(err as Error).message}`, matchedGroups: [] }
    }
  }
  const byName = ask(`swarm:${swarm.name}`)
  const byId = ask(`swarm-id:${swarm.swarmId}`)
  if (FINAL_DENY.has(byName.code)) return byName
  if (FINAL_DENY.has(byId.code)) return byId
  if (byName.allowed) return byName
  if (byId.allowed) return byId
  return byName
}

/** An operation record for a swarm decision. */
export function decisionRecord(peer: PeerInfo, verb: SwarmVerb | 'piece', resource: string, decision: Decision): OperationRecord {
  return {
    kind: 'operation',
    allowed: decision.allowed,
    code: decision.code,
    reason: decision.reason,
    peer: logPeer(peer),
    action: verb === 'get' ? 'read' : 'write',
    verb,
    resource,
    ...(decision.rule === undefined
      ? {}
      : { rule: { id: decision.rule.id, ...(decision.rule.source === undefined ? {} : { source: decision.rule.source }) } })
  }
}

/**
 * Append to the log; a log that cannot be written refuses the operation (fail closed,
 * `log-unavailable`). Resolves to what the log returned (`{ seq, hash }`).
 */
export async function appendDecision(log: DecisionSink | undefined, record: DecisionRecord): Promise<unknown> {
  return recordOrRefuse(log, record)
}
