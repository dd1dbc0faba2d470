import { luhnMod32, peerIdTextFromBase32 } from '@peerguard/interface'

/**
 * Peer IDs as a policy file may write them, checked and brought to the one form decisions compare:
 * the peerguard text form of `@peerguard/identity` (8 dash-separated groups of 7 base32
 * characters, a Luhn mod 32 check character per 13, e.g. `MFRGGZD-FMZTWQ2-…`), or the libp2p
 * form of the same Ed25519 key (`12D3KooW…`, base58btc identity multihash). The policy package may
 * import only `@peerguard/interface`, so the two text forms are read here; a test holds this
 * reading equal to `@peerguard/identity`'s parsers. The key is not checked to be a curve point
 * (a peer ID of a non-point can never authenticate; the channel checks keys).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const CHUNK = 13
const CHUNKS = 4
const TEXT_CHARS = CHUNKS * (CHUNK + 1)
const KEY_BYTES = 32
/** libp2p: identity multihash (0x00, length 36) of protobuf PublicKey { Type = Ed25519, Data = 32 bytes }. */
const LIBP2P_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

function base32(bytes: readonly number[]): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

/** The peerguard text form of a 32-byte key. */
function textForm(key: readonly number[]): string {
  return peerIdTextFromBase32(base32(key))
}

function fromText(text: string): string {
  if (/[^\x20-\x7e\s]/.test(text)) return 'only ASCII characters'
  const clean = text.toUpperCase().replace(/[\s-]/g, '').replace(/0/g, 'O').replace(/1/g, 'I').replace(/8/g, 'B')
  if (clean.length !== TEXT_CHARS) return `${TEXT_CHARS} base32 characters (8 groups of 7), got ${clean.length}`
  const bad = /[^A-Z2-7]/.exec(clean)
  if (bad !== null) return `base32 characters A-Z 2-7 (found '${bad[0]}')`
  let b32 = ''
  for (let i = 0; i < CHUNKS; i++) {
    const chunk = clean.slice(i * (CHUNK + 1), i * (CHUNK + 1) + CHUNK)
    if (luhnMod32(chunk) !== clean[i * (CHUNK + 1) + CHUNK])
      return `a correct check character in groups ${2 * i + 1}-${2 * i + 2} (a typo there?)`
    b32 += chunk
  }
  // 52 characters carry 260 bits: a 32-byte key and 4 zero bits.
  if ((ALPHABET.indexOf(b32[b32.length - 1] as string) & 0b1111) !== 0) return 'the text form of a 32-byte key'
  return textForm(decode32(b32))
}

function decode32(b32: string): number[] {
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const ch of b32) {
    value = ((value << 5) | ALPHABET.indexOf(ch)) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return out.slice(0, KEY_BYTES)
}

function fromLibp2p(text: string): string {
  const bad = new RegExp(`[^${BASE58}]`).exec(text)
  if (bad !== null) return `base58btc characters (found '${bad[0]}')`
  let bytes: number[] = []
  for (const ch of text) {
    let carry = BASE58.indexOf(ch)
    for (let i = 0; i < bytes.length; i++) {
      carry += (bytes[i] as number) * 58
      bytes[i] = carry & 0xff
      carry >>= 8
    }
    while (carry > 0) {
      bytes.push(carry & 0xff)
      carry >>= 8
    }
  }
  for (const ch of text) {
    if (ch !== '1') break
    bytes.push(0)
  }
  bytes = bytes.reverse()
  if (bytes.length !== LIBP2P_PREFIX.length + KEY_BYTES || LIBP2P_PREFIX.some((b, i) => bytes[i] !== b))
    return 'the libp2p ID of an Ed25519 key (12D3KooW…)'
  return textForm(bytes.slice(LIBP2P_PREFIX.length))
}

/**
 * The peerguard text form of a peer ID written in either text form, or `{ expected }` saying
 * what a peer ID must look like.
 */
export function canonicalPeerId(text: string): { readonly id: string } | { readonly expected: string } {
  if (typeof text !== 'string' || text.length === 0 || text.length > 256)
    return { expected: 'a peer ID (peerguard text form XXXXXXX-… or libp2p 12D3KooW…)' }
  const r = text.startsWith('12D3Koo') ? fromLibp2p(text) : fromText(text)
  return /^[A-Z2-7]{7}(?:-[A-Z2-7]{7}){7}$/.test(r)
    ? { id: r }
    : { expected: `a peer ID (peerguard text form XXXXXXX-… or libp2p 12D3KooW…): ${r}` }
}
