/** policyPeerOf: what every enforcement point tells a policy about an authenticated peer. */
import { describe, expect, it } from '@jest/globals'
import { type PeerInfo, policyPeerOf } from '@peerguard/interface'

const base: PeerInfo = { peerId: 'AAAAAAA-BBBBBBB', publicKey: new Uint8Array(32), groups: ['family'] }

describe('policyPeerOf', () => {
  it('passes peer ID, name, groups and address, and nothing of the key or certificate', () => {
    const peer: PeerInfo = { ...base, name: 'alice', address: '10.0.0.5:5000', certificate: new Uint8Array(3) }
    expect(policyPeerOf(peer)).toStrictEqual({
      peerId: 'AAAAAAA-BBBBBBB',
      name: 'alice',
      groups: ['family'],
      address: '10.0.0.5:5000'
    })
  })

  it('leaves out an absent name and address (no undefined keys)', () => {
    const p = policyPeerOf(base)
    expect(Object.keys(p)).toEqual(['peerId', 'groups'])
  })
})
