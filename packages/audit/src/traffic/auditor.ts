import { describeValue, InvalidArgumentError, type Severity } from '@peerguard/interface'
import {
  type CaptureInfo,
  type CaptureIntegrity,
  type PacketSink,
  type ReadCaptureOptions,
  readCaptureFile
} from './capture-reader.js'
import { type EngineOptions, type FlowSummary, type HostSummary, TrafficEngine } from './engine.js'
import { DEFAULT_SEVERITY, FindingCollector, SEVERITY_ORDER } from './findings.js'
import { FrameTimes } from './frame-times.js'
import { type AuditFinding, DEFAULT_GROUP_WINDOW_SECONDS, type FindingGroup, groupFindings } from './report-groups.js'
import { buildOverview, type ReportOverview } from './report-overview.js'

/** Options of a traffic audit. */
export interface TrafficAuditOptions extends Omit<EngineOptions, 'findings'> {
  /** Finding codes to report; all when absent. */
  detectors?: readonly string[]
  /** Severity overrides by finding code. */
  severities?: Readonly<Record<string, Severity>>
  /** Extra checks run when the capture is finished (policy, inventory, decision logs). */
  postChecks?: readonly PostCheck[]
  /** Findings of one code and host pair further apart than this form separate groups. @default 3600 */
  groupWindowSeconds?: number
}

/** A check over the finished traffic (flows with their application facts) that adds findings. */
export type PostCheck = (engine: TrafficEngine) => void

export interface TrafficAuditSummary {
  source?: { file?: string; format?: string; linktypes?: number[]; interface?: string }
  packets: number
  /** Frame bytes on the wire. */
  bytes: number
  firstTimestamp: number | null
  lastTimestamp: number | null
  durationSeconds: number
  flows: {
    total: number
    tcp: number
    udp: number
    other: number
    /** Flows listed in `flows`; the rest (`omitted`) are only counted (maxReportFlows). */
    listed: number
    omitted: number
    /** Flows finished early because the flow table was full (maxLiveFlows): bounded memory. */
    evicted: number
    /** Flows with payload beyond maxReportFlows that the policy checks did not see. */
    unchecked: number
  }
  protocols: Record<string, number>
  hosts: number
  /** Hosts beyond the host table's limit (counted in the flows, not listed). */
  hostsOmitted: number
  findings: { total: number; bySeverity: Record<string, number>; byCode: Record<string, number> }
  /** What could not be parsed, by kind: counted and skipped. */
  parseErrors: { total: number; kinds: Record<string, { count: number; firstFrame: number }> }
  truncated: boolean
  /** `ok`, or `truncated` / `corrupt`: the report covers only the records before the damage. */
  integrity: CaptureIntegrity
  nonIpFrames: number
  /** Frames between the timestamps kept for findings (1 = exact; see FrameTimes). */
  timeResolutionFrames: number
}

/** The audit report: `{ summary, overview, hosts, flows, findings, groups }`. */
export interface TrafficAuditReport {
  summary: TrafficAuditSummary
  /** What is wrong, how bad, how to fix it. */
  overview: ReportOverview
  hosts: HostSummary[]
  flows: FlowSummary[]
  /** Every finding, with `firstSeen`/`lastSeen` (seconds since the epoch). */
  findings: AuditFinding[]
  /** Findings grouped by code, host pair and time window (indexes into `findings`). */
  groups: FindingGroup[]
}

/**
 * Audits traffic: feed it a capture file (`readFile`) or live packets (`packet`), then `finish()`
 * for the report. Memory is bounded by the flow limits whatever the capture size.
 */
export class TrafficAuditor implements PacketSink {
  readonly engine: TrafficEngine
  #bytes = 0
  #first = Number.NaN
  #last = Number.NaN
  #source: TrafficAuditSummary['source'] = {}
  #truncated = false
  #integrity: CaptureIntegrity = 'ok'
  #finished = false
  readonly #postChecks: readonly PostCheck[]
  readonly #times = new FrameTimes()
  readonly #groupWindow: number

  constructor(options: TrafficAuditOptions = {}) {
    checkOptions(options)
    const enabled = options.detectors === undefined ? () => true : (code: string) => options.detectors!.includes(code)
    const findings = new FindingCollector(enabled, options.severities ?? {})
    this.engine = new TrafficEngine({ ...options, findings })
    this.#postChecks = options.postChecks ?? []
    this.#groupWindow = options.groupWindowSeconds ?? DEFAULT_GROUP_WINDOW_SECONDS
  }

