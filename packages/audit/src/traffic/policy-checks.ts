import { InvalidArgumentError } from '@peerguard/interface'
import type { Policy, PolicyDecision } from '@peerguard/policy'
import type { PostCheck } from './auditor.js'
import { type DecisionLogEntry, splitAddress, type VerifiedDecisionLog } from './decision-logs.js'
import type { ClassifiedFlow, TrafficEngine } from './engine.js'
import { type Inventory, type InventoryPeer, isUnicastHost } from './inventory.js'
import { operationResource, type WireOperation } from './operations.js'

export interface PolicyCheckOptions {
  inventory?: Inventory
  policy?: Policy
  /** Decision logs of the hardened nodes, read with `readDecisionLog` (verified). */
  decisionLogs?: readonly VerifiedDecisionLog[]
  /** Seconds of slack between a flow's time span and a log entry. @default 5 */
  logSlackSeconds?: number
}

/** An operation as the policy is asked about it, with what it was decided from. */
export interface JudgedOperation {
  readonly verb: string
  readonly resource: string
  readonly command: string
  readonly frame: number
  readonly decision: PolicyDecision
}

/** The decision-log entries of one flow: same client address (and port when logged) within the flow's time. */
export function entriesForFlow(
  flow: ClassifiedFlow,
  entries: readonly DecisionLogEntry[],
  slackSeconds: number
): DecisionLogEntry[] {
  const from = (flow.start - slackSeconds) * 1000
  const to = (flow.end + slackSeconds) * 1000
  const host = flow.key.src.toLowerCase()
  return entries.filter((d) => {
    if (d.time < from || d.time > to || d.peer?.address === undefined) return false
    const a = splitAddress(d.peer.address)
    return a.host === host && (a.port === undefined || a.port === flow.key.srcPort)
  })
}

/** The policy resource of a decoded operation: the share named on the wire, else the server's share. */
export function resourceOfOperation(op: WireOperation, server: InventoryPeer | undefined): string | undefined {
  const share = op.share ?? server?.share
  return share === undefined ? undefined : operationResource(share, op.path)
}

function policyPeer(p: InventoryPeer, address: string): { peerId: string; name: string; groups: string[]; address: string } {
  return { peerId: p.peerId, name: p.name, groups: p.groups, address }
}

function requiresEncryption(policy: Policy, resource: string): boolean {
  try {
    return policy.requirements(resource).encrypted
  } catch {
    return false
  }
}

/**
 * Checks of the traffic against the inventory, the policy and the decision logs:
 *
 * - `unknown-peer`: a unicast host that is not an enrolled peer;
 * - hardened flows (encrypted, to a `hardened: true` node) are judged by the node's decision-log
 *   entries for them: no entry is `unlogged-access`; an operation the node allowed but the policy
 *   denies is `policy-violation` (the node ran another policy);
 * - plain and legacy flows are judged by the operations decoded from them (plain share requests,
 *   SMB tree connects, FTP commands, HTTP/WebDAV methods), each on its own path and verb:
 *   `policy-violation` for a denied one, `policy-requires-encryption` for a resource the policy
 *   wants encrypted; share traffic with a host that is not enrolled is a `policy-violation`;
 * - `decision-log-unverified`: a log whose chain, head or signer does not verify.
 */
