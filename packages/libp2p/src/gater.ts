import type { ConnectionGater, MultiaddrConnection, PeerId as Libp2pPeerId } from '@libp2p/interface'
import {
  assertString,
  type DecisionSink,
  InvalidArgumentError,
  isDecisionSink,
  isPolicyDecider,
  type PeerInfo,
  type PolicyDecider,
  recordOrRefuse
} from '@peerguard/interface'
import { addressOf } from './address.js'
import type { Libp2pConnectionRecord } from './decision-sink.js'
import { peerguardPeerIdFromLibp2p } from './identity-bridge.js'
import { PeerDirectory, sessionOf } from './peer-directory.js'

export interface PeerguardGaterOptions {
  /** The directory the encrypter fills (`createPeerDirectory()`); gives the policy the certificate name and groups. Default: none. */
  peers?: PeerDirectory
  /**
   * Refuse connections that peerguard did not secure (another encrypter such as stock Noise).
   * Default: true when `peers` is given; without `peers` every connection is decided by peer ID only.
   */
  certifiedOnly?: boolean
  /** The action asked about. Default `get`. */
  action?: string
  /** The resource asked about. Default `service:libp2p`. */
  resource?: string
  /** Write every decision here (a DecisionLog of `@peerguard/decision-log`). When writing fails the connection is refused. Default: none. */
  log?: DecisionSink
}

/** A refusal code of the gater itself (not a policy decision). */
const UNCERTIFIED = 'libp2p-uncertified-peer'
const UNSUPPORTED = 'libp2p-unsupported-key'
const LOG_FAILED = 'io-error'

/**
 * A libp2p ConnectionGater that asks a peerguard policy whether each encrypted connection may stay:
 * `decide({ peer, action: 'get', resource: 'service:libp2p' })` with the peer the encrypter
 * authenticated (peer ID, certificate name and groups, address). The policy's default deny refuses
 * peers it does not know. Decisions go to the decision log when one is given.
 *
 * @example
 * ```ts
 * const peers = createPeerDirectory()
 * createLibp2p({
 *   connectionEncrypters: [peerguardEncrypter({ chain, trust, peers })],
 *   connectionGater: peerguardGater(policy, { peers, log }),
 *   ...
 * })
 * ```
 */
export function peerguardGater(policy: PolicyDecider, options: PeerguardGaterOptions = {}): ConnectionGater {
  if (!isPolicyDecider(policy))
    throw new InvalidArgumentError('policy: expected a Policy or PolicyWatcher from @peerguard/policy')
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const { peers, log } = options
  if (peers !== undefined && !(peers instanceof PeerDirectory))
    throw new InvalidArgumentError('options.peers: expected a PeerDirectory (createPeerDirectory())')
  if (log !== undefined && !isDecisionSink(log))
    throw new InvalidArgumentError('options.log: expected a decision log (an object with append(record))')
  if (options.certifiedOnly !== undefined && typeof options.certifiedOnly !== 'boolean')
    throw new InvalidArgumentError('options.certifiedOnly: expected a boolean')
  const certifiedOnly = options.certifiedOnly ?? peers !== undefined
  if (certifiedOnly && peers === undefined)
    throw new InvalidArgumentError('options.certifiedOnly: needs options.peers, the directory the encrypter fills')
  const action = options.action ?? 'get'
  assertString('options.action', action, { nonEmpty: true, maxLength: 64 })
  const resource = options.resource ?? 'service:libp2p'
  assertString('options.resource', resource, { nonEmpty: true, maxLength: 4096 })
  // the encrypter sharing `peers` closes this log on node.stop()
  if (log !== undefined) peers?.adoptLog(log)

  // the one fail-closed rule: a connection whose decision cannot be written is refused
  const record = (rec: Libp2pConnectionRecord): Promise<boolean> =>
    recordOrRefuse(log, rec).then(
      () => true,
      () => false
    )

  const allow = async (peerId: Libp2pPeerId, maConn: MultiaddrConnection): Promise<boolean> => {
    const address = addressOf(maConn)
    const session = sessionOf(maConn)
    const certified = session === undefined ? undefined : peers?.get(session)
    let peer: PeerInfo | { peerId: string; address?: string } | undefined = certified
    const mode = certified === undefined ? 'plain' : 'hardened'
    let code: string
    let reason: string
    let allowed = false
    if (peer === undefined) {
      try {
        peer = { peerId: peerguardPeerIdFromLibp2p(peerId).toString(), ...(address === undefined ? {} : { address }) }
      } catch {
        peer = undefined
      }
    }
    if (peer === undefined) {
      code = UNSUPPORTED
      reason = `peer ${peerId.toString()} has no Ed25519 key, so no peerguard policy can name it`
    } else if (certifiedOnly && certified === undefined) {
      code = UNCERTIFIED
      reason = `peer ${peer.peerId} connected without the peerguard encrypter (no certificate was verified)`
    } else {
      try {
        const d = policy.decide({ peer, action, resource })
        allowed = d.allowed === true
        code = d.code
        reason = d.reason
      } catch (err) {
        code = 'invalid-argument'
        reason = `the policy could not decide: ${(err as Error).message}`
      }
    }
    const logPeer =
      peer === undefined
        ? undefined
        : {
            peerId: peer.peerId,
            ...('name' in peer && peer.name !== undefined ? { name: peer.name } : {}),
            ...('groups' in peer && peer.groups !== undefined ? { groups: [...peer.groups] } : {}),
            ...(peer.address === undefined ? {} : { address: peer.address })
          }
    const logged = await record({
      kind: 'connection',
      event: allowed ? 'accepted' : 'refused',
      code,
      reason: reason.slice(0, 4096),
      ...(logPeer === undefined ? {} : { peer: logPeer }),
      mode
    })
    if (!logged && allowed) {
      // fail closed: a decision that cannot be recorded is not made
      await record({
        kind: 'connection',
        event: 'refused',
        code: LOG_FAILED,
        reason: 'the decision log could not be written',
        mode
      })
      return false
    }
    return allowed
  }

  return {
    denyInboundEncryptedConnection: async (peerId, maConn) => !(await allow(peerId, maConn)),
    denyOutboundEncryptedConnection: async (peerId, maConn) => !(await allow(peerId, maConn))
  }
}
