import { basename } from 'node:path'
import type { TrafficAuditReport } from './auditor.js'
import { SEVERITY_ORDER } from './findings.js'

function esc(s: unknown): string {
  return String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')
}

/** ISO 8601 UTC, to the second (what people compare with their logs). */
export function isoTime(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return ''
  return new Date(Math.floor(seconds * 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function endpoint(host: string, port: number): string {
  if (host === '') return ''
  if (port === 0) return host
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Where a report's data came from, in words. */
export function sourceText(report: TrafficAuditReport): string {
  const s = report.summary.source
  if (s?.file !== undefined) return `${basename(s.file)} (${s.format ?? 'capture'})`
  if (s?.interface !== undefined) return `interface ${s.interface}`
  return 'unknown'
}

/**
 * The Markdown report: the summary first (what is wrong, how bad, how to fix it, with the config
 * lines), then findings grouped by code, host pair and time window, then what could not be
 * parsed, protocols and hosts.
 */
export function renderMarkdown(report: TrafficAuditReport, title = 'peerguard traffic audit'): string {
  const s = report.summary
  const o = report.overview
  const lines: string[] = [`# ${title}`, '']
  lines.push(`Source: \`${sourceText(report)}\`  `)
  lines.push(`Time: ${isoTime(s.firstTimestamp) || '—'} to ${isoTime(s.lastTimestamp) || '—'} (${s.durationSeconds} s)  `)
  lines.push(`Packets: ${s.packets} (${s.bytes} bytes)  `)
  lines.push(`Flows: ${s.flows.total} (TCP ${s.flows.tcp}, UDP ${s.flows.udp}, other ${s.flows.other})  `)
  lines.push(`Hosts: ${s.hosts}  `)
  const sev = SEVERITY_ORDER.slice()
    .reverse()
    .map((k) => `${k} ${s.findings.bySeverity[k] ?? 0}`)
    .join(', ')
  lines.push(`Findings: ${s.findings.total} (${sev}) in ${report.groups.length} groups`, '')
  lines.push('## Summary', '', `**${esc(o.headline)}**`, '')
  if (s.integrity !== 'ok' || s.parseErrors.total > 0) {
    lines.push(
      s.integrity === 'ok'
        ? '> **Not everything could be parsed.** The auditor counted and skipped:'
        : `> **The capture is ${s.integrity}.** Records after the damage were not read; the auditor also counted:`,
      '>'
    )
    for (const [kind, v] of Object.entries(s.parseErrors.kinds))
      lines.push(`> - \`${kind}\`: ${v.count} (first at frame ${v.firstFrame})`)
    if (s.truncated) lines.push('> - the capture file is truncated or damaged; records after the damage were not read')
    lines.push('')
  }
  if (s.flows.evicted > 0 || s.flows.omitted > 0 || s.flows.unchecked > 0 || s.hostsOmitted > 0) {
    lines.push(
      `> Memory bounds: ${s.flows.evicted} flows finished early (flow table full), ${s.flows.omitted} flows counted but not listed, ${s.flows.unchecked} flows not seen by the policy checks, ${s.hostsOmitted} hosts not listed.`,
      ''
    )
  }
  for (const i of o.issues) {
    lines.push(
      `### ${i.severity}: \`${i.code}\` — ${i.findings} finding${i.findings === 1 ? '' : 's'} in ${i.groups} group${i.groups === 1 ? '' : 's'}`,
      ''
    )
    lines.push(
      `${i.risk} Hosts: ${i.hosts.join(', ') || '—'}. Seen ${isoTime(i.firstSeen) || '—'} to ${isoTime(i.lastSeen) || '—'}.`,
      ''
    )
    lines.push(`**Fix:** ${i.fix}`, '')
    for (const c of i.config) lines.push(`${c.where}:`, '', '```', ...c.lines, '```', '')
  }
  lines.push('## Findings', '')
  if (report.groups.length === 0) lines.push('No findings.', '')
  else {
    lines.push(
      '| severity | code | count | client → server | first seen | last seen | finding | frames |',
      '|---|---|---|---|---|---|---|---|'
    )
    for (const g of report.groups) {
      const pair = g.client === '' ? endpoint(g.server, g.port) : `${g.client} → ${endpoint(g.server, g.port)}`
      lines.push(
        `| ${g.severity} | \`${g.code}\` | ${g.count} | ${esc(pair)} | ${isoTime(g.firstSeen)} | ${isoTime(g.lastSeen)} | ${esc(g.title)} | ${g.frames.slice(0, 6).join(', ')}${g.frames.length > 6 ? ', …' : ''} |`
      )
    }
    lines.push('')
  }
  const protocols = Object.entries(s.protocols).sort((a, b) => b[1] - a[1])
  if (protocols.length > 0) {
    lines.push('## Protocols recognised', '', '| protocol | flows |', '|---|---|')
    for (const [p, n] of protocols) lines.push(`| ${esc(p)} | ${n} |`)
    lines.push('')
  }
  lines.push('## Hosts', '', '| address | MAC | names | flows | frames | protocols |', '|---|---|---|---|---|---|')
  for (const h of report.hosts.slice(0, 200)) {
    lines.push(
      `| ${h.addr} | ${h.macs.join(' ')} | ${esc(
        h.names
          .map((n) => n.name)
          .slice(0, 5)
          .join(', ')
      )} | ${h.flows} | ${h.frames} | ${h.protocols.join(', ')} |`
    )
  }
  if (report.hosts.length > 200) lines.push(`| … | | ${report.hosts.length - 200} more hosts | | | |`)
  lines.push('')
  return lines.join('\n')
}
