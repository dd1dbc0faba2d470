import type { Severity } from '@peerguard/interface'
import { SEVERITY_ORDER } from './findings.js'
import { type ConfigFix, remediationFor } from './remediation.js'
import type { AuditFinding, FindingGroup } from './report-groups.js'

/** One kind of problem in the summary at the top of a report: what, how bad, how to fix. */
export interface OverviewIssue {
  readonly code: string
  readonly severity: Severity
  /** Findings of this code, and the groups they form. */
  readonly findings: number
  readonly groups: number
  /** Hosts involved (servers first), the first 10. */
  readonly hosts: readonly string[]
  readonly firstSeen?: number
  readonly lastSeen?: number
  readonly risk: string
  readonly fix: string
  readonly config: readonly ConfigFix[]
}

/** The summary at the top of a report. */
export interface ReportOverview {
  /**
   * `clean`: nothing above info; `findings`: something to fix; `damaged`: the capture is truncated
   * or corrupt, so the audit covers only part of it (whatever else it says).
   */
  readonly verdict: 'clean' | 'findings' | 'damaged'
  /** The most severe finding, null without findings. */
  readonly worst: Severity | null
  /** One sentence. */
  readonly headline: string
  /** Problems with a fix, most severe first (informational codes are left out). */
  readonly issues: readonly OverviewIssue[]
}

/** Build the summary from the findings and their groups. */
export function buildOverview(
  findings: readonly AuditFinding[],
  groups: readonly FindingGroup[],
  integrity: 'ok' | 'truncated' | 'corrupt'
): ReportOverview {
  const byCode = new Map<string, AuditFinding[]>()
  for (const f of findings) {
    const list = byCode.get(f.code)
    if (list === undefined) byCode.set(f.code, [f])
    else list.push(f)
  }
  const issues: OverviewIssue[] = []
  for (const [code, list] of byCode) {
    const r = remediationFor(code)
    let severity: Severity = 'info'
    for (const f of list) if (SEVERITY_ORDER.indexOf(f.severity) > SEVERITY_ORDER.indexOf(severity)) severity = f.severity
    if (r === undefined || severity === 'info') continue
    const hosts: string[] = []
    const gs = groups.filter((g) => g.code === code)
    for (const g of gs)
      for (const h of [g.server, g.client]) if (h !== '' && hosts.length < 10 && !hosts.includes(h)) hosts.push(h)
    const times = list.flatMap((f) => [f.firstSeen, f.lastSeen]).filter((t): t is number => t !== undefined)
    issues.push({
      code,
      severity,
      findings: list.length,
      groups: gs.length,
      hosts,
      ...(times.length === 0 ? {} : { firstSeen: Math.min(...times), lastSeen: Math.max(...times) }),
      risk: r.risk,
      fix: r.fix,
      config: r.config
    })
  }
  issues.sort((a, b) => SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) || b.findings - a.findings)
  let worst: Severity | null = null
  for (const f of findings)
    if (worst === null || SEVERITY_ORDER.indexOf(f.severity) > SEVERITY_ORDER.indexOf(worst)) worst = f.severity
  const verdict = integrity !== 'ok' ? 'damaged' : issues.length === 0 ? 'clean' : 'findings'
  const problems =
    issues.length === 0
      ? 'nothing to fix'
      : `${issues.length} kind${issues.length === 1 ? '' : 's'} of problem to fix, the worst ${issues[0]!.severity}`
  const headline =
    verdict === 'damaged'
      ? `The capture is ${integrity}: the audit covers only the records before the damage (${problems}).`
      : verdict === 'clean'
        ? `No problem found (${findings.length} informational finding${findings.length === 1 ? '' : 's'}).`
        : `${problems[0]!.toUpperCase()}${problems.slice(1)}: ${issues
            .slice(0, 3)
            .map((i) => i.code)
            .join(', ')}${issues.length > 3 ? ` and ${issues.length - 3} more` : ''}.`
  return { verdict, worst, headline, issues }
}
