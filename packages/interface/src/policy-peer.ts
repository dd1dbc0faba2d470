import type { PolicyPeer } from './decider.js'
import type { PeerInfo } from './types.js'

/**
 * What a policy is told about an authenticated peer: peer ID, certificate name and groups, and
 * the address it came from (absent fields left out). The key and certificate stay with the channel.
 */
export function policyPeerOf(peer: PeerInfo): PolicyPeer {
  return {
    peerId: peer.peerId,
    ...(peer.name === undefined ? {} : { name: peer.name }),
    groups: peer.groups,
    ...(peer.address === undefined ? {} : { address: peer.address })
  }
}
