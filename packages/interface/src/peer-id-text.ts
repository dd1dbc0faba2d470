/**
 * The layout of the peerguard peer-ID text form (documented in the identity README): the 52
 * base32 characters of an Ed25519 public key in 4 chunks of 13, each followed by its Luhn mod 32
 * check character, shown as 8 dash-separated groups of 7 (`MFRGGZD-FMZTWQ2-…`). Here so that
 * `@peerguard/identity` (which prints and parses peer IDs) and `@peerguard/policy` (which may import
 * only this package) apply one rule.
 */
import { assertString } from './bytes.js'
import { InvalidArgumentError } from './errors.js'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const CHUNK = 13
const CHUNKS = 4
const GROUP = 7

/** Luhn mod 32 check character over upper-case base32 text (RFC 4648 alphabet A–Z 2–7). */
export function luhnMod32(text: string): string {
  assertString('text', text)
  if (!/^[A-Z2-7]*$/.test(text)) throw new InvalidArgumentError('text: expected upper-case base32 characters A-Z 2-7')
  let factor = 2
  let sum = 0
  for (let i = text.length - 1; i >= 0; i--) {
    let addend = factor * ALPHABET.indexOf(text[i] as string)
    factor = factor === 2 ? 1 : 2
    addend = Math.floor(addend / 32) + (addend % 32)
    sum += addend
  }
  return ALPHABET[(32 - (sum % 32)) % 32] as string
}

/** The text form of a key's 52 upper-case base32 characters: check characters added, 8 groups of 7. */
export function peerIdTextFromBase32(b32: string): string {
  assertString('b32', b32)
  if (!/^[A-Z2-7]{52}$/.test(b32)) throw new InvalidArgumentError('b32: expected 52 upper-case base32 characters A-Z 2-7')
  let withChecks = ''
  for (let i = 0; i < CHUNKS; i++) {
    const chunk = b32.slice(i * CHUNK, (i + 1) * CHUNK)
    withChecks += chunk + luhnMod32(chunk)
  }
  const groups: string[] = []
  for (let i = 0; i < withChecks.length; i += GROUP) groups.push(withChecks.slice(i, i + GROUP))
  return groups.join('-')
}
