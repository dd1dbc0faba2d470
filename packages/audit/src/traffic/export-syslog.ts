import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { hostname as osHostname } from 'node:os'
import { describeValue, InvalidArgumentError, PeerguardError, type Severity } from '@peerguard/interface'
import type { DecisionLogEntry } from './decision-logs.js'
import type { AuditFinding } from './report-groups.js'

/** RFC 5424 §6.2.1 severities per finding severity. */
export const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 }
/** Facility 13, "log audit" (RFC 5424 table 1). */
export const SYSLOG_FACILITY_LOG_AUDIT = 13
/** SD-ID of peerguard's structured data: 32473 is the enterprise number RFC 5612 reserves for documentation. */
export const SYSLOG_SD_ID = 'peerguard@32473'
/** A UDP message is cut to this many bytes (RFC 5426 §3.2: receivers must take 480, should take 2048). */
export const SYSLOG_UDP_MAX_BYTES = 2048

export interface SyslogFormatOptions {
  /** HOSTNAME field. @default os.hostname() */
  hostname?: string
  /** APP-NAME field. @default 'peerguard' */
  appName?: string
  /** Facility number 0–23. @default 13 (log audit) */
  facility?: number
  /** PROCID. @default process.pid */
  procId?: number
  /** Time of messages that carry none (milliseconds). @default Date.now */
  now?: () => number
}

/** A value of an SD-PARAM (RFC 5424 §6.3.3): `"`, `\` and `]` escaped. */
function sdValue(v: unknown): string {
  return String(v).replace(/[\\"\]]/g, (c) => `\\${c}`)
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty. */
function field(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max)
  return s === '' ? '-' : s
}

function message(
  pri: number,
  time: number,
  msgId: string,
  sd: Record<string, unknown>,
  text: string,
  o: SyslogFormatOptions
): string {
  const params = Object.entries(sd)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}="${sdValue(v)}"`)
    .join(' ')
  const head = `<${pri}>1 ${new Date(time).toISOString()} ${field(o.hostname ?? osHostname(), 255)} ${field(o.appName ?? 'peerguard', 48)} ${field(String(o.procId ?? process.pid), 128)} ${field(msgId, 32)}`
  // MSG is UTF-8, marked by the BOM (RFC 5424 §6.4); no line breaks, so one message is one line.
  return `${head} [${SYSLOG_SD_ID} ${params}] \ufeff${text.replace(/[\r\n]+/g, ' ')}`
}

function facilityOf(o: SyslogFormatOptions): number {
  const f = o.facility ?? SYSLOG_FACILITY_LOG_AUDIT
  if (!Number.isInteger(f) || f < 0 || f > 23)
    throw new InvalidArgumentError(`facility: expected an integer 0-23, got ${describeValue(f)}`)
  return f
}

/** A finding as one RFC 5424 message: MSGID the finding code, structured data the flow. */
export function findingToSyslog(f: AuditFinding, o: SyslogFormatOptions = {}): string {
  const pri = facilityOf(o) * 8 + SYSLOG_SEVERITY[f.severity]
  return message(
    pri,
    f.firstSeen === undefined ? (o.now ?? Date.now)() : Math.floor(f.firstSeen * 1000),
    f.code,
    {
      kind: 'finding',
      code: f.code,
      severity: f.severity,
      proto: f.flow?.proto,
      src: f.flow?.src,
      sport: f.flow?.srcPort,
      dst: f.flow?.dst,
      dport: f.flow?.dstPort,
      frames: f.frames.slice(0, 8).join(',')
    },
    f.title,
    o
  )
}

/** A decision-log entry as one RFC 5424 message (notice when allowed, warning when refused). */
export function decisionToSyslog(d: DecisionLogEntry, o: SyslogFormatOptions = {}): string {
  const refused = d.allowed === false || d.event === 'refused'
  const pri = facilityOf(o) * 8 + (refused ? 4 : 5)
  return message(
    pri,
    d.time,
    `decision-${d.kind}`,
    {
      kind: d.kind,
      code: d.code,
      peer: d.peer?.name ?? d.peer?.peerId,
      peerId: d.peer?.peerId,
      address: d.peer?.address,
      verb: d.verb,
      resource: d.resource,
      allowed: d.allowed,
      rule: d.rule
    },
    `${d.kind}${d.verb === undefined ? '' : ` ${d.verb}`}${d.resource === undefined ? '' : ` ${d.resource}`}: ${d.code}`,
    o
  )
}

/** Where to send: `udp://host:port` or `tcp://host:port` (IPv6 as `[addr]`). */
export interface SyslogTarget {
  transport: 'udp' | 'tcp'
  host: string
  port: number
}

/** Parse `udp://host:port` / `tcp://host:port` (default port 514). */
export function syslogTargetFrom(value: string): SyslogTarget {
  const m = /^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value)
  const port = m?.[3] === undefined ? 514 : Number(m[3])
  if (m === null || port < 1 || port > 65535)
    throw new InvalidArgumentError(`syslog target: expected udp://host:port or tcp://host:port, got ${JSON.stringify(value)}`)
  return { transport: m[1] as 'udp' | 'tcp', host: (m[2] as string).replace(/^\[|\]$/g, ''), port }
}

/**
 * Send messages to a syslog receiver: over UDP one datagram each (RFC 5426, cut to 2048 bytes);
 * over TCP with octet-counting framing (RFC 6587 §3.4.1: `LENGTH SP MESSAGE`), then a clean close.
 * Rejects with `audit-export-failed` when the receiver cannot be reached.
 */
export async function sendSyslog(target: SyslogTarget, messages: readonly string[], timeoutMs = 10_000): Promise<void> {
  const fail = (err: unknown): PeerguardError =>
    new PeerguardError(
      'audit-export-failed',
      `syslog ${target.transport}://${target.host}:${target.port}: ${(err as Error).message ?? String(err)}`,
      { cause: err }
    )
  if (target.transport === 'udp') {
    const sock = createSocket(target.host.includes(':') ? 'udp6' : 'udp4')
    try {
      for (const m of messages) {
        let b = Buffer.from(m, 'utf8')
        if (b.length > SYSLOG_UDP_MAX_BYTES) b = b.subarray(0, SYSLOG_UDP_MAX_BYTES)
        await new Promise<void>((resolve, reject) =>
          sock.send(b, target.port, target.host, (err) => (err ? reject(fail(err)) : resolve()))
        )
      }
    } finally {
      sock.close()
    }
    return
  }
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: target.host, port: target.port })
    const timer = setTimeout(() => s.destroy(new Error('timed out')), timeoutMs)
    s.once('error', (err) => {
      clearTimeout(timer)
      reject(fail(err))
    })
    s.once('connect', () => {
      for (const m of messages) {
        const b = Buffer.from(m, 'utf8')
        s.write(`${b.length} `)
        s.write(b)
      }
      s.end()
    })
    s.once('close', (hadError) => {
      clearTimeout(timer)
      if (!hadError) resolve()
    })
  })
}
