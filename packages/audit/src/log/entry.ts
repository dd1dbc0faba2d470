import { createHash } from 'node:crypto'

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
/** Longest line the verifier accepts, in bytes (a bound against garbage files). */
export const MAX_LINE_BYTES = 64 * 1024

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Serialise `fields` (which must end with `prev`) into a sealed line and its hash. */
export function sealEntry(fields: Record<string, unknown>): { line: string; hash: string } {
  const body = JSON.stringify(fields)
  const hash = sha256Hex(body)
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash }
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

/** The bytes a checkpoint signs: domain, entry count before the checkpoint, head hash. */
export function checkpointMessage(count: number, head: string): Uint8Array {
  return new TextEncoder().encode(`${CHECKPOINT_DOMAIN}\n${count}\n${head}`)
}