export function createPolicyChecks(options: PolicyCheckOptions): PostCheck[] {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const { inventory, policy, decisionLogs } = options
  if (policy !== undefined && (typeof policy !== 'object' || typeof (policy as Policy).decide !== 'function'))
    throw new InvalidArgumentError('policy: expected a loaded Policy')
  if (decisionLogs !== undefined && !Array.isArray(decisionLogs))
    throw new InvalidArgumentError('decisionLogs: expected an array of logs read with readDecisionLog')
  const slack = options.logSlackSeconds ?? 5
  const byAddr = new Map<string, InventoryPeer>()
  for (const p of inventory?.peers ?? []) for (const a of p.addresses) byAddr.set(a, p)
  const ignored = new Set(inventory?.ignore ?? [])
  const entries = (decisionLogs ?? []).flatMap((l) => l.entries)
  const checks: PostCheck[] = []

  if (decisionLogs !== undefined) {
    checks.push((e) => {
      for (const log of decisionLogs) {
        const v = log.verify
        if (v.ok) continue
        const bad = v.firstBad
        e.findings.add({
          code: 'decision-log-unverified',
          title:
            bad === undefined
              ? `decision log ${log.file} ends in a partial entry (a crash mid-write): ${log.entries.length} entries used`
              : `decision log ${log.file} does not verify (${bad.code}, line ${bad.line}): only the ${log.entries.length} entries before it are used`,
          evidence: {
            file: log.file,
            problem: bad?.code ?? 'log-torn-tail',
            line: bad?.line ?? null,
            message: bad?.message ?? 'partial last entry',
            entriesUsed: log.entries.length,
            signer: v.signer ?? null,
            warnings: v.warnings
          },
          frames: [],
          // A torn tail is a crash, not tampering.
          ...(bad === undefined ? { severity: 'low' as const } : {})
        })
      }
    })
  }

  if (inventory !== undefined) {
    checks.push((e: TrafficEngine) => {
      for (const h of e.hosts()) {
        if (byAddr.has(h.addr.toLowerCase()) || ignored.has(h.addr.toLowerCase()) || !isUnicastHost(h.addr)) continue
        e.findings.add({
          code: 'unknown-peer',
          title: `${h.addr}${h.names.length > 0 ? ` (${h.names[0]!.name})` : ''} is not an enrolled peer`,
          evidence: { addr: h.addr, macs: h.macs, names: h.names.map((n) => n.name), flows: h.flows, protocols: h.protocols },
          frames: [h.firstFrame]
        })
      }
    })
  }

  if (policy === undefined && decisionLogs === undefined) return checks
  checks.push((e: TrafficEngine) => {
    for (const flow of e.classified) {
      const client = byAddr.get(flow.key.src.toLowerCase())
      const server = byAddr.get(flow.key.dst.toLowerCase())
      const hardenedNode = server?.hardened === true
      if (decisionLogs !== undefined && hardenedNode && flow.key.proto === 'tcp') {
        const mine = entriesForFlow(flow, entries, slack)
        if (mine.length === 0) {
          e.findings.add({
            code: 'unlogged-access',
            title: `${flow.key.src} → hardened node ${server.name} (${flow.key.dst}:${flow.key.dstPort}) with no matching decision-log entry`,
            flow: flow.key,
            evidence: {
              protocol: flow.protocol,
              client: client?.name ?? null,
              server: server.name,
              start: flow.start,
              end: flow.end
            },
            frames: flow.frames
          })
        } else if (policy !== undefined && flow.encrypted) judgeLogged(e, flow, server, mine, policy)
      }
      if (policy === undefined || !flow.share || (hardenedNode && flow.encrypted)) continue
      judgeWire(e, flow, client, server, policy)
    }
  })
  return checks
}

/** A hardened flow: the operations the node allowed are checked against the audit's policy. */
function judgeLogged(
  e: TrafficEngine,
  flow: ClassifiedFlow,
  server: InventoryPeer,
  mine: DecisionLogEntry[],
  policy: Policy
): void {
  const wrong: {
    verb: string
    resource: string
    peer: string
    nodeCode: string
    decision: string
    rule: string | null
    line: number
  }[] = []
  for (const d of mine) {
    if (d.kind !== 'operation' || d.allowed !== true || d.verb === undefined || d.resource === undefined) continue
    const peer = d.peer ?? {}
    if (peer.peerId === undefined) continue
    let decision: PolicyDecision
    try {
      decision = policy.decide({
        peer: {
          peerId: peer.peerId,
          ...(peer.name === undefined ? {} : { name: peer.name }),
          groups: [...(peer.groups ?? [])],
          ...(peer.address === undefined ? {} : { address: peer.address })
        },
        action: d.verb,
        resource: d.resource,
        context: { encrypted: true, time: d.time }
      })
    } catch {
      continue
    }
    if (!decision.allowed && wrong.length < 32)
      wrong.push({
        verb: d.verb,
        resource: d.resource,
        peer: peer.name ?? peer.peerId,
        nodeCode: d.code,
        decision: decision.code,
        rule: decision.rule?.id ?? null,
        line: d.line
      })
  }
  if (wrong.length === 0) return
  e.findings.add({
    code: 'policy-violation',
    title: `hardened node ${server.name} allowed ${wrong[0]!.peer} ${wrong[0]!.verb} ${wrong[0]!.resource}${wrong.length > 1 ? ` and ${wrong.length - 1} more` : ''}; the policy denies it`,
    flow: flow.key,
    evidence: { protocol: flow.protocol, server: server.name, judgedBy: 'decision-log', operations: wrong },
    frames: flow.frames
  })
}

