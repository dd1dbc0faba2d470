import { peerIdFromString, sign, verify as verifySignature, type KeyPair } from '@peerguard/identity'
import type { PeerguardCode } from '@peerguard/interface'
import { describeField, GENESIS_HASH, headMessage } from './entry.js'

/**
 * A signed head: "this log holds at least `entries` entries, and entry `entries - 1` has hash
 * `hash`", signed by the node. The writer keeps the newest one in `<log>.head` (replaced after
 * every checkpoint; a genesis head with `entries: 0` is written when the log is created), and hands
 * each one to `onCheckpoint` so it can be shipped off the box. One JSON object on one line:
 *
 *   {"v":1,"entries":N,"hash":"<64 hex>","signer":"<peer ID>","sig":"<base64 Ed25519>"}
 *
 * The signature covers `"peerguard decision log head v1\n" + entries + "\n" + hash`, a different
 * domain from the checkpoints' so neither can stand in for the other.
 */
export interface SignedHead {
  readonly v: 1
  /** Entries the log holds at least (the named checkpoint included). */
  readonly entries: number
  /** Hash of entry `entries - 1` (GENESIS_HASH when `entries` is 0). */
  readonly hash: string
  /** Peer ID of the signing node. */
  readonly signer: string
  /** Ed25519 signature, base64. */
  readonly sig: string
}

/** Sign a head for `entries`/`hash` with the node's key. */
export function signHead(entries: number, hash: string, identity: KeyPair, signer: string): SignedHead {
  const sig = Buffer.from(sign(headMessage(entries, hash), identity.secretKey)).toString('base64')
  return { v: 1, entries, hash, signer, sig }
}

/** The head as one line of text (with its newline), as written to `<log>.head` and shipped. */
export function formatHead(head: SignedHead): string {
  return `${JSON.stringify({ v: head.v, entries: head.entries, hash: head.hash, signer: head.signer, sig: head.sig })}\n`
}

export type ParsedHead = { ok: true; head: SignedHead } | { ok: false; code: PeerguardCode; message: string }

/**
 * Parse a head line and check its signature (by the peer it names). Leading text before the first
 * `{` is ignored, so a line copied from syslog (`… peerguard-log: {…}`) parses. The caller compares
 * `head.signer` with the key it expects.
 */
export function parseHead(text: string): ParsedHead {
  const bad = (message: string): ParsedHead => ({ ok: false, code: 'log-head-invalid', message })
  const start = text.indexOf('{')
  if (start === -1) return bad('not a signed head (no JSON object)')
  let raw: unknown
  try {
    raw = JSON.parse(text.slice(start))
  } catch {
    return bad('not valid JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('not a JSON object')
  const h = raw as Record<string, unknown>
  if (h.sig === undefined) return bad('unsigned (written by an older peerguard, or forged): it cannot vouch for the log')
  if (h.v !== 1) return bad(`unsupported version ${describeField(h.v)}`)
  if (typeof h.entries !== 'number' || !Number.isSafeInteger(h.entries) || h.entries < 0) return bad('no valid "entries"')
  if (typeof h.hash !== 'string' || !/^[0-9a-f]{64}$/.test(h.hash)) return bad('no valid "hash"')
  if (h.entries === 0 && h.hash !== GENESIS_HASH) return bad('an empty head must name the genesis hash')
  if (typeof h.signer !== 'string' || typeof h.sig !== 'string') return bad('no "signer" or "sig"')
  let publicKey: Uint8Array
  let signer: string
  try {
    const id = peerIdFromString(h.signer)
    publicKey = id.publicKey
    signer = id.toString()
  } catch {
    return bad('"signer" is not a valid peer ID')
  }
  const sig = Buffer.from(h.sig, 'base64')
  if (sig.length !== 64 || !verifySignature(sig, headMessage(h.entries, h.hash), publicKey))
    return bad('its signature does not verify (the head file was edited or forged)')
  return { ok: true, head: { v: 1, entries: h.entries, hash: h.hash, signer, sig: h.sig } }
}
