import { createHash } from 'node:crypto'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { assertBytes, assertString, equalBytes, luhnMod32, peerIdTextFromBase32 } from '@peerguard/interface'
import { publicKeyObject, PUBLIC_KEY_LENGTH } from './ed25519.js'
import { InvalidPeerIdError, PeerIdCheckError } from './errors.js'

/**
 * Text form of a peer ID (documented in the identity README):
 *
 *   base32(publicKey)      52 characters, RFC 4648 alphabet A–Z 2–7, no padding
 *   4 chunks of 13         each followed by its Luhn mod 32 check character → 56 characters
 *   8 groups of 7          joined with dashes, e.g. `MFRGGZD-FMZTWQ2-…`
 *
 * The layout is Syncthing's device-ID layout over the raw Ed25519 public key, so the ID is
 * self-certifying and converts back to the key. Check group k (1..4) covers dash groups 2k-1, 2k.
 */
const CHUNK = 13
const CHUNKS = 4
const GROUP = 7
/** Characters of the text form without dashes. */
export const PEER_ID_CHARS = CHUNKS * (CHUNK + 1)

/** Upper-case, drop dashes and spaces, and map look-alikes 0→O, 1→I, 8→B. */
function normalise(text: string): string {
  return text.toUpperCase().replace(/[\s-]/g, '').replace(/0/g, 'O').replace(/1/g, 'I').replace(/8/g, 'B')
}

/** libp2p: protobuf PublicKey { Type = Ed25519 (1), Data = 32 bytes } (libp2p peer-ids spec). */
const LIBP2P_KEY_PREFIX = Uint8Array.from([0x08, 0x01, 0x12, 0x20])
/** multihash identity code 0x00, length 36 (multihash spec; libp2p inlines keys ≤ 42 bytes). */
const LIBP2P_MULTIHASH_PREFIX = Uint8Array.from([0x00, 0x24])

/** A peer's identity: its Ed25519 public key, with the text forms humans and libp2p use. */
export class PeerId {
  readonly publicKey: Uint8Array
  #text: string | undefined

  private constructor(publicKey: Uint8Array) {
    this.publicKey = publicKey
  }

  /** @internal use peerIdFromPublicKey. */
  static fromValidatedKey(publicKey: Uint8Array): PeerId {
    assertBytes('publicKey', publicKey, PUBLIC_KEY_LENGTH)
    return new PeerId(Uint8Array.from(publicKey))
  }

  /** The full text form: 8 dash-separated groups of 7 characters. */
  toString(): string {
    if (this.#text === undefined) {
      this.#text = peerIdTextFromBase32(base32.baseEncode(this.publicKey).toUpperCase())
    }
    return this.#text
  }

  /** The first group: short, for lists where the full ID is shown elsewhere (like Syncthing). */
  toShortString(): string {
    return this.toString().slice(0, GROUP)
  }

  /**
   * `SHA256:` and the unpadded base64 SHA-256 of the raw 32-byte public key. OpenSSH's notation,
   * but not ssh-keygen's value for the same key (OpenSSH hashes its own key blob).
   */
  fingerprint(): string {
    return `SHA256:${createHash('sha256').update(this.publicKey).digest('base64').replace(/=+$/, '')}`
  }

  /** The libp2p PeerId of the same key, base58btc (`12D3KooW…`). */
  toLibp2p(): string {
    return base58btc.baseEncode(this.toLibp2pBytes())
  }

  /** The libp2p PeerId bytes: identity multihash of the protobuf-encoded public key. */
  toLibp2pBytes(): Uint8Array {
    const out = new Uint8Array(LIBP2P_MULTIHASH_PREFIX.length + LIBP2P_KEY_PREFIX.length + PUBLIC_KEY_LENGTH)
    out.set(LIBP2P_MULTIHASH_PREFIX, 0)
    out.set(LIBP2P_KEY_PREFIX, LIBP2P_MULTIHASH_PREFIX.length)
    out.set(this.publicKey, LIBP2P_MULTIHASH_PREFIX.length + LIBP2P_KEY_PREFIX.length)
    return out
  }

  equals(other: PeerId): boolean {
    return other instanceof PeerId && equalBytes(this.publicKey, other.publicKey)
  }

  toJSON(): string {
    return this.toString()
  }
}