  /** One captured frame (link type per https://www.tcpdump.org/linktypes.html). */
  packet(linktype: number, buf: Buffer, off: number, caplen: number, origLen: number, ts: number): void {
    this.#bytes += origLen
    this.#times.add(ts)
    if (Number.isNaN(this.#first) || ts < this.#first) this.#first = ts
    if (Number.isNaN(this.#last) || ts > this.#last) this.#last = ts
    try {
      this.engine.decoder.packet(linktype, buf, off, caplen, origLen, ts)
    } catch (err) {
      // A decoder bug must not end the audit: count it with the frame and carry on.
      this.engine.errors.add(`internal-${err instanceof Error ? err.name : 'error'}`, this.engine.decoder.frame)
    }
  }

  /** Stream a pcap or pcapng file through the auditor. */
  async readFile(path: string, options: Pick<ReadCaptureOptions, 'signal' | 'onProgress'> = {}): Promise<CaptureInfo> {
    const info = await readCaptureFile(path, this, this.engine.errors, options)
    this.#source = { file: path, format: info.format, linktypes: info.linktypes }
    this.#truncated ||= info.truncated
    if (info.integrity === 'corrupt' || (info.integrity === 'truncated' && this.#integrity === 'ok'))
      this.#integrity = info.integrity
    return info
  }

  /** Describe a live source for the report. */
  setSource(source: TrafficAuditSummary['source']): void {
    this.#source = source
  }

  /** Finish all flows, run the post checks and build the report. Call once. */
  finish(): TrafficAuditReport {
    if (this.#finished) throw new InvalidArgumentError('finish: the audit is already finished')
    this.#finished = true
    const e = this.engine
    e.finish()
    for (const check of this.#postChecks) check(e)
    const findings: AuditFinding[] = [...e.findings.findings]
      .sort(
        (a, b) =>
          SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) || (a.frames[0] ?? 0) - (b.frames[0] ?? 0)
      )
      .map((f) => {
        const first = f.frames.length === 0 ? undefined : this.#times.time(f.frames[0]!)
        const last = f.frames.length === 0 ? undefined : this.#times.time(f.frames[f.frames.length - 1]!)
        return {
          ...f,
          ...(first === undefined ? {} : { firstSeen: first }),
          ...(last === undefined ? {} : { lastSeen: last })
        }
      })
    const bySeverity: Record<string, number> = {}
    const byCode: Record<string, number> = {}
    for (const f of findings) {
      bySeverity[f.severity] = (bySeverity[f.severity] ?? 0) + 1
      byCode[f.code] = (byCode[f.code] ?? 0) + 1
    }
    const protocols = { ...e.protocolCounts }
    const tcp = e.tcpFlows
    const udp = e.udpFlows
    const hosts = e.hosts()
    const groups = groupFindings(findings, this.#groupWindow)
    const first = Number.isNaN(this.#first) ? null : this.#first
    const last = Number.isNaN(this.#last) ? null : this.#last
    return {
      summary: {
        source: this.#source,
        packets: e.decoder.frame,
        bytes: this.#bytes,
        firstTimestamp: first,
        lastTimestamp: last,
        durationSeconds: first === null || last === null ? 0 : Number((last - first).toFixed(6)),
        flows: {
          total: e.flowCount,
          tcp,
          udp,
          other: e.flowCount - tcp - udp,
          listed: e.flows.length,
          omitted: e.flowsOmitted,
          evicted: e.evicted,
          unchecked: e.unchecked
        },
        protocols,
        hosts: hosts.length,
        hostsOmitted: e.hostsOmitted,
        findings: { total: findings.length, bySeverity, byCode },
        parseErrors: { total: e.errors.total, kinds: e.errors.toJSON() },
        truncated: this.#truncated,
        integrity: this.#integrity,
        nonIpFrames: e.decoder.nonIp,
        timeResolutionFrames: this.#times.stride
      },
      overview: buildOverview(findings, groups, this.#integrity),
      hosts,
      flows: e.flows,
      findings,
      groups
    }
  }
}

function checkOptions(o: TrafficAuditOptions): void {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options: expected an object')
  if (
    o.groupWindowSeconds !== undefined &&
    (typeof o.groupWindowSeconds !== 'number' || !Number.isFinite(o.groupWindowSeconds) || o.groupWindowSeconds < 0)
  )
    throw new InvalidArgumentError(`groupWindowSeconds: expected a number >= 0, got ${describeValue(o.groupWindowSeconds)}`)
  for (const k of ['flowByteBudget', 'maxLiveFlows', 'maxReportFlows'] as const) {
    const v = o[k]
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw new InvalidArgumentError(`${k}: expected a positive integer, got ${describeValue(v)}`)
  }
  if (o.detectors !== undefined) {
    if (!Array.isArray(o.detectors)) throw new InvalidArgumentError('detectors: expected an array of finding codes')
    for (const d of o.detectors) {
      if (typeof d !== 'string' || DEFAULT_SEVERITY[d] === undefined)
        throw new InvalidArgumentError(`detectors: unknown finding code ${JSON.stringify(d)}`)
    }
  }
  if (o.severities !== undefined) {
    for (const [code, sev] of Object.entries(o.severities)) {
      if (DEFAULT_SEVERITY[code] === undefined)
        throw new InvalidArgumentError(`severities: unknown finding code ${JSON.stringify(code)}`)
      if (!SEVERITY_ORDER.includes(sev))
        throw new InvalidArgumentError(
          `severities.${code}: expected one of ${SEVERITY_ORDER.join(', ')}, got ${JSON.stringify(sev)}`
        )
    }
  }
}

/** Create an auditor. */
export function createTrafficAuditor(options: TrafficAuditOptions = {}): TrafficAuditor {
  return new TrafficAuditor(options)
}

/** Audit one capture file and return the report. */
export async function auditCaptureFile(path: string, options: TrafficAuditOptions = {}): Promise<TrafficAuditReport> {
  const auditor = createTrafficAuditor(options)
  await auditor.readFile(path)
  return auditor.finish()
}
