import { createCipheriv, createDecipheriv } from 'node:crypto'
import { InvalidArgumentError } from '@peerguard/interface'
import { ChannelDecryptError, NoiseNonceExhaustedError } from './errors.js'
import { CipherState } from './noise/noise.js'
import { aesGcmNonce, chachaNonce, type NoiseCipher, nodeAesGcm, nodeChaChaPoly, TAG_LENGTH } from './noise/primitives.js'

/** Nonces stop at 2^53 - 1 (SPEC.md §3.1; the Noise limit is 2^64 - 1). */
const MAX_NONCE = Number.MAX_SAFE_INTEGER
/** REKEY uses the reserved nonce 2^64 - 1 (Noise rev 34 §4.2). */
const REKEY_NONCE = 0xffff_ffff_ffff_ffffn
const ZEROS_32 = new Uint8Array(32)
const EMPTY = new Uint8Array(0)
/** The frame type bytes (SPEC.md §3.2), made once instead of once per frame. */
const TYPE_BYTES = [0, 1, 2, 3, 4].map((t) => Uint8Array.of(t))

/** The node:crypto AEADs a transport runs, by Noise cipher name (SPEC.md §3.1). */
const AEADS: Record<string, { algorithm: 'chacha20-poly1305' | 'aes-256-gcm'; nonce: typeof chachaNonce; noise: NoiseCipher }> = {
  ChaChaPoly: { algorithm: 'chacha20-poly1305', nonce: chachaNonce, noise: nodeChaChaPoly },
  AESGCM: { algorithm: 'aes-256-gcm', nonce: aesGcmNonce, noise: nodeAesGcm }
}

/**
 * One direction of the transport: a ChaCha20-Poly1305 or AES-256-GCM key (the cipher the
 * handshake ran) and its counter nonce, with the zero-copy frame encryption the channel's hot path
 * needs (node:crypto, one cipher object per frame). `epoch` counts rekeys so tests can check that
 * a (key, nonce) pair is never used twice.
 */
export class TransportCipher {
  #key: Buffer
  #n = 0
  #epoch = 0
  readonly #nonce = Buffer.alloc(12)
  /** The Noise cipher name: `ChaChaPoly` or `AESGCM`. */
  readonly cipherName: string
  readonly #algorithm: 'aes-256-gcm'
  readonly #nonceOf: typeof chachaNonce
  readonly #noise: NoiseCipher

  constructor(state: CipherState) {
    const key = state instanceof CipherState ? state.key : undefined
    if (key === undefined) throw new InvalidArgumentError('state: expected a CipherState with a key')
    const aead = AEADS[state.cipherName]
    if (aead === undefined) throw new InvalidArgumentError('state: the transport runs ChaChaPoly or AESGCM only')
    this.cipherName = state.cipherName
    // One overload per family in the typings; both take the same options.
    this.#algorithm = aead.algorithm as 'aes-256-gcm'
    this.#nonceOf = aead.nonce
    this.#noise = aead.noise
    this.#key = Buffer.from(key)
    state.clear()
  }

  /** The next nonce. */
  get nonce(): number {
    return this.#n
  }

  /** Number of rekeys so far. */
  get epoch(): number {
    return this.#epoch
  }

  #nextNonce(): Buffer {
    if (this.#n >= MAX_NONCE) throw new NoiseNonceExhaustedError()
    return this.#nonceOf(this.#n++, this.#nonce)
  }

  /**
   * Encrypt `type ‖ parts` into one frame: the 2-byte length header with the encrypted type byte,
   * the encrypted parts, then the tag. Returns the buffers to write, in order.
   */
  seal(type: number, parts: readonly Uint8Array[], bodyLength: number): Buffer[] {
    // The associated data is empty (SPEC.md §3.1), so no setAAD call.
    const c = createCipheriv(this.#algorithm, this.#key, this.#nextNonce(), { authTagLength: TAG_LENGTH })
    const head = Buffer.allocUnsafe(3)
    head.writeUInt16BE(1 + bodyLength + TAG_LENGTH, 0)
    head[2] = (c.update(TYPE_BYTES[type] ?? Uint8Array.of(type)) as Buffer)[0] as number
    const out: Buffer[] = [head]
    for (const p of parts) if (p.length > 0) out.push(c.update(p))
    c.final()
    out.push(c.getAuthTag())
    return out
  }

  /**
   * Decrypt a frame body given as pieces. Returns the frame type and the plaintext body pieces,
   * released only after the tag verified; throws ChannelDecryptError otherwise.
   */
  open(pieces: readonly Buffer[], length: number): { type: number; body: Buffer[] } {
    const nonce = this.#nextNonce()
    const d = createDecipheriv(this.#algorithm, this.#key, nonce, { authTagLength: TAG_LENGTH })
    const bodyLength = length - TAG_LENGTH
    const out: Buffer[] = []
    let offset = 0
    const tagParts: Buffer[] = []
    for (const p of pieces) {
      const end = offset + p.length
      if (end <= bodyLength) {
        out.push(d.update(p))
      } else if (offset >= bodyLength) {
        tagParts.push(p)
      } else {
        out.push(d.update(p.subarray(0, bodyLength - offset)))
        tagParts.push(p.subarray(bodyLength - offset))
      }
      offset = end
    }
    d.setAuthTag(tagParts.length === 1 ? (tagParts[0] as Buffer) : Buffer.concat(tagParts))
    try {
      d.final()
    } catch (err) {
      for (const b of out) b.fill(0)
      throw new ChannelDecryptError(undefined, { cause: err })
    }
    const first = out[0] as Buffer
    const type = first[0] as number
    out[0] = first.subarray(1)
    return { type, body: out }
  }

  /** REKEY(k) (Noise rev 34 §4.2); the nonce counter continues. */
  rekey(): void {
    const next = this.#noise.encrypt(this.#key, REKEY_NONCE, EMPTY, ZEROS_32).subarray(0, 32)
    this.#key.fill(0)
    this.#key = Buffer.from(next)
    this.#epoch++
  }

  /** @internal for tests: a fingerprint of the current key (never the key). */
  keyId(): string {
    return Buffer.from(this.#noise.encrypt(this.#key, REKEY_NONCE - 1n, EMPTY, EMPTY)).toString('hex')
  }

  clear(): void {
    this.#key.fill(0)
  }
}
