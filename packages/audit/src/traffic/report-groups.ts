import type { Finding, Severity } from '@peerguard/interface'
import { SEVERITY_ORDER } from './findings.js'

/** A finding with the capture times of its first and last frame (seconds since the epoch). */
export interface AuditFinding extends Finding {
  readonly firstSeen?: number
  readonly lastSeen?: number
}

/**
 * Findings of one code between one client host and one server (host and port) within one time
 * window: eight FTP logins from one client are one group with count 8, not eight rows.
 */
export interface FindingGroup {
  readonly code: string
  /** The most severe finding of the group. */
  readonly severity: Severity
  /** The first finding's title, for reading. */
  readonly title: string
  /** Client host ('' when the findings name no flow). */
  readonly client: string
  /** Server host, or the host a host-level finding (unknown-peer) is about. */
  readonly server: string
  /** Server port (0 when the findings name no flow). */
  readonly port: number
  readonly proto: string
  readonly count: number
  readonly firstSeen?: number
  readonly lastSeen?: number
  /** Indexes into the report's `findings`, the first 100. */
  readonly findings: readonly number[]
  /** Frames of the group's findings, the first 32. */
  readonly frames: readonly number[]
}

/** Findings further apart than this start a new group. @default one hour */
export const DEFAULT_GROUP_WINDOW_SECONDS = 3600

function hostOfFinding(f: Finding): { client: string; server: string; port: number; proto: string } {
  if (f.flow !== undefined) return { client: f.flow.src, server: f.flow.dst, port: f.flow.dstPort, proto: f.flow.proto }
  const e = f.evidence as { addr?: unknown; server?: unknown; client?: unknown }
  const s = typeof e.addr === 'string' ? e.addr : typeof e.server === 'string' ? e.server : ''
  return { client: typeof e.client === 'string' ? e.client : '', server: s, port: 0, proto: '' }
}

/**
 * Group findings by (code, client host, server host and port) and time window: a finding joins
 * the open group of its key when it was first seen at most `windowSeconds` after the group's last
 * finding. Groups come most severe first, then by first frame.
 */
export function groupFindings(findings: readonly AuditFinding[], windowSeconds = DEFAULT_GROUP_WINDOW_SECONDS): FindingGroup[] {
  interface Open {
    code: string
    severity: Severity
    title: string
    client: string
    server: string
    port: number
    proto: string
    count: number
    firstSeen?: number
    lastSeen?: number
    findings: number[]
    frames: number[]
    firstFrame: number
  }
  const open = new Map<string, Open>()
  const done: Open[] = []
  const order = findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => (a.f.firstSeen ?? 0) - (b.f.firstSeen ?? 0) || (a.f.frames[0] ?? 0) - (b.f.frames[0] ?? 0))
  for (const { f, i } of order) {
    const h = hostOfFinding(f)
    const key = `${f.code}|${h.client}|${h.server}|${h.port}|${h.proto}`
    let g = open.get(key)
    if (g !== undefined && f.firstSeen !== undefined && g.lastSeen !== undefined && f.firstSeen - g.lastSeen > windowSeconds) {
      done.push(g)
      g = undefined
    }
    if (g === undefined) {
      g = {
        code: f.code,
        severity: f.severity,
        title: f.title,
        ...h,
        count: 0,
        ...(f.firstSeen === undefined ? {} : { firstSeen: f.firstSeen }),
        findings: [],
        frames: [],
        firstFrame: f.frames[0] ?? Number.MAX_SAFE_INTEGER
      }
      open.set(key, g)
    }
    g.count++
    if (SEVERITY_ORDER.indexOf(f.severity) > SEVERITY_ORDER.indexOf(g.severity)) g.severity = f.severity
    const last = f.lastSeen ?? f.firstSeen
    if (last !== undefined && (g.lastSeen === undefined || last > g.lastSeen)) g.lastSeen = last
    if (f.firstSeen !== undefined && (g.firstSeen === undefined || f.firstSeen < g.firstSeen)) g.firstSeen = f.firstSeen
    if (g.findings.length < 100) g.findings.push(i)
    for (const fr of f.frames) if (g.frames.length < 32 && !g.frames.includes(fr)) g.frames.push(fr)
    g.firstFrame = Math.min(g.firstFrame, f.frames[0] ?? Number.MAX_SAFE_INTEGER)
  }
  done.push(...open.values())
  done.sort((a, b) => SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) || a.firstFrame - b.firstFrame)
  return done.map(({ firstFrame: _f, frames, ...g }) => ({ ...g, frames: frames.sort((x, y) => x - y) }))
}