/**
 * The peer ID of a 32-byte Ed25519 public key. The bytes are not checked to be a curve point
 * (node:crypto cannot tell); a peer ID of a non-point can never verify a signature.
 */
export function peerIdFromPublicKey(publicKey: Uint8Array): PeerId {
  assertBytes('publicKey', publicKey, PUBLIC_KEY_LENGTH)
  publicKeyObject(publicKey)
  return PeerId.fromValidatedKey(publicKey)
}

/**
 * Parse the text form. Accepts lower case, missing or moved dashes, spaces, and the look-alikes
 * 0/1/8 for O/I/B. A wrong check character throws PeerIdCheckError naming the group.
 */
export function peerIdFromString(text: string): PeerId {
  assertString('peerId', text, { maxLength: 256 })
  // Before upper-casing: 'ı'.toUpperCase() is 'I' and 'ß' becomes 'SS'; only ASCII is a peer ID.
  const foreign = /[^\x20-\x7e\s]/.exec(text)
  if (foreign !== null) {
    throw new InvalidPeerIdError(
      `peer ID: character '${foreign[0]}' at position ${foreign.index + 1} is not in the base32 alphabet`
    )
  }
  const clean = normalise(text)
  if (clean.length !== PEER_ID_CHARS) {
    throw new InvalidPeerIdError(`peer ID: expected ${PEER_ID_CHARS} characters (8 groups of 7), got ${clean.length}`)
  }
  const bad = /[^A-Z2-7]/.exec(clean)
  if (bad !== null) {
    throw new InvalidPeerIdError(`peer ID: character '${bad[0]}' at position ${bad.index + 1} is not in the base32 alphabet`)
  }
  let b32 = ''
  for (let i = 0; i < CHUNKS; i++) {
    const chunk = clean.slice(i * (CHUNK + 1), i * (CHUNK + 1) + CHUNK)
    const check = clean[i * (CHUNK + 1) + CHUNK]
    if (luhnMod32(chunk) !== check) {
      throw new PeerIdCheckError(
        i + 1,
        `peer ID: check character wrong in groups ${2 * i + 1}-${2 * i + 2} (check group ${i + 1} of ${CHUNKS}): a typo there?`
      )
    }
    b32 += chunk
  }
  let key: Uint8Array
  try {
    key = base32.baseDecode(b32.toLowerCase())
  } catch (err) {
    throw new InvalidPeerIdError('peer ID: not valid base32', { cause: err })
  }
  if (key.length !== PUBLIC_KEY_LENGTH) throw new InvalidPeerIdError('peer ID: does not encode a 32-byte key')
  try {
    return peerIdFromPublicKey(key)
  } catch (err) {
    throw new InvalidPeerIdError('peer ID: does not encode a valid Ed25519 public key', { cause: err })
  }
}

/** Parse a libp2p PeerId string (`12D3KooW…`, base58btc, Ed25519 identity multihash). */
export function peerIdFromLibp2p(text: string): PeerId {
  assertString('peerId', text, { maxLength: 128 })
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(text)
  } catch (err) {
    throw new InvalidPeerIdError('libp2p peer ID: not valid base58btc', { cause: err })
  }
  return peerIdFromLibp2pBytes(bytes)
}

/** Parse libp2p PeerId bytes (identity multihash of a protobuf Ed25519 public key). */
export function peerIdFromLibp2pBytes(bytes: Uint8Array): PeerId {
  assertBytes('peerId', bytes)
  const head = LIBP2P_MULTIHASH_PREFIX.length + LIBP2P_KEY_PREFIX.length
  if (bytes.length !== head + PUBLIC_KEY_LENGTH) {
    throw new InvalidPeerIdError(
      `libp2p peer ID: expected the ${head + PUBLIC_KEY_LENGTH}-byte identity multihash of an Ed25519 key, got ${bytes.length} bytes (only Ed25519 peer IDs are supported)`
    )
  }
  if (!equalBytes(bytes.subarray(0, 2), LIBP2P_MULTIHASH_PREFIX) || !equalBytes(bytes.subarray(2, head), LIBP2P_KEY_PREFIX)) {
    throw new InvalidPeerIdError('libp2p peer ID: not an identity multihash of an Ed25519 public key')
  }
  try {
    return peerIdFromPublicKey(bytes.subarray(head))
  } catch (err) {
    throw new InvalidPeerIdError('libp2p peer ID: does not encode a valid Ed25519 public key', { cause: err })
  }
}
