import { InvalidArgumentError } from '@peerguard/interface'
import type { Action } from './actions.js'
import type { PolicyPeer } from './model.js'
import { type DecideRequest, Policy, type PolicyDecision } from './policy.js'
import type { RequestContext } from './values.js'
import type { PolicyWatcher } from './watch.js'

export interface PolicyGateOptions {
  /** Called with every decision, e.g. to append it to the audit decision log. */
  readonly onDecision?: (request: DecideRequest, decision: PolicyDecision) => void
}

/** What a share or proxy calls per operation. */
export interface PolicyGate {
  /** Decide one operation (cheap: per-peer rules are compiled once and cached). */
  check(peer: PolicyPeer, action: Action, resource: string, context?: RequestContext): PolicyDecision
  /** Whether `resource` may only be reached over an encrypted channel. */
  requiresEncryption(resource: string): boolean
}

/**
 * A gate over a policy or a watcher (which then always asks the policy in force). The gate adds
 * nothing to the decision; it gives the share one call per operation and one hook for logging.
 */
export function createPolicyGate(source: Policy | PolicyWatcher, options: PolicyGateOptions = {}): PolicyGate {
  const isPolicy = source instanceof Policy
  if (!isPolicy && (source === null || typeof source !== 'object' || typeof (source as PolicyWatcher).decide !== 'function')) {
    throw new InvalidArgumentError('source: expected a Policy or a PolicyWatcher')
  }
  const current = (): Policy => (isPolicy ? source : (source as PolicyWatcher).policy)
  const onDecision = options.onDecision
  return {
    check(peer, action, resource, context) {
      const request: DecideRequest = context === undefined ? { peer, action, resource } : { peer, action, resource, context }
      const decision = current().decide(request)
      onDecision?.(request, decision)
      return decision
    },
    requiresEncryption: (resource) => current().requirements(resource).encrypted
  }
}
