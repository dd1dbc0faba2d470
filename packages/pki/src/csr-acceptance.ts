import { type PeerId, peerIdFromPublicKey, peerIdFromString } from '@peerguard/identity'
import { verifyBinding, type ParsedCsr } from './csr.js'
import { CsrInvalidError } from './errors.js'
import { ed25519Spki } from './fields.js'
import { assertName } from './names.js'
import { peerUrisOf } from './peer-uri.js'

/**
 * What a CA checks before it signs a request (after parseCsr checked the self-signature): the
 * peer ID it asks for is its own key's (Ed25519) or is vouched for by that identity's binding
 * proof (P-256); it is the peer the operator expects; the name is the one the operator approved.
 * Returns the identity key, the name and the key to certify.
 */
export function acceptCsr(
  parsedCsr: ParsedCsr,
  options: { name?: string; peerId?: string }
): { identityKey: Uint8Array; name: string; spki: Uint8Array } {
  const asked = peerUrisOf(parsedCsr.uris)
  let derived: PeerId
  if (parsedCsr.publicKey.keyType === 'ed25519') {
    derived = peerIdFromPublicKey(parsedCsr.publicKey.raw)
  } else {
    // A P-256 request names its peer and proves the identity key signed this P-256 key.
    if (asked.length !== 1) throw new CsrInvalidError('certificate request: a P-256 request must name exactly one peer ID')
    try {
      derived = peerIdFromString(asked[0] as string)
    } catch (err) {
      throw new CsrInvalidError(`certificate request: the peer ID ${JSON.stringify(asked[0])} is not valid`, { cause: err })
    }
    if (!verifyBinding(parsedCsr, derived.publicKey)) {
      throw new CsrInvalidError(
        'certificate request: the P-256 key has no valid binding proof from the identity key of the peer it names',
        {
          details: { hint: 'make the request with `peerguard cert request --key-type p256`' }
        }
      )
    }
  }
  if (asked.length > 1) throw new CsrInvalidError('certificate request: names more than one peer ID')
  if (asked.length === 1) {
    let askedId: PeerId
    try {
      askedId = peerIdFromString(asked[0] as string)
    } catch (err) {
      throw new CsrInvalidError(`certificate request: the peer ID ${JSON.stringify(asked[0])} is not valid`, { cause: err })
    }
    if (!askedId.equals(derived)) {
      throw new CsrInvalidError(
        `certificate request: asks for peer ${askedId.toString()} but its key is peer ${derived.toString()}`
      )
    }
  }
  if (options.peerId !== undefined) {
    if (!peerIdFromString(options.peerId).equals(derived)) {
      throw new CsrInvalidError(`certificate request: its key is peer ${derived.toString()}, not the expected ${options.peerId}`)
    }
  }
  const csrName = parsedCsr.subject.commonName
  if (options.name !== undefined && csrName !== undefined && csrName !== options.name) {
    throw new CsrInvalidError(
      `certificate request: asks for name ${JSON.stringify(csrName)}, the CA was told ${JSON.stringify(options.name)}`
    )
  }
  const name = options.name ?? csrName
  if (name === undefined) throw new CsrInvalidError('certificate request: has no CN and no name was given')
  try {
    assertName('name', name)
  } catch (err) {
    throw new CsrInvalidError(`certificate request: name ${JSON.stringify(name)} is not acceptable`, { cause: err })
  }
  return {
    identityKey: derived.publicKey,
    name,
    spki: parsedCsr.publicKey.keyType === 'ed25519' ? ed25519Spki(parsedCsr.publicKey.raw) : parsedCsr.publicKey.spki
  }
}
