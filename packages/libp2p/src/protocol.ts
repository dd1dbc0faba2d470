/** The multistream-select protocol id of the peerguard channel inside libp2p. */
export const PEERGUARD_PROTOCOL = '/peerguard/1.0.0'
