import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey, PeerId as Libp2pPeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey as libp2pPeerIdFromPublicKey } from '@libp2p/peer-id'
import { type KeyPair, type PeerId, peerIdFromLibp2pBytes, peerIdFromPublicKey, peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError } from '@peerguard/interface'
import { checkKeyPair } from '@peerguard/pki'
import { Libp2pUnsupportedKeyError } from './errors.js'

/**
 * The libp2p private key of a peerguard identity: the same Ed25519 key, so the libp2p node's
 * PeerId is `peerIdFromPublicKey(identity.publicKey).toLibp2p()`. Pass it to
 * `createLibp2p({ privateKey })`.
 */
export function libp2pPrivateKeyFromIdentity(identity: KeyPair): Ed25519PrivateKey {
  checkKeyPair('identity', identity)
  const key = privateKeyFromRaw(Uint8Array.from(identity.secretKey))
  if (key.type !== 'Ed25519') throw new Libp2pUnsupportedKeyError()
  return key
}

/** The peerguard identity (key pair) of a libp2p Ed25519 private key. Other key types are refused. */
export function identityFromLibp2pPrivateKey(privateKey: PrivateKey): KeyPair {
  if (typeof privateKey !== 'object' || privateKey === null || typeof privateKey.type !== 'string')
    throw new InvalidArgumentError('privateKey: expected a libp2p PrivateKey')
  if (privateKey.type !== 'Ed25519')
    throw new Libp2pUnsupportedKeyError(`privateKey: only Ed25519 keys can be peerguard identities, got ${privateKey.type}`)
  const secretKey = Uint8Array.from(privateKey.raw)
  const keyPair = { publicKey: Uint8Array.from(privateKey.publicKey.raw), secretKey }
  checkKeyPair('privateKey', keyPair)
  return keyPair
}

/** The peerguard PeerId of a libp2p PeerId (Ed25519 only). */
export function peerguardPeerIdFromLibp2p(peerId: Libp2pPeerId): PeerId {
  if (typeof peerId !== 'object' || peerId === null || typeof peerId.toMultihash !== 'function')
    throw new InvalidArgumentError('peerId: expected a libp2p PeerId')
  if (peerId.type !== 'Ed25519')
    throw new Libp2pUnsupportedKeyError(`peerId: only Ed25519 peer IDs map to peerguard peers, got ${peerId.type}`)
  return peerIdFromLibp2pBytes(peerId.toMultihash().bytes)
}

/** The libp2p PeerId of a peerguard peer (a PeerId, its text form, or a 32-byte Ed25519 public key). */
export function libp2pPeerIdFromPeerguard(peer: PeerId | string | Uint8Array): Libp2pPeerId {
  let publicKey: Uint8Array
  if (typeof peer === 'string') publicKey = peerIdFromString(peer).publicKey
  else if (peer instanceof Uint8Array) publicKey = peerIdFromPublicKey(peer).publicKey
  else if (typeof peer === 'object' && peer !== null && peer.publicKey instanceof Uint8Array) publicKey = peer.publicKey
  else throw new InvalidArgumentError('peer: expected a peerguard PeerId, its text form or a 32-byte public key')
  return libp2pPeerIdFromPublicKey(publicKeyFromRaw(publicKey))
}
