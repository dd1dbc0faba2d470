import { mkdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { InvalidArgumentError, writeFileAtomic } from '@peerguard/interface'
import type { TrafficAuditReport } from './auditor.js'
import { SEVERITY_ORDER } from './findings.js'

function esc(s: unknown): string {
  return String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')
}

function flowText(f: TrafficAuditReport['findings'][number]['flow']): string {
  if (f === undefined) return ''
  const ep = (a: string, p: number): string => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`)
  return `${f.proto} ${ep(f.src, f.srcPort)} → ${ep(f.dst, f.dstPort)}`
}

/** The Markdown summary of a report: counts, findings by severity, hosts, what could not be parsed. */
export function renderMarkdown(report: TrafficAuditReport, title = 'peerguard traffic audit'): string {
  const s = report.summary
  const lines: string[] = [`# ${title}`, '']
  const src =
    s.source?.file !== undefined
      ? `\`${basename(s.source.file)}\` (${s.source.format})`
      : s.source?.interface !== undefined
        ? `interface \`${s.source.interface}\``
        : 'unknown'
  lines.push(`Source: ${src}  `)
  lines.push(`Packets: ${s.packets} (${s.bytes} bytes, ${s.durationSeconds} s)  `)
  lines.push(`Flows: ${s.flows.total} (TCP ${s.flows.tcp}, UDP ${s.flows.udp}, other ${s.flows.other})  `)
  lines.push(`Hosts: ${s.hosts}  `)
  const sev = SEVERITY_ORDER.slice()
    .reverse()
    .map((k) => `${k} ${s.findings.bySeverity[k] ?? 0}`)
    .join(', ')
  lines.push(`Findings: ${s.findings.total} (${sev})`, '')
  if (s.parseErrors.total > 0 || s.truncated) {
    lines.push('> **Not everything could be parsed.** The auditor counted and skipped:', '>')
    for (const [kind, v] of Object.entries(s.parseErrors.kinds))
      lines.push(`> - \`${kind}\`: ${v.count} (first at frame ${v.firstFrame})`)
    if (s.truncated) lines.push('> - the capture file is truncated or damaged; records after the damage were not read')
    lines.push('')
  }
  lines.push('## Findings', '')
  if (report.findings.length === 0) lines.push('No findings.', '')
  else {
    lines.push('| severity | code | finding | flow | frames |', '|---|---|---|---|---|')
    for (const f of report.findings) {
      lines.push(
        `| ${f.severity} | \`${f.code}\` | ${esc(f.title)} | ${esc(flowText(f.flow))} | ${f.frames.slice(0, 6).join(', ')}${f.frames.length > 6 ? ', …' : ''} |`
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

/** Where a report was written. */
export interface WrittenReport {
  json: string
  markdown: string
}

/**
 * Write `<name>.json` and `<name>.md` into `dir` (created if needed), each atomically (temporary
 * file, fsync, rename) with mode 0600: reports name users and hosts.
 */
export async function writeReport(report: TrafficAuditReport, dir: string, name: string): Promise<WrittenReport> {
  if (typeof dir !== 'string' || dir === '') throw new InvalidArgumentError('dir: expected a non-empty string')
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(name))
    throw new InvalidArgumentError(`name: expected a file name of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`)
  await mkdir(dir, { recursive: true })
  const json = join(dir, `${name}.json`)
  const markdown = join(dir, `${name}.md`)
  await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`)
  await writeFileAtomic(markdown, renderMarkdown(report))
  return { json, markdown }
}
