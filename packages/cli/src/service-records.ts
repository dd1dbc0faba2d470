/**
 * A single-purpose serve command (`share serve`, `proxy server`, `swarm seed`) on its decision log
 * as a node of one service: a `node` start record once it listens, with the SHA-256 of the policy in
 * force, and a stop record after its service closed and before the log closes — the records
 * `peerguard node` writes, so every run of a log's writer has a visible beginning and a clean end.
 */
import type { DecisionLog } from '@peerguard/decision-log'

/**
 * Append the start record (a failure to write it fails the start, as the node's does) and return
 * what appends the stop record; that one never throws (the service is already down, and its log is
 * verified by its chain either way).
 */
export async function recordServiceStart(
  log: DecisionLog | undefined,
  command: string,
  service: string,
  live: { readonly policySha256?: string | undefined } | undefined
): Promise<() => Promise<void>> {
  if (log === undefined) return async () => {}
  const policy = () => (live?.policySha256 === undefined ? {} : { policySha256: live.policySha256 })
  await log.append({ kind: 'node', event: 'start', code: 'ok', reason: `${command} started`, ...policy(), services: [service] })
  return () =>
    log.append({ kind: 'node', event: 'stop', code: 'ok', reason: `${command} stopped`, ...policy(), services: [service] }).then(
      () => {},
      () => {}
    )
}
