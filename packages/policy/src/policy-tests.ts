import type { SourceLocation } from '@peerguard/interface'
import type { Policy, PolicyDecision } from './policy.js'
import { samplesFor } from './samples.js'

export interface AssertionResult {
  readonly test: string
  readonly peer: string
  readonly expect: 'can' | 'cannot'
  readonly assertion: string
  readonly passed: boolean
  /** The concrete resource that decided the result (the first failing one, or the first checked). */
  readonly resource: string
  readonly decision: PolicyDecision | undefined
  readonly source: SourceLocation
  /** How many concrete resources were checked (a glob is checked on samples). */
  readonly checked: number
}

export interface TestReport {
  readonly passed: boolean
  readonly total: number
  readonly failed: number
  readonly results: readonly AssertionResult[]
}

/**
 * The moment a test runs at when its `context` gives no `time`: Monday 2025-01-06 12:00 UTC.
 * Fixed, so that a policy's tests never depend on when they are run (a time-window rule would
 * otherwise make them pass by day and fail by night). Give `context.time` to test other hours.
 */
export const POLICY_TEST_REFERENCE_TIME_MS = Date.UTC(2025, 0, 6, 12, 0, 0)

/**
 * Run the `tests:` block. `can: ["read share:public/a.txt"]` passes when the decision allows;
 * `cannot:` when it denies. A glob (`write share:docs/**`) is checked on sample names: `can`
 * needs every sample allowed, `cannot` every sample denied.
 */
export function runPolicyTests(policy: Policy): TestReport {
  const results: AssertionResult[] = []
  for (const test of policy.model.tests) {
    const context = test.context.time === undefined ? { ...test.context, time: POLICY_TEST_REFERENCE_TIME_MS } : test.context
    for (const expect of ['can', 'cannot'] as const) {
      for (const a of test[expect]) {
        const resources = samplesFor(a.resource, policy.model)
        let failing: { resource: string; decision: PolicyDecision } | undefined
        let first: { resource: string; decision: PolicyDecision } | undefined
        for (const resource of resources) {
          const decision = policy.decide({ peer: test.peer, action: a.action, resource, context })
          first ??= { resource, decision }
          if (decision.allowed !== (expect === 'can')) {
            failing = { resource, decision }
            break
          }
        }
        const shown = failing ?? first
        results.push({
          test: test.name,
          peer: test.peerLabel,
          expect,
          assertion: a.text,
          passed: resources.length > 0 && failing === undefined,
          resource: shown?.resource ?? a.resource,
          decision: shown?.decision,
          source: test.source,
          checked: resources.length
        })
      }
    }
  }
  const failed = results.filter((r) => !r.passed).length
  return { passed: failed === 0, total: results.length, failed, results }
}
