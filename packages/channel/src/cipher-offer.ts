import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import { HandshakeInvalidError } from './errors.js'

/** The transport ciphers a channel can run (Noise cipher names, SPEC.md §2.6). */
export type ChannelCipher = 'AESGCM' | 'ChaChaPoly'

/** Wire identifiers of the ciphers in an offer and in message 2's choice byte (SPEC.md §2.6). */
export const CIPHER_IDS: Readonly<Record<ChannelCipher, number>> = Object.freeze({ ChaChaPoly: 0x01, AESGCM: 0x02 })
/** Version byte that opens an offer. */
const OFFER_VERSION = 0x01
/** Most cipher identifiers in one offer: keeps an offered message 1 (32 + 2 + n bytes) under IK's 96. */
export const MAX_OFFERED_CIPHERS = 16

/**
 * The cipher offer of an XX message 1 (SPEC.md §2.6): the Noise payload of `-> e`, sent in clear
 * and mixed into the handshake hash by both sides, so a changed offer fails message 2.
 *
 *     offer = version: u8 (0x01) | count: u8 (1..16) | count distinct cipher ids (u8, non-zero)
 *
 * Receivers ignore ids they do not know (room for later ciphers); a repeated or zero id, another
 * version or a length that does not match the count is `channel-handshake-invalid`.
 */
export const CipherOffer = {
  /** The offer bytes for ciphers in order of preference. */
  encode(ciphers: readonly ChannelCipher[]): Uint8Array {
    if (!Array.isArray(ciphers) || ciphers.length < 1 || ciphers.length > MAX_OFFERED_CIPHERS)
      throw new InvalidArgumentError(`ciphers: expected an array of 1..${MAX_OFFERED_CIPHERS} cipher names`)
    const out = new Uint8Array(2 + ciphers.length)
    out[0] = OFFER_VERSION
    out[1] = ciphers.length
    for (const [i, c] of (ciphers as readonly unknown[]).entries()) {
      if (typeof c !== 'string' || !Object.hasOwn(CIPHER_IDS, c))
        throw new InvalidArgumentError('ciphers: each must be AESGCM or ChaChaPoly')
      const id = CIPHER_IDS[c as ChannelCipher]
      if (out.subarray(2, 2 + i).includes(id)) throw new InvalidArgumentError('ciphers: a cipher is listed twice')
      out[2 + i] = id
    }
    return out
  },

  /** The offered ids in the sender's order of preference. Throws HandshakeInvalidError for a malformed offer. */
  decode(bytes: Uint8Array): number[] {
    assertBytes('offer', bytes)
    if (bytes.length < 3 || bytes[0] !== OFFER_VERSION)
      throw new HandshakeInvalidError('message 1: the cipher offer is malformed (version or length)')
    const count = bytes[1] as number
    if (count < 1 || count > MAX_OFFERED_CIPHERS || bytes.length !== 2 + count)
      throw new HandshakeInvalidError(
        `message 1: the cipher offer has ${bytes.length - 2} ids, not a count of 1..${MAX_OFFERED_CIPHERS}`
      )
    const ids = Array.from(bytes.subarray(2))
    if (ids.includes(0) || new Set(ids).size !== ids.length)
      throw new HandshakeInvalidError('message 1: the cipher offer repeats an id or holds id 0')
    return ids
  },

  /** The cipher of an id, or undefined for an id this implementation does not know. */
  cipherOf(id: number): ChannelCipher | undefined {
    if (id === CIPHER_IDS.ChaChaPoly) return 'ChaChaPoly'
    if (id === CIPHER_IDS.AESGCM) return 'AESGCM'
    return undefined
  },

  /** The responder's pick: the first of its own ciphers, in its order, that the offer holds. */
  choose(own: readonly ChannelCipher[], offered: readonly number[]): ChannelCipher | undefined {
    return own.find((c) => offered.includes(CIPHER_IDS[c]))
  },

  /** The XX protocol name for a cipher, e.g. `Noise_XX_25519_AESGCM_SHA256`. */
  xxProtocolName(cipher: ChannelCipher): string {
    return `Noise_XX_25519_${cipher}_SHA256`
  }
}
