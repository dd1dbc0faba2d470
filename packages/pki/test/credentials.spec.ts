import { beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import {
  checkCredentials,
  checkKeyPair,
  createCertificateAuthority,
  createTrustStore,
  normalizePeerId,
  type TrustStore
} from '@peerguard/pki'
import fc from 'fast-check'

/** The one check of identity, chain, trust and expected peers every channel and enforcement point makes. */
describe('checkCredentials', () => {
  const identity = generateKeyPair()
  let trust: TrustStore
  beforeAll(async () => {
    const ca = await createCertificateAuthority({ name: 'credentials test CA' })
    trust = createTrustStore({ roots: [ca.certificate] })
  })
  const cert = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])

  it('accepts good credentials, copies the chain and canonicalizes expected peer IDs', () => {
    const other = peerIdFromPublicKey(generateKeyPair().publicKey).toString()
    const checked = checkCredentials({ identity, chain: [cert], trust, expectedPeerId: other.toLowerCase() })
    expect(checked.identity).toBe(identity)
    expect(checked.chain).toEqual([cert])
    expect(checked.chain[0]).not.toBe(cert)
    expect(checked.trust).toBe(trust)
    expect([...(checked.expectedPeerIds ?? [])]).toEqual([other])
    expect(checkCredentials({ identity }).expectedPeerIds).toBeUndefined()
  })

  it('refuses bad fields with exact messages under the caller prefix', () => {
    expect(() => checkCredentials(null as never)).toThrow('options: expected an object')
    expect(() => checkCredentials({} as never)).toThrow('options.identity: expected a key pair { publicKey, secretKey }')
    expect(() => checkCredentials({ identity: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(64) } })).toThrow(
      'options.identity.publicKey'
    )
    expect(() => checkCredentials({ identity, chain: 'x' as never })).toThrow(
      'options.chain: expected an array of DER certificates'
    )
    expect(() => checkCredentials({ identity, chain: [] }, { chainRequired: 'TLS needs a certificate' })).toThrow(
      'options.chain: expected at least one DER certificate (TLS needs a certificate)'
    )
    expect(() => checkCredentials({ identity, chain: [cert, 'x' as never] })).toThrow('options.chain[1]')
    expect(() => checkCredentials({ identity, chain: [cert, cert] }, { maxCertificates: 1 })).toThrow(
      'options.chain: at most 1 certificates'
    )
    expect(() => checkCredentials({ identity, chain: [new Uint8Array(10)] }, { maxCertificateBytes: 9 })).toThrow(
      'options.chain[0]: expected 1..9 bytes'
    )
    expect(() => checkCredentials({ identity }, { prefix: 'config.', trustRequired: true })).toThrow(
      'config.trust: expected a TrustStore from @peerguard/pki'
    )
    expect(() => checkCredentials({ identity, trust: {} as never })).toThrow('options.trust: expected a TrustStore')
    expect(() => checkCredentials({ identity, expectedPeerId: [] })).toThrow(
      'options.expectedPeerId: expected at least one peer ID'
    )
    expect(() => checkCredentials({ identity, expectedPeerId: 7 as never })).toThrow(
      'options.expectedPeerId: expected a peer ID string, got number'
    )
    expect(() => checkCredentials({ identity, expectedPeerId: ['nope'] })).toThrow('options.expectedPeerId[0]:')
  })

  it('an identity is optional only when the caller says so', () => {
    expect(checkCredentials({}, { identityOptional: true }).identity).toBeUndefined()
  })

  it('refuses a key pair whose public key is not its seed’s, even after the same secret key passed', () => {
    const other = generateKeyPair()
    expect(() => checkKeyPair('k', { publicKey: other.publicKey, secretKey: identity.secretKey })).toThrow(
      "k: the public key is not the public key of the secret key's seed"
    )
    checkKeyPair('k', identity)
    expect(() => checkKeyPair('k', { publicKey: other.publicKey, secretKey: identity.secretKey })).toThrow('k: the public key')
    const tail = Uint8Array.from(identity.secretKey)
    tail[63] = (tail[63] as number) ^ 1
    expect(() => checkKeyPair('k', { publicKey: identity.publicKey, secretKey: tail })).toThrow('k: the public key')
  })

  it('normalizePeerId: any case of a valid ID gives the canonical form; other strings are refused typed', () => {
    const ids = Array.from({ length: 4 }, () => peerIdFromPublicKey(generateKeyPair().publicKey).toString())
    fc.assert(
      fc.property(fc.constantFrom(...ids), fc.boolean(), (id, lower) => {
        expect(normalizePeerId('x', lower ? id.toLowerCase() : id)).toBe(id)
      })
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          expect(ids).toContain(normalizePeerId('x', s))
        } catch (err) {
          expect((err as { code?: string }).code).toBe('invalid-argument')
        }
      })
    )
  })
})
