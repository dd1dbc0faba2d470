import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname } from 'node:path'
import { InvalidArgumentError, isPeerguardError, type PeerguardError, type PolicyDecider } from '@peerguard/interface'
import { readPolicyText } from './load-policy.js'
import { parsePolicyModel } from './parse-policy.js'
import { type DecideRequest, Policy, type PolicyDecision, type PolicyOptions } from './policy.js'

export interface WatchPolicyOptions extends PolicyOptions {
  /** Called after a valid new version was swapped in. */
  readonly onReload?: (policy: Policy) => void
  /** Called when an edit is invalid; the previous policy stays in force. */
  readonly onError?: (error: PeerguardError) => void
  /** Wait this long after the last change event before reading the file (ms). Default: 50. */
  readonly debounceMs?: number
}

/** A policy file kept current: `policy` is always the last valid version. */
export interface PolicyWatcher extends PolicyDecider {
  /** The policy in force (never an invalid one). */
  readonly policy: Policy
  /** `policy.decide()` on the policy in force. */
  decide(request: DecideRequest): PolicyDecision
  /**
   * Read and validate the file now; swap it in when valid. Resolves to true when a new version
   * took effect, false when the file is unchanged or invalid (the old policy stays).
   */
  reload(): Promise<boolean>
  /** Stop watching. */
  close(): void
}

/**
 * Load a policy file and keep it current. The first load must succeed (it throws otherwise);
 * after that a new version is fully validated and compiled before one assignment swaps it in, and
 * an invalid edit is reported through `onError` while the old policy keeps deciding: never fail open.
 */
export function watchPolicy(path: string, options: WatchPolicyOptions = {}): PolicyWatcher {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('path: expected a non-empty string')
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected object')
  let text = readPolicyText(path)
  let current = new Policy(parsePolicyModel(text, path), options)
  const debounceMs = options.debounceMs ?? 50
  let timer: NodeJS.Timeout | undefined
  let closed = false

  const reload = async (): Promise<boolean> => {
    if (closed) return false
    try {
      const next = readPolicyText(path)
      if (next === text) return false
      const policy = new Policy(parsePolicyModel(next, path), options)
      text = next
      current = policy
      options.onReload?.(policy)
      return true
    } catch (err) {
      if (isPeerguardError(err)) options.onError?.(err)
      else throw err
      return false
    }
  }

  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      reload().catch(() => undefined)
    }, debounceMs)
    timer.unref()
  }

  // Watch the directory: editors replace files by rename, which a file watch would miss.
  const name = basename(path)
  let watcher: FSWatcher | undefined = watch(dirname(path), { persistent: false }, (_event, file) => {
    if (file === null || file === name) schedule()
  })
  watcher.on('error', () => undefined)

  return {
    get policy() {
      return current
    },
    decide: (request) => current.decide(request),
    reload,
    close: () => {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      watcher?.close()
      watcher = undefined
    }
  }
}
