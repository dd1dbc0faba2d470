/**
 * @packageDocumentation
 * LAN traffic auditor: pcap/pcapng and live capture → findings with stable codes, reports and
 * exports. Decision logs of hardened nodes are read through `@peerguard/decision-log`'s verifier.
 *
 * @example
 * ```ts
 * import { auditCaptureFile } from '@peerguard/audit'
 * const report = await auditCaptureFile('lan.pcapng')
 * for (const f of report.findings) console.log(f.severity, f.code, f.title)
 * ```
 */

export { auditCaptureFile, createTrafficAuditor, TrafficAuditor } from './traffic/auditor.js'
export type { PostCheck, TrafficAuditOptions, TrafficAuditReport, TrafficAuditSummary } from './traffic/auditor.js'
export { CaptureParser, readCaptureFile, MAX_RECORD_BYTES, PCAP_MAX_SNAPLEN } from './traffic/capture-reader.js'
export type { CaptureInfo, CaptureIntegrity, PacketSink, ReadCaptureOptions } from './traffic/capture-reader.js'
export type { FlowSummary, HostSummary } from './traffic/engine.js'
export { DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_REPORT_FLOWS, MAX_HOSTS } from './traffic/engine.js'
export { FrameTimes } from './traffic/frame-times.js'
export { DEFAULT_GROUP_WINDOW_SECONDS, groupFindings } from './traffic/report-groups.js'
export type { AuditFinding, FindingGroup } from './traffic/report-groups.js'
export { buildOverview } from './traffic/report-overview.js'
export type { OverviewIssue, ReportOverview } from './traffic/report-overview.js'
export { remediationFor } from './traffic/remediation.js'
export type { ConfigFix, Remediation } from './traffic/remediation.js'
export { isOperationVerb, operationResource, sharePath, MAX_OPERATIONS_PER_FLOW } from './traffic/operations.js'
export type { OperationVerb, WireOperation } from './traffic/operations.js'
export { DEFAULT_SEVERITY, FINDING_CODES } from './traffic/findings.js'
export { ParseErrors } from './traffic/parse-errors.js'
export {
  AuditInventoryError,
  AuditProfileError,
  CaptureFormatError,
  CaptureNotAFileError,
  CapturePermissionError,
  CaptureUnavailableError
} from './traffic/errors.js'
export { isoTime, renderHtml, renderMarkdown, writeReport } from './traffic/report.js'
export type { WrittenReport } from './traffic/report.js'
export { inventoryFromObject, loadInventory } from './traffic/inventory.js'
export type { Inventory, InventoryPeer } from './traffic/inventory.js'
export { loadAuditProfile, profileFromObject } from './traffic/profile.js'
export type { AuditProfile } from './traffic/profile.js'
export { createPolicyChecks, entriesForFlow, resourceOfOperation } from './traffic/policy-checks.js'
export type { JudgedOperation, PolicyCheckOptions } from './traffic/policy-checks.js'
export { decisionLogFromBytes, readDecisionLog, splitAddress } from './traffic/decision-logs.js'
export { replayPolicy } from './traffic/replay.js'
export type { ReplayOperation, ReplayOptions, ReplayPeer, ReplayResult } from './traffic/replay.js'
export { decisionToEcs, ECS_SEVERITY, ECS_VERSION, findingToEcs, toEcsJsonLines } from './traffic/export-ecs.js'
export {
  decisionToSyslog,
  findingToSyslog,
  SYSLOG_FACILITY_LOG_AUDIT,
  SYSLOG_SD_ID,
  SYSLOG_SEVERITY,
  SYSLOG_UDP_MAX_BYTES,
  sendSyslog,
  syslogTargetFrom
} from './traffic/export-syslog.js'
export type { SyslogFormatOptions, SyslogTarget } from './traffic/export-syslog.js'
export type { DecisionLogEntry, VerifiedDecisionLog } from './traffic/decision-logs.js'
export type { ClassifiedFlow } from './traffic/engine.js'
export { captureLive, loadPcap } from './traffic/live-capture.js'
export type { LiveCaptureOptions, LiveCaptureResult } from './traffic/live-capture.js'
export { RotatingPcapWriter } from './traffic/pcap-writer.js'
export type { RotatingPcapWriterOptions } from './traffic/pcap-writer.js'
