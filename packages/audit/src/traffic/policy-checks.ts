// biome-ignore-all lint/suspicious/noExplicitAny: untyped JSON (ground truth, decision-log lines)
import { readFileSync } from 'node:fs'
import { InvalidArgumentError } from '@peerguard/interface'
import type { Policy } from '@peerguard/policy'
import type { PostCheck } from './auditor.js'
import type { ClassifiedFlow, TrafficEngine } from './engine.js'
import { AuditInventoryError } from './errors.js'
import { type Inventory, type InventoryPeer, isUnicastHost } from './inventory.js'

/** One decision from a hardened node's decision log, as far as the auditor needs it. */
export interface DecisionLogEntry {
  /** Milliseconds since the epoch. */
  time: number
  peerId?: string
  /** Client address (`host` or `host:port`). */
  address?: string
  resource?: string
}

export interface PolicyCheckOptions {
  inventory?: Inventory
  policy?: Policy
  /** Decision-log entries of the hardened nodes (`unlogged-access` needs them). */
  decisions?: readonly DecisionLogEntry[]
  /** Seconds of slack between a flow's time span and a log entry. @default 5 */
  logSlackSeconds?: number
}

function hostOf(address: string): string {
  const a = address.trim()
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']')).toLowerCase()
  const colons = (a.match(/:/g) ?? []).length
  return (colons === 1 ? a.slice(0, a.indexOf(':')) : a).toLowerCase()
}

/** The resources a flow reached, or the server's declared share when the protocol named none; [] when unknown. */
function resourcesOf(flow: ClassifiedFlow, server: InventoryPeer | undefined): string[] {
  const named = flow.resources.filter((r) => r.startsWith('share:'))
  if (named.length > 0 && server?.share !== undefined) {
    // Paths of the plain share are relative to the share root: `share:<share>/<path>`.
    return named.map((r) => (flow.protocol === 'peerguard-plain' ? `share:${server.share}/${r.slice(6).replace(/^\/+/, '')}` : r))
  }
  if (named.length > 0) return named
  // Nothing named on the wire (encrypted, or not seen): the server's declared share, if any.
  return server?.share === undefined ? [] : [`share:${server.share}`]
}

/**
 * Checks of the traffic against the inventory and the policy: `unknown-peer` (a host that is not
 * an enrolled peer), `policy-violation` (share traffic the policy gives no access to; a host that
 * is not enrolled has no access), `policy-requires-encryption` (a `require: encrypted` resource
 * reached over cleartext) and `unlogged-access` (a flow to a hardened node with no decision).
 */
export function createPolicyChecks(options: PolicyCheckOptions): PostCheck[] {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const { inventory, policy, decisions } = options
  if (policy !== undefined && (typeof policy !== 'object' || typeof (policy as Policy).decide !== 'function'))
    throw new InvalidArgumentError('policy: expected a loaded Policy')
  const slack = options.logSlackSeconds ?? 5
  const byAddr = new Map<string, InventoryPeer>()
  for (const p of inventory?.peers ?? []) for (const a of p.addresses) byAddr.set(a, p)
  const ignored = new Set(inventory?.ignore ?? [])
  const checks: PostCheck[] = []

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

  if (policy !== undefined || decisions !== undefined) {
    checks.push((e: TrafficEngine) => {
      for (const flow of e.classified) {
        if (!flow.share) continue
        const client = byAddr.get(flow.key.src.toLowerCase())
        const server = byAddr.get(flow.key.dst.toLowerCase())
        const resources = resourcesOf(flow, server)
        if (policy !== undefined) {
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
          } else {
            const peer = { peerId: client.peerId, name: client.name, groups: client.groups, address: flow.key.src }
            for (const resource of resources) {
              const d = policy.decide({
                peer,
                action: 'read',
                resource,
                context: { encrypted: flow.encrypted, time: Math.round(flow.start * 1000) }
              })
              if (
                d.code === 'deny-requirement' ||
                (!d.allowed && !flow.encrypted && policyRequiresEncryption(policy, resource))
              ) {
                // Reported below as policy-requires-encryption.
              } else if (!d.allowed) {
                e.findings.add({
                  code: 'policy-violation',
                  title: `${client.name} reached ${resource} on ${server.name} over ${flow.protocol || 'share traffic'}; the policy gives no access`,
                  flow: flow.key,
                  evidence: {
                    protocol: flow.protocol,
                    client: client.name,
                    server: server.name,
                    resource,
                    decision: d.code,
                    reason: d.reason,
                    ...(d.rule === undefined ? {} : { rule: d.rule.id })
                  },
                  frames: flow.frames
                })
              }
            }
          }
          if (!flow.encrypted) {
            for (const resource of resources) {
              if (!policyRequiresEncryption(policy, resource)) continue
              e.findings.add({
                code: 'policy-requires-encryption',
                title: `${resource} requires encryption but was reached over ${flow.protocol || 'cleartext'} (${flow.key.src} → ${flow.key.dst})`,
                flow: flow.key,
                evidence: {
                  protocol: flow.protocol,
                  resource,
                  rules: policy.requirements(resource).rules,
                  client: client?.name ?? null,
                  server: server?.name ?? null
                },
                frames: flow.frames
              })
            }
          }
        }
        if (decisions !== undefined && server?.hardened === true && flow.key.proto === 'tcp') {
          const logged = decisions.some(
            (d) =>
              d.time >= (flow.start - slack) * 1000 &&
              d.time <= (flow.end + slack) * 1000 &&
              ((d.peerId !== undefined && client !== undefined && d.peerId === client.peerId) ||
                (d.address !== undefined && hostOf(d.address) === flow.key.src.toLowerCase()))
          )
          if (!logged) {
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
          }
        }
      }
    })
  }
  return checks
}

function policyRequiresEncryption(policy: Policy, resource: string): boolean {
  try {
    return policy.requirements(resource).encrypted
  } catch {
    return false
  }
}

/**
 * Read decision-log entries from a JSON-lines file: the decision log of this package
 * (`openDecisionLog`: `ts` ISO time, `peer.peerId`, `peer.address`; checkpoints skipped), or any
 * lines with a time (`time`/`ts`/`timestamp`, ms or ISO) and `peerId`/`address`. Verify the log
 * first (`verifyDecisionLogFile`): this reader trusts it. Unparseable lines are skipped.
 */
export function loadDecisionLog(path: string): DecisionLogEntry[] {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('path: expected a non-empty string')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AuditInventoryError(`${path}: cannot read the decision log`, { cause: err, details: { file: path } })
  }
  const out: DecisionLogEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let o: Record<string, any>
    try {
      o = JSON.parse(line)
    } catch {
      continue
    }
    if (o === null || typeof o !== 'object') continue
    // The decision log's own bookkeeping entries name no peer.
    if (o.kind === 'checkpoint' || o.kind === 'recovery') continue
    const t = o.time ?? o.ts ?? o.timestamp
    const time = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : Number.NaN
    if (!Number.isFinite(time)) continue
    const peerId = o.peerId ?? o.peer?.peerId
    const address = o.address ?? o.peer?.address
    out.push({
      time,
      ...(typeof peerId === 'string' ? { peerId } : {}),
      ...(typeof address === 'string' ? { address } : {}),
      ...(typeof o.resource === 'string' ? { resource: o.resource } : {})
    })
  }
  return out
}