/** A plain or legacy flow: each decoded operation against the per-path rules. */
function judgeWire(
  e: TrafficEngine,
  flow: ClassifiedFlow,
  client: InventoryPeer | undefined,
  server: InventoryPeer | undefined,
  policy: Policy
): void {
  if (client === undefined || server === undefined) {
    const who = client === undefined ? `client ${flow.key.src}` : `server ${flow.key.dst}`
    e.findings.add({
      code: 'policy-violation',
      title: `${flow.protocol || 'share'} traffic ${flow.key.src} → ${flow.key.dst}:${flow.key.dstPort}: ${who} is not an enrolled peer`,
      flow: flow.key,
      evidence: {
        protocol: flow.protocol,
        client: client?.name ?? null,
        server: server?.name ?? null,
        reason: `${who} is not an enrolled peer: no policy gives it access`,
        decision: 'deny-default'
      },
      frames: flow.frames
    })
    return
  }
  const ops: { verb: string; path: string; share?: string; command: string; frame: number; time: number }[] = [...flow.operations]
  if (ops.length === 0) {
    // Nothing decoded but shares named on the wire (an SMB tree connect): browsing the share root.
    for (const r of flow.resources)
      if (r.startsWith('share:'))
        ops.push({ verb: 'list', path: '', share: r.slice(6), command: 'share', frame: flow.frames[0] ?? 0, time: flow.start })
  }
  const peer = policyPeer(client, flow.key.src)
  const denied: JudgedOperation[] = []
  const clear = new Map<string, JudgedOperation>()
  const asked = new Set<string>()
  for (const op of ops) {
    const resource = resourceOfOperation(op as WireOperation, server)
    if (resource === undefined || asked.has(`${op.verb} ${resource}`)) continue
    asked.add(`${op.verb} ${resource}`)
    let decision: PolicyDecision
    try {
      decision = policy.decide({
        peer,
        action: op.verb,
        resource,
        context: { encrypted: flow.encrypted, time: Math.round(op.time * 1000) }
      })
    } catch {
      continue
    }
    const judged = { verb: op.verb, resource, command: op.command, frame: op.frame, decision }
    if (!flow.encrypted && (decision.code === 'deny-requirement' || requiresEncryption(policy, resource))) {
      if (!clear.has(resource)) clear.set(resource, judged)
    } else if (!decision.allowed) denied.push(judged)
  }
  if (denied.length > 0) {
    const first = denied[0]!
    e.findings.add({
      code: 'policy-violation',
      title: `${client.name} did ${first.verb} ${first.resource}${denied.length > 1 ? ` and ${denied.length - 1} more` : ''} on ${server.name} over ${flow.protocol || 'share traffic'}; the policy denies it`,
      flow: flow.key,
      evidence: {
        protocol: flow.protocol,
        client: client.name,
        server: server.name,
        judgedBy: 'operations',
        resource: first.resource,
        decision: first.decision.code,
        reason: first.decision.reason,
        ...(first.decision.rule === undefined ? {} : { rule: first.decision.rule.id }),
        operations: denied.slice(0, 32).map((d) => ({
          verb: d.verb,
          resource: d.resource,
          command: d.command,
          frame: d.frame,
          decision: d.decision.code,
          rule: d.decision.rule?.id ?? null
        }))
      },
      frames: [...flow.frames, ...denied.map((d) => d.frame)]
    })
  }
  if (clear.size > 0) {
    const list = [...clear.values()]
    const first = list[0]!
    e.findings.add({
      code: 'policy-requires-encryption',
      title: `${first.resource}${list.length > 1 ? ` and ${list.length - 1} more` : ''} require${list.length > 1 ? '' : 's'} encryption but ${list.length > 1 ? 'were' : 'was'} reached over ${flow.protocol || 'cleartext'} (${flow.key.src} → ${flow.key.dst})`,
      flow: flow.key,
      evidence: {
        protocol: flow.protocol,
        resource: first.resource,
        resources: list.slice(0, 32).map((j) => ({ verb: j.verb, resource: j.resource, command: j.command, frame: j.frame })),
        rules: policy.requirements(first.resource).rules,
        client: client.name,
        server: server.name
      },
      frames: [...flow.frames, ...list.map((j) => j.frame)]
    })
  }
}
