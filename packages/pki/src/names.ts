import { assertInteger, InvalidArgumentError } from '@peerguard/interface'

/** X.520 upper bound for commonName and organizationalUnitName (ub-common-name, ub-organizational-unit-name). */
export const NAME_MAX_CHARS = 64
/** Most groups (OU values) one certificate carries. */
export const GROUPS_MAX = 32
/** Longest peer certificate lifetime in days. */
export const PEER_DAYS_MAX = 3650

// Letters, digits, space and common punctuation; no control characters, no leading/trailing space.
const NAME = /^[\p{L}\p{N}._@'()+:/ -]+$/u

/** Check a certificate name (CN) or group (OU). */
export function assertName(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string')
    throw new InvalidArgumentError(`${field}: expected string, got ${value === null ? 'null' : typeof value}`)
  if (value.length === 0 || value.length > NAME_MAX_CHARS) {
    throw new InvalidArgumentError(`${field}: expected 1..${NAME_MAX_CHARS} characters, got ${value.length}`)
  }
  if (!NAME.test(value) || value.trim() !== value) {
    throw new InvalidArgumentError(
      `${field}: ${JSON.stringify(value)} has characters a certificate name may not hold (letters, digits, space, . _ @ ' ( ) + : / -)`
    )
  }
}

/** Check and copy a group list: names, no duplicates, at most GROUPS_MAX. */
export function checkGroups(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidArgumentError(`groups: expected an array of strings, got ${typeof value}`)
  if (value.length > GROUPS_MAX) throw new InvalidArgumentError(`groups: at most ${GROUPS_MAX} groups, got ${value.length}`)
  const seen = new Set<string>()
  for (const [i, g] of value.entries()) {
    assertName(`groups[${i}]`, g)
    if (seen.has(g)) throw new InvalidArgumentError(`groups: ${JSON.stringify(g)} appears twice`)
    seen.add(g)
  }
  return [...value] as string[]
}

/** Check a lifetime in days. */
export function checkDays(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback
  assertInteger(name, value, 1, max)
  return value
}
