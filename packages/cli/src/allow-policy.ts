/**
 * The policy `proxy server --allow-group G --allow-peer ID` stands for (like ghostunnel's
 * `--allow-ou`): one rule allowing the given action on `service:<name>` to peers in any of the
 * groups (certificate OU) or with any of the peer IDs; everyone else falls to the default deny.
 */
import { peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { loadPolicy, type Policy } from '@peerguard/policy'

export interface AllowFlags {
  /** `--allow-group` values: certificate OUs. */
  groups: string[]
  /** `--allow-peer` values: peer IDs (peerguard or libp2p text form). */
  peers: string[]
  /** The service name (resource `service:<name>`). */
  service: string
  /** The policy action each connection asks for. */
  action: string
}

/** Where the compiled policy says it came from (error locations, `policy explain`). */
export const ALLOW_FLAGS_SOURCE = '(--allow-group/--allow-peer)'

/** The policy text the flags stand for (JSON, one rule). */
export function allowPolicyText(flags: AllowFlags): string {
  const peers = [
    ...flags.groups.map((g) => {
      // A certificate OU: 1..64 characters (X.520 ub-organizational-unit-name), no control characters.
      if (g.length === 0 || g.length > 64 || /[\u0000-\u001f\u007f-\u009f]/.test(g) || g.trim() !== g)
        throw new InvalidArgumentError(
          `--allow-group: ${JSON.stringify(g)} is not a group name (1..64 characters, no control characters or outer spaces)`
        )
      return `ou:${g}`
    }),
    ...flags.peers.map((p) => {
      try {
        return `id:${peerIdFromString(p).toString()}`
      } catch (err) {
        throw new InvalidArgumentError(`--allow-peer: ${JSON.stringify(p)} is not a peer ID (${(err as Error).message})`, {
          cause: err
        })
      }
    })
  ]
  if (peers.length === 0) throw new PeerguardError('usage', 'give --policy FILE, or at least one --allow-group or --allow-peer')
  const rule = { id: 'allow-flags', allow: [flags.action], peers: [...new Set(peers)], resources: [`service:${flags.service}`] }
  return JSON.stringify({ version: 1, rules: [rule] })
}

/** Compile the flags into a policy (in memory: nothing to watch or reload). */
export function allowPolicy(flags: AllowFlags): Policy {
  return loadPolicy({ text: allowPolicyText(flags), file: ALLOW_FLAGS_SOURCE })
}
