import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { describeValue } from '@peerguard/interface'

/**
 * The on-disk form of one decision-log entry (see packages/audit/README.md, "Decision log").
 *
 * A line is the compact JSON of the entry's fields (`v`, `seq`, `ts`, `kind`, …, `prev`) with a
 * last member `"hash":"<hex>"` appended, where hash = SHA-256 of the line's UTF-8 bytes *without*
 * that member (the JSON text up to `,"hash":…` plus the closing `}`). Hashing the exact bytes the
 * writer produced, not a re-serialisation, means any edit — even of whitespace — is detected.
 */

/** Format version written in every entry's `v` field. */
export const LOG_FORMAT_VERSION = 1
/** `prev` of the first entry: 32 zero bytes in hex. */
export const GENESIS_HASH = '0'.repeat(64)
/** Domain-separation prefix of the bytes a checkpoint signs. */
export const CHECKPOINT_DOMAIN = 'peerguard decision log checkpoint v1'
/** Domain-separation prefix of the bytes a head file (and a shipped checkpoint) signs. */
export const HEAD_DOMAIN = 'peerguard decision log head v1'
/** HKDF info of the entry-MAC key, derived from the node's Ed25519 seed. */
export const ENTRY_MAC_INFO = 'peerguard decision log entry mac v1'
/** Longest line the verifier accepts, in bytes (a bound against garbage files). */
export const MAX_LINE_BYTES = 64 * 1024

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/

/**
 * A field of a log line or head file in a message: a safe integer as it is, anything else by its
 * type. The file is whoever wrote it's text: a string may hold terminal controls, U+2028 or 60 KB,
 * and the message reaches `audit log verify`, `log show` and the node's console.
 */
export function describeField(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'string') return `a string of ${value.length} characters`
  return describeValue(value)
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** `,"prev":"<64 hex>"}`: how every entry body ends. */
const PREV_TAIL_CHARS = ',"prev":"'.length + 64 + 2
const MAC_TAIL = /,"mac":"([0-9a-f]{64})"(,"prev":"[0-9a-f]{64}"),"hash":"[0-9a-f]{64}"\}$/

/**
 * Serialise `fields` (which must end with `prev`) into a sealed line and its hash. With a
 * `macKey`, a `"mac"` member is inserted just before `prev`: HMAC-SHA-256 under the node's entry
 * key of the body without it. Only the node can check it (the key is secret); it lets the node
 * tell its own entries after the last checkpoint (a crash) from entries someone else appended.
 */
export function sealEntry(fields: Record<string, unknown>, macKey?: Uint8Array): { line: string; hash: string } {
  let body = JSON.stringify(fields)
  if (macKey !== undefined) {
    const mac = createHmac('sha256', macKey).update(body).digest('hex')
    const cut = body.length - PREV_TAIL_CHARS
    body = `${body.slice(0, cut)},"mac":"${mac}"${body.slice(cut)}`
  }
  const hash = sha256Hex(body)
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash }
}

/** The key of the entry MACs: HKDF-SHA-256 of the Ed25519 seed (the first 32 bytes of the secret key). */
export function entryMacKey(secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secretKey.subarray(0, 32), new Uint8Array(0), ENTRY_MAC_INFO, 32))
}

/** True when `line` (a sealed entry) carries a `mac` that verifies under `macKey`. */
export function entryMacValid(line: string, macKey: Uint8Array): boolean {
  const m = MAC_TAIL.exec(line)
  if (m === null) return false
  const body = `${line.slice(0, m.index)}${m[2]}}`
  const want = createHmac('sha256', macKey).update(body).digest()
  return timingSafeEqual(want, Buffer.from(m[1] as string, 'hex'))
}

export type OpenedEntry =
  | { ok: true; fields: Record<string, unknown>; hash: string }
  | { ok: false; reason: 'malformed' | 'hash-mismatch'; message: string }

/** Parse one line (without its newline) and check its self-hash. */
export function openEntry(line: string): OpenedEntry {
  const m = HASH_SUFFIX.exec(line)
  if (m === null) return { ok: false, reason: 'malformed', message: 'line does not end with a "hash" member' }
  let fields: unknown
  try {
    fields = JSON.parse(line)
  } catch {
    return { ok: false, reason: 'malformed', message: 'line is not valid JSON' }
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    return { ok: false, reason: 'malformed', message: 'line is not a JSON object' }
  }
  const body = `${line.slice(0, m.index)}}`
  const hash = m[1] as string
  if (sha256Hex(body) !== hash) return { ok: false, reason: 'hash-mismatch', message: 'entry content does not match its hash' }
  const record = fields as Record<string, unknown>
  delete record.hash
  return { ok: true, fields: record, hash }
}

/** The bytes a head file signs: domain, number of entries the log holds at least, hash of the last of them. */
export function headMessage(entries: number, hash: string): Uint8Array {
  return new TextEncoder().encode(`${HEAD_DOMAIN}\n${entries}\n${hash}`)
}

/** The bytes a checkpoint signs: domain, entry count before the checkpoint, head hash. */
export function checkpointMessage(count: number, head: string): Uint8Array {
  return new TextEncoder().encode(`${CHECKPOINT_DOMAIN}\n${count}\n${head}`)
}
