/**
 * Values inside `when:` conditions: sizes, time windows, weekdays, CIDR ranges, UTC offsets,
 * and the request facts they are compared with. Each parser returns a value or a string saying
 * what was expected; the loader turns that into a located error.
 */
import { isIP } from 'node:net'
import type { RequestContext } from '@peerguard/interface'

/** What a request tells about itself (declared once, in @peerguard/interface). */
export type { RequestContext }

/** Largest size a policy may name: 1 PiB. Anything larger is a typo. */
export const MAX_SIZE_BYTES = 2 ** 50

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string }

const fail = (expected: string): { ok: false; expected: string } => ({ ok: false, expected })

/** `10MB`, `1.5 GiB`, `512` (bytes) → bytes. */
export function parseSize(value: unknown): Parsed<number> {
  const expected = 'a size such as 512, 10KB, 1.5MiB or 2GB (at most 1 PiB)'
  let bytes: number
  if (typeof value === 'number') bytes = value
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value)
    if (m === null) return fail(expected)
    const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase() || 'b']
    if (unit === undefined) return fail(expected)
    bytes = Number(m[1]) * unit
  } else return fail(expected)
  if (!Number.isFinite(bytes) || bytes < 0 || bytes > MAX_SIZE_BYTES) return fail(expected)
  return { ok: true, value: Math.floor(bytes) }
}

/** `08:00-18:00` → minutes of the day [start, end); `22:00-06:00` wraps midnight. */
export function parseTimeWindow(value: unknown): Parsed<{ start: number; end: number }> {
  const expected = 'a time window HH:MM-HH:MM such as 08:00-18:00 (24-hour clock)'
  if (typeof value !== 'string') return fail(expected)
  const m = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/.exec(value)
  if (m === null) return fail(expected)
  const [h1, m1, h2, m2] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number]
  if (h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 || (h1 === 24 && m1 > 0) || (h2 === 24 && m2 > 0)) return fail(expected)
  const start = h1 * 60 + m1
  const end = h2 * 60 + m2
  if (start === end) return fail(`${expected}; an empty window never matches`)
  return { ok: true, value: { start: start % 1440, end: end === 1440 ? 1440 : end } }
}

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

/** `mon` … `sun` → 0 (Sunday) … 6. */
export function parseDay(value: unknown): Parsed<number> {
  const i = typeof value === 'string' ? DAYS.indexOf(value.toLowerCase().slice(0, 3) as (typeof DAYS)[number]) : -1
  if (i < 0 || (typeof value === 'string' && value.length > 9)) return fail(`a weekday: ${DAYS.join(', ')}`)
  return { ok: true, value: i }
}

/** `+02:00`, `-05:30`, `Z` → minutes east of UTC. */
export function parseUtcOffset(value: unknown): Parsed<number> {
  const expected = 'a UTC offset such as +01:00, -05:30 or Z'
  if (value === 'Z' || value === 'z') return { ok: true, value: 0 }
  if (typeof value !== 'string') return fail(expected)
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(value)
  if (m === null) return fail(expected)
  const minutes = Number(m[2]) * 60 + Number(m[3])
  if (Number(m[2]) > 14 || Number(m[3]) > 59) return fail(expected)
  return { ok: true, value: m[1] === '-' ? -minutes : minutes }
}

/**
 * An address as 32 lowercase hex digits of its IPv6 form (IPv4 as `::ffff:a.b.c.d`), so that CIDR
 * ranges become string ranges CASL can compare with `$gte` / `$lte`.
 */
