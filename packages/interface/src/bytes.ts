import { timingSafeEqual } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return `Uint8Array of length ${value.length}`
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/**
 * Name a value in an error message without calling into it: a primitive as `String()` writes it,
 * anything else by its shape (`array`, `object`, `Uint8Array of length 3`). `String()` or a
 * template on an object runs its `toString`/`valueOf`, which input (JSON, YAML, a caller) controls
 * and which may throw — `{"toString":1}` is a TypeError, not the typed error the message was for.
 */
export function describeValue(value: unknown): string {
  return (typeof value === 'object' && value !== null) || typeof value === 'function' ? describe(value) : String(value)
}

/**
 * Check that `value` is a Uint8Array (a Buffer is one), optionally of an exact length.
 * Throws `InvalidArgumentError` with a message such as
 * `secretKey: expected Uint8Array of length 64, got Uint8Array of length 32`.
 */
export function assertBytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidArgumentError(
      `${name}: expected Uint8Array${length === undefined ? '' : ` of length ${length}`}, got ${describe(value)}`
    )
  }
  if (length !== undefined && value.length !== length) {
    throw new InvalidArgumentError(`${name}: expected Uint8Array of length ${length}, got ${describe(value)}`)
  }
}

/** Check that `value` is a Uint8Array whose length is within [min, max]. */
export function assertBytesRange(name: string, value: unknown, min: number, max: number): asserts value is Uint8Array {
  assertBytes(name, value)
  if (value.length < min || value.length > max) {
    throw new InvalidArgumentError(`${name}: expected Uint8Array of length ${min}..${max}, got ${describe(value)}`)
  }
}

/** Check that `value` is a string, optionally non-empty and at most `maxLength` characters. */
export function assertString(
  name: string,
  value: unknown,
  options: { nonEmpty?: boolean; maxLength?: number } = {}
): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${name}: expected string, got ${describe(value)}`)
  if (options.nonEmpty === true && value.length === 0) throw new InvalidArgumentError(`${name}: expected a non-empty string`)
  if (options.maxLength !== undefined && value.length > options.maxLength) {
    throw new InvalidArgumentError(`${name}: expected at most ${options.maxLength} characters, got ${value.length}`)
  }
}

/** Check that `value` is a safe integer within [min, max]. */
export function assertInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      `${name}: expected integer, got ${typeof value === 'number' ? String(value) : describe(value)}`
    )
  }
  if (value < min || value > max) throw new InvalidArgumentError(`${name}: expected integer in ${min}..${max}, got ${value}`)
}

/**
 * Compare two byte arrays in constant time (for equal lengths). Different lengths return false
 * at once: lengths are not secret in any peerguard use (MACs, keys and pins have fixed sizes).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  assertBytes('a', a)
  assertBytes('b', b)
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}

/** Overwrite a temporary secret buffer with zeros (best effort: JavaScript may keep copies). */
export function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0)
}

/** Concatenate byte arrays into one new Uint8Array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
