import { readFileSync } from 'node:fs'
import { InvalidArgumentError } from '@peerguard/interface'
import { type PolicyLoadError, PolicyReadError } from './errors.js'
import { MAX_POLICY_BYTES, parsePolicyModel } from './parse-policy.js'
import { Policy, type PolicyOptions } from './policy.js'

/** Where a policy comes from: its text, text with a file name for messages, or a file path. */
export type PolicySource = string | { readonly text: string; readonly file?: string } | { readonly path: string }

/**
 * Load, validate and compile a policy. A plain string is the policy text (YAML or JSON);
 * `{ path }` reads a file. Errors are located `Policy…Error`s (file, line, column, expected).
 */
export function loadPolicy(source: PolicySource, options: PolicyOptions = {}): Policy {
  if (typeof source === 'string') return new Policy(parsePolicyModel(source), options)
  if (source === null || typeof source !== 'object')
    throw new InvalidArgumentError(
      `source: expected policy text, { text, file? } or { path }, got ${source === null ? 'null' : typeof source}`
    )
  if ('path' in source) {
    const { path } = source
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('source.path: expected a non-empty string')
    return new Policy(parsePolicyModel(readPolicyText(path), path), options)
  }
  if ('text' in source) {
    if (source.file !== undefined && typeof source.file !== 'string')
      throw new InvalidArgumentError('source.file: expected string')
    return new Policy(parsePolicyModel(source.text, source.file), options)
  }
  throw new InvalidArgumentError('source: expected policy text, { text, file? } or { path }')
}

/**
 * Check a policy and report every problem at once (what `peerguard policy lint` shows): the
 * compiled policy when there is none, else every located error found — not only the first, as
 * `loadPolicy` throws. Reading the file can still throw `PolicyReadError`.
 */
export function checkPolicy(
  source: PolicySource,
  options: PolicyOptions = {}
): { readonly policy: Policy | undefined; readonly errors: readonly PolicyLoadError[] } {
  const errors: PolicyLoadError[] = []
  let text: string
  let file: string | undefined
  if (typeof source === 'string') text = source
  else if (source !== null && typeof source === 'object' && 'path' in source && typeof source.path === 'string') {
    text = readPolicyText(source.path)
    file = source.path
  } else if (source !== null && typeof source === 'object' && 'text' in source) {
    text = source.text
    file = source.file
  } else return { policy: loadPolicy(source, options), errors } // throws the argument error
  const model = parsePolicyModel(text, file, errors)
  return { policy: model === undefined ? undefined : new Policy(model, options), errors }
}

/** Read a policy file (at most MAX_POLICY_BYTES + 1 characters are kept, so the size check fires). */
export function readPolicyText(path: string): string {
  try {
    const buf = readFileSync(path)
    return buf.length > MAX_POLICY_BYTES ? buf.subarray(0, MAX_POLICY_BYTES + 1).toString('utf8') : buf.toString('utf8')
  } catch (err) {
    throw new PolicyReadError(path, err)
  }
}