export function addressKey(address: string): string | undefined {
  let host = address
  // Strip a port: `1.2.3.4:80`, `[::1]:80`.
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(host)
  if (bracket !== null) host = bracket[1] as string
  else if (/^[\d.]+:\d+$/.test(host)) host = host.slice(0, host.lastIndexOf(':'))
  const zone = host.indexOf('%')
  if (zone >= 0) host = host.slice(0, zone)
  const kind = isIP(host)
  if (kind === 4) {
    const parts = host.split('.').map(Number)
    return `00000000000000000000ffff${parts.map((p) => p.toString(16).padStart(2, '0')).join('')}`
  }
  if (kind === 6) {
    let h = host.toLowerCase()
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    if (v4 !== null) {
      const p = (v4[1] as string).split('.').map(Number) as [number, number, number, number]
      h = `${h.slice(0, -(v4[1] as string).length)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`
    }
    const [head = '', tail] = h.split('::') as [string, string | undefined]
    const headParts = head === '' ? [] : head.split(':')
    const tailParts = tail === undefined || tail === '' ? [] : tail.split(':')
    const fill = tail === undefined ? [] : new Array<string>(8 - headParts.length - tailParts.length).fill('0')
    const groups = [...headParts, ...fill, ...tailParts]
    if (groups.length !== 8) return undefined
    return groups.map((g) => g.padStart(4, '0')).join('')
  }
  return undefined
}

/** `192.168.1.0/24`, `fd00::/8`, or a single address → an inclusive range of address keys. */
export function parseCidr(value: unknown): Parsed<{ lo: string; hi: string }> {
  const expected = 'an address range in CIDR form such as 192.168.1.0/24 or fd00::/8'
  if (typeof value !== 'string' || value.length > 64) return fail(expected)
  const slash = value.indexOf('/')
  const host = slash < 0 ? value : value.slice(0, slash)
  const key = host.includes('[') ? undefined : addressKey(host)
  if (key === undefined || host.includes(':') !== (isIP(host) === 6)) return fail(expected)
  const v4 = isIP(host) === 4
  const max = v4 ? 32 : 128
  let bits = max
  if (slash >= 0) {
    const b = value.slice(slash + 1)
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return fail(expected)
    bits = Number(b)
  }
  const prefix = v4 ? 96 + bits : bits
  let bin = ''
  for (const ch of key) bin += Number.parseInt(ch, 16).toString(2).padStart(4, '0')
  const toHex = (b: string): string => {
    let out = ''
    for (let i = 0; i < 128; i += 4) out += Number.parseInt(b.slice(i, i + 4), 2).toString(16)
    return out
  }
  return {
    ok: true,
    value: { lo: toHex(bin.slice(0, prefix).padEnd(128, '0')), hi: toHex(bin.slice(0, prefix).padEnd(128, '1')) }
  }
}

/** Facts derived from a request, the fields the CASL conditions and the fast matcher read. */
export interface RequestFacts {
  size?: number
  /** Minute of the day, 0..1439, in the policy's UTC offset. */
  minute?: number
  /** Day of the week, 0 = Sunday, in the policy's UTC offset. */
  day?: number
  /** Address key (see `addressKey`). */
  ip?: string
  encrypted?: boolean
}

/** Derive the facts of a request; unknown facts stay absent (and fail closed in conditions). */
export function requestFacts(
  context: RequestContext | undefined,
  peerAddress: string | undefined,
  now: () => number,
  utcOffsetMinutes: number
): RequestFacts {
  const facts: RequestFacts = {}
  if (context?.size !== undefined) facts.size = context.size
  if (context?.encrypted !== undefined) facts.encrypted = context.encrypted
  const t = context?.time === undefined ? now() : typeof context.time === 'number' ? context.time : context.time.getTime()
  if (Number.isFinite(t)) {
    const local = t + utcOffsetMinutes * 60_000
    const minutesSinceEpoch = Math.floor(local / 60_000)
    facts.minute = ((minutesSinceEpoch % 1440) + 1440) % 1440
    // 1970-01-01 was a Thursday (day 4).
    facts.day = (((Math.floor(minutesSinceEpoch / 1440) + 4) % 7) + 7) % 7
  }
  const address = context?.address ?? peerAddress
  if (address !== undefined) {
    const key = addressKey(address)
    if (key !== undefined) facts.ip = key
  }
  return facts
}
