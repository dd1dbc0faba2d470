import type { Finding, FlowKey, Severity } from '@peerguard/interface'

/** Default severity of each finding code (profiles may override). */
export const DEFAULT_SEVERITY: Readonly<Record<string, Severity>> = {
  'smb1-in-use': 'high',
  'smb1-offered': 'low',
  'smb-signing-not-required': 'medium',
  'smb-unsigned': 'medium',
  'smb-unencrypted': 'medium',
  'smb-encrypted': 'info',
  'smb-guest-session': 'medium',
  'smb-share-access': 'info',
  'smb-admin-share-access': 'medium',
  'ntlm-auth': 'medium',
  'ntlmv1-auth': 'high',
  'http-ntlm-auth': 'medium',
  'ftp-cleartext-credentials': 'high',
  'ftp-bruteforce': 'high',
  'ftp-auth-tls': 'info',
  'cleartext-file-transfer': 'medium',
  'http-basic-auth': 'high',
  'http-digest-auth': 'info',
  'nfs-auth-sys': 'medium',
  'nfs-root-credential': 'high',
  'bittorrent-plaintext': 'medium',
  'bittorrent-encrypted': 'info',
  'bittorrent-dht': 'low',
  'bittorrent-lsd': 'low',
  'discovery-leak': 'low',
  'ipp-print-job': 'medium',
  'ipp-cleartext': 'low',
  'raw-print-job': 'medium',
  'lpd-print-job': 'medium',
  'scan-cleartext': 'medium',
  'telnet-cleartext-login': 'high',
  'telnet-session': 'medium',
  'tftp-transfer': 'medium',
  'rsync-daemon-transfer': 'medium',
  'rsync-module-list': 'low',
  'nfs-cleartext-data': 'medium',
  'peerguard-channel': 'info',
  'peerguard-plain': 'medium',
  'unknown-peer': 'medium',
  'policy-violation': 'high',
  'policy-requires-encryption': 'high',
  'unlogged-access': 'high',
  'decision-log-unverified': 'high'
}

/** Every finding code the traffic auditor can emit. */
export const FINDING_CODES: readonly string[] = Object.keys(DEFAULT_SEVERITY)

export const SEVERITY_ORDER: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical']

/** Frame numbers kept per finding (the first ones). */
export const MAX_FRAMES_PER_FINDING = 32

export interface FindingInput {
  code: string
  title: string
  flow?: FlowKey
  evidence: Record<string, unknown>
  frames: readonly number[]
  /** Overrides the default severity (e.g. `low` for SMB3 signed but not encrypted). */
  severity?: Severity
}

/** Collects findings, applying the profile's enabled detectors and severity overrides. */
export class FindingCollector {
  readonly findings: Finding[] = []
  readonly #enabled: (code: string) => boolean
  readonly #severity: Readonly<Record<string, Severity>>

  constructor(enabled: (code: string) => boolean = () => true, severity: Readonly<Record<string, Severity>> = {}) {
    this.#enabled = enabled
    this.#severity = severity
  }

  add(input: FindingInput): void {
    if (!this.#enabled(input.code)) return
    const severity = this.#severity[input.code] ?? input.severity ?? DEFAULT_SEVERITY[input.code] ?? 'medium'
    const frames = [...new Set(input.frames)]
      .filter((f) => f > 0)
      .sort((a, b) => a - b)
      .slice(0, MAX_FRAMES_PER_FINDING)
    this.findings.push({
      code: input.code,
      severity,
      title: input.title,
      ...(input.flow === undefined ? {} : { flow: input.flow }),
      evidence: input.evidence,
      frames
    })
  }
}

/** Push `frame` into `list` unless it already holds MAX_FRAMES_PER_FINDING entries. */
export function noteFrame(list: number[], frame: number): void {
  if (list.length < MAX_FRAMES_PER_FINDING && frame > 0 && list[list.length - 1] !== frame) list.push(frame)
}
