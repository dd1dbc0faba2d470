import { readFileSync } from 'node:fs'
import { InvalidArgumentError } from '@peerguard/interface'
import { PolicyReadError } from './errors.js'
import { MAX_POLICY_BYTES, parsePolicyModel } from './loader.js'
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

/** Read a policy file (at most MAX_POLICY_BYTES + 1 characters are kept, so the size check fires). */
export function readPolicyText(path: string): string {
  try {
    const buf = readFileSync(path)
    return buf.length > MAX_POLICY_BYTES ? buf.subarray(0, MAX_POLICY_BYTES + 1).toString('utf8') : buf.toString('utf8')
  } catch (err) {
    throw new PolicyReadError(path, err)
  }
}
