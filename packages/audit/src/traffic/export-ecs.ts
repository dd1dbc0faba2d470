import type { Severity } from '@peerguard/interface'
import type { DecisionLogEntry } from './decision-logs.js'
import { splitAddress } from './decision-logs.js'
import type { AuditFinding } from './report-groups.js'

/** The Elastic Common Schema version the documents follow (https://www.elastic.co/guide/en/ecs/). */
export const ECS_VERSION = '8.11.0'

/** ECS `event.severity` (a number: higher is worse) per finding severity. */
export const ECS_SEVERITY: Readonly<Record<Severity, number>> = { info: 10, low: 25, medium: 50, high: 75, critical: 100 }

function iso(seconds: number | undefined): string | undefined {
  return seconds === undefined || !Number.isFinite(seconds) ? undefined : new Date(seconds * 1000).toISOString()
}

const OBSERVER = { vendor: 'peerguard', product: 'peerguard audit', type: 'ids' }

/** One finding as an ECS document (`event.kind: alert`, source and destination from its flow). */
export function findingToEcs(f: AuditFinding, now: () => number = Date.now): Record<string, unknown> {
  const start = iso(f.firstSeen)
  const end = iso(f.lastSeen)
  return {
    '@timestamp': start ?? new Date(now()).toISOString(),
    ecs: { version: ECS_VERSION },
    message: f.title,
    event: {
      kind: 'alert',
      category: ['network', 'intrusion_detection'],
      type: ['info'],
      module: 'peerguard',
      dataset: 'peerguard.audit',
      code: f.code,
      severity: ECS_SEVERITY[f.severity],
      ...(start === undefined ? {} : { start }),
      ...(end === undefined ? {} : { end })
    },
    log: { level: f.severity },
    rule: { id: f.code, name: f.code, ruleset: 'peerguard' },
    observer: OBSERVER,
    ...(f.flow === undefined
      ? {}
      : {
          source: { ip: f.flow.src, port: f.flow.srcPort },
          destination: { ip: f.flow.dst, port: f.flow.dstPort },
          network: { transport: f.flow.proto }
        }),
    peerguard: { finding: { code: f.code, severity: f.severity, frames: f.frames, evidence: f.evidence } }
  }
}

/** One decision-log entry as an ECS document (`event.kind: event`, outcome from the decision). */
export function decisionToEcs(d: DecisionLogEntry): Record<string, unknown> {
  const addr = d.peer?.address === undefined ? undefined : splitAddress(d.peer.address)
  const outcome =
    d.kind === 'operation'
      ? d.allowed === true
        ? 'success'
        : 'failure'
      : d.event === 'accepted'
        ? 'success'
        : d.event === 'refused'
          ? 'failure'
          : 'unknown'
  return {
    '@timestamp': new Date(d.time).toISOString(),
    ecs: { version: ECS_VERSION },
    message: `${d.kind}${d.verb === undefined ? '' : ` ${d.verb}`}${d.resource === undefined ? '' : ` ${d.resource}`}: ${d.code}`,
    event: {
      kind: 'event',
      category: d.kind === 'operation' ? ['file'] : ['network', 'authentication'],
      type: d.kind === 'operation' ? ['access'] : ['connection'],
      action: d.verb ?? d.event ?? d.kind,
      outcome,
      code: d.code,
      module: 'peerguard',
      dataset: 'peerguard.decisions'
    },
    observer: OBSERVER,
    ...(d.peer?.peerId === undefined && d.peer?.name === undefined
      ? {}
      : {
          user: {
            ...(d.peer?.peerId === undefined ? {} : { id: d.peer.peerId }),
            ...(d.peer?.name === undefined ? {} : { name: d.peer.name }),
            ...(d.peer?.groups === undefined ? {} : { roles: d.peer.groups })
          }
        }),
    ...(addr === undefined ? {} : { source: { ip: addr.host, ...(addr.port === undefined ? {} : { port: addr.port }) } }),
    ...(d.resource === undefined ? {} : { file: { path: d.resource } }),
    ...(d.rule === undefined ? {} : { rule: { id: d.rule, ruleset: 'peerguard-policy' } }),
    peerguard: { log: { file: d.file, line: d.line, kind: d.kind } }
  }
}

/** JSON lines (one document per line, newline-terminated) of findings, then decision-log entries. */
export function toEcsJsonLines(findings: readonly AuditFinding[], decisions: readonly DecisionLogEntry[] = []): string {
  const lines = [...findings.map((f) => findingToEcs(f)), ...decisions.map(decisionToEcs)].map((d) => JSON.stringify(d))
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}
