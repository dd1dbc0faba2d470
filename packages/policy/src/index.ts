/**
 * @packageDocumentation
 * Per-peer read/write policies for LAN peer-to-peer sharing: a YAML (or JSON) policy language
 * described by `policies/schema.json`, compiled onto CASL (`@casl/ability` 7), with decisions,
 * explanations, lint, semantic diff, policy tests and hot reload.
 *
 * @example
 * ```ts
 * import { loadPolicy } from '@peerguard/policy'
 * const policy = loadPolicy({ path: 'policies/office.yaml' })
 * const d = policy.decide({ peer: channel.remotePeer, action: 'get', resource: 'share:docs/q3.pdf', context: { encrypted: true } })
 * if (!d.allowed) console.log(d.code, d.reason)
 * ```
 */
export { ACTION_CLASSES, ACTIONS, VERBS, verbClass } from './actions.js'
export type { Action, ActionClass, Verb } from './actions.js'
export {
  PolicyBadGlobError,
  PolicyBadPeerIdError,
  PolicyBadValueError,
  PolicyCyclicGroupError,
  PolicyDuplicateIdError,
  PolicyInvalidError,
  PolicyLoadError,
  PolicyParseError,
  PolicyReadError,
  PolicyTooLargeError,
  PolicyUnknownActionError,
  PolicyUnknownGroupError,
  PolicyUnknownKeyError,
  PolicyUnknownPeerError
} from './errors.js'
export type { PolicyErrorDetails } from './errors.js'
export { diffPolicies } from './diff.js'
export type { DecisionChange, PolicyDiff } from './diff.js'
export type { Explanation, RuleVerdict } from './explain.js'
export { createPolicyGate } from './gate.js'
export type { PolicyGate, PolicyGateOptions } from './gate.js'
export type { LintCode, LintFinding } from './lint.js'
export { checkPolicy, loadPolicy } from './load-policy.js'
export type { PolicySource } from './load-policy.js'
export { MAX_POLICY_BYTES } from './parse-policy.js'
export type {
  Assertion,
  Conditions,
  GroupDef,
  PeerDef,
  PolicyModel,
  PolicyPeer,
  RequirementModel,
  RuleModel,
  TestModel
} from './model.js'
export { canonicalPeerId } from './peer-id.js'
export { Policy } from './policy.js'
export type { DecideRequest, DecisionCode, PolicyDecision, PolicyOptions } from './policy.js'
export type { AssertionResult, TestReport } from './policy-tests.js'
export { RESOURCE_KINDS } from './resource.js'
export type { ResourceKind } from './resource.js'
export { POLICY_SCHEMA } from './schema.js'
export type { RequestContext } from './values.js'
export { watchPolicy } from './watch.js'
export type { PolicyWatcher, WatchPolicyOptions } from './watch.js'
