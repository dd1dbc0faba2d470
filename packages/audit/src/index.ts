/**
 * @packageDocumentation
 * LAN traffic auditor (pcap/pcapng and live capture → findings with stable codes) and
 * tamper-evident decision log.
 *
 * @example
 * ```ts
 * import { auditCaptureFile } from '@peerguard/audit'
 * const report = await auditCaptureFile('lan.pcapng')
 * for (const f of report.findings) console.log(f.severity, f.code, f.title)
 * ```
 */

// traffic auditor
export { auditCaptureFile, createTrafficAuditor, TrafficAuditor } from './traffic/auditor.js'
export type { PostCheck, TrafficAuditOptions, TrafficAuditReport, TrafficAuditSummary } from './traffic/auditor.js'
export { CaptureParser, readCaptureFile, MAX_RECORD_BYTES } from './traffic/capture-reader.js'
export type { CaptureInfo, PacketSink, ReadCaptureOptions } from './traffic/capture-reader.js'
export type { FlowSummary, HostSummary } from './traffic/engine.js'
export { DEFAULT_SEVERITY, FINDING_CODES } from './traffic/findings.js'
export { ParseErrors } from './traffic/parse-errors.js'
export { AuditInventoryError, AuditProfileError, CaptureFormatError, CapturePermissionError, CaptureUnavailableError } from './traffic/errors.js'
// end traffic auditor
