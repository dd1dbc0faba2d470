import { describe, expect, it } from '@jest/globals'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { allowPolicy } from '../src/allow-policy.js'

describe('proxy server --allow-group/--allow-peer policy', () => {
  const alice = peerIdFromPublicKey(generateKeyPair().publicKey).toString()
  const bob = peerIdFromPublicKey(generateKeyPair().publicKey).toString()
  const policy = allowPolicy({ groups: ['family'], peers: [alice], service: 'web', action: 'get' })
  const decide = (peerId: string, groups: string[], resource = 'service:web', action = 'get') =>
    policy.decide({ peer: { peerId, name: 'x', groups }, action, resource } as Parameters<typeof policy.decide>[0]).code

  it('allows the action on the service to the groups and peers named, denies the rest', () => {
    expect(decide(bob, ['family'])).toBe('allow')
    expect(decide(alice, [])).toBe('allow')
    expect(decide(bob, ['friends'])).toBe('deny-default')
    expect(decide(alice, [], 'service:other')).toBe('deny-default')
    expect(decide(alice, [], 'service:web', 'delete')).toBe('deny-default')
  })

  it('refuses empty flags, bad groups and bad peer IDs with stable codes', () => {
    const codeOf = (f: () => unknown): unknown => {
      try {
        f()
        return 'no error'
      } catch (err) {
        return isPeerguardError(err) ? err.code : 'not ours'
      }
    }
    expect(codeOf(() => allowPolicy({ groups: [], peers: [], service: 'web', action: 'get' }))).toBe('usage')
    expect(codeOf(() => allowPolicy({ groups: ['bad\ngroup'], peers: [], service: 'web', action: 'get' }))).toBe(
      'invalid-argument'
    )
    expect(codeOf(() => allowPolicy({ groups: [' x'], peers: [], service: 'web', action: 'get' }))).toBe('invalid-argument')
    expect(codeOf(() => allowPolicy({ groups: [], peers: ['nope'], service: 'web', action: 'get' }))).toBe('invalid-argument')
  })
})
