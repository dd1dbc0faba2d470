import type { FlowKey } from '@peerguard/interface'
import type { FindingCollector } from './findings.js'
import type { Flow } from './flow.js'
import type { WireOperation } from './operations.js'
import type { ParseErrors } from './parse-errors.js'

/** A data connection an FTP control channel announced (PASV/EPSV reply or PORT/EPRT command). */
export interface ExpectedFtpData {
  control: FlowKey
  /** The transfer command seen last on the control channel (`RETR robots.txt`). */
  command: () => { verb: string; file: string } | undefined
}

/** What application parsers may use: findings, parse-error counters, cross-flow facts. */
export interface AuditContext {
  readonly findings: FindingCollector
  readonly errors: ParseErrors
  /** Bytes per direction handed to a parser before it is cut off. */
  readonly flowByteBudget: number
  /** A name announced for an address (mDNS, NBNS, NTLM workstation…). */
  hostName(addr: string, name: string, via: string): void
  /** An FTP data connection to `addr:port` is expected. */
  expectFtpData(addr: string, port: number, expected: ExpectedFtpData): void
  /** An FTP login attempt finished (for brute-force detection across connections). */
  ftpLogin(client: string, server: string, user: string, ok: boolean, frame: number, port?: number): void
  /** Mark the flow as carrying a protocol, with whether it is encrypted (for policy findings). */
  classify(flow: Flow, protocol: string, info: { encrypted: boolean; share?: boolean; resource?: string }): void
  /** A file operation decoded from the flow (path and policy verb), for the per-path policy checks. */
  operation(flow: Flow, op: Omit<WireOperation, 'time'>): void
}
