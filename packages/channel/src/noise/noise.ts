import { assertBytes, describeValue, InvalidArgumentError } from '@peerguard/interface'
import { NoiseMessageError, NoiseNonceExhaustedError, NoiseStateError, NoiseUnsupportedProtocolError } from '../errors.js'
import { type HandshakePattern, type ProtocolName, parseProtocolName, type Token } from './patterns.js'
import {
  type NoiseCipher,
  type NoiseCryptoProvider,
  type NoiseDH,
  type NoiseHash,
  type NoiseKeyPair,
  nodeCryptoProvider,
  TAG_LENGTH
} from './primitives.js'

/**
 * The Noise Protocol Framework, revision 34 (https://noiseprotocol.org/noise.html), §5:
 * CipherState, SymmetricState and HandshakeState, for any pattern of `patterns.ts` with the
 * `psk` modifiers, over a pluggable crypto provider. It reads top to bottom like the spec.
 */

/** Largest Noise message in bytes (§3). */
export const MAX_NOISE_MESSAGE = 65535
/** Keys are 32 bytes (§5.1). */
const KEY_LENGTH = 32
/** 2^64 - 1 is reserved for rekey (§5.1); counters stay below it. Nonces above 2^53 are refused. */
const MAX_SAFE_NONCE = Number.MAX_SAFE_INTEGER
const REKEY_NONCE = 0xffff_ffff_ffff_ffffn
const EMPTY = new Uint8Array(0)
const ZEROS_32 = new Uint8Array(32)

/** §5.1: a key (or none) and a nonce counter. */
export class CipherState {
  #k: Uint8Array | undefined
  #n = 0
  readonly #cipher: NoiseCipher

  constructor(cipher: NoiseCipher, key?: Uint8Array) {
    this.#cipher = cipher
    if (key !== undefined) this.initializeKey(key)
  }

  initializeKey(key: Uint8Array | undefined): void {
    this.#k = key === undefined ? undefined : Uint8Array.from(key)
    this.#n = 0
  }

  hasKey(): boolean {
    return this.#k !== undefined
  }

  /** The next nonce this state will use. */
  get nonce(): number {
    return this.#n
  }

  setNonce(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`nonce: expected a non-negative safe integer, got ${n}`)
    this.#n = n
  }

  /** @internal The raw key, for the transport fast path. */
  get key(): Uint8Array | undefined {
    return this.#k
  }

  /** The cipher's name in the protocol name (`ChaChaPoly`, `AESGCM`). */
  get cipherName(): string {
    return this.#cipher.name
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#k === undefined) return plaintext
    if (this.#n >= MAX_SAFE_NONCE) throw new NoiseNonceExhaustedError()
    const out = this.#cipher.encrypt(this.#k, this.#n, ad, plaintext)
    this.#n++
    return out
  }

  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#k === undefined) return ciphertext
    if (this.#n >= MAX_SAFE_NONCE) throw new NoiseNonceExhaustedError()
    const out = this.#cipher.decrypt(this.#k, this.#n, ad, ciphertext) // throws before n moves on
    this.#n++
    return out
  }

  /** REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64-1, zerolen, zeros) (§4.2). The nonce is kept. */
  rekey(): void {
    if (this.#k === undefined) throw new NoiseStateError('rekey: the cipher state has no key')
    const next = this.#cipher.encrypt(this.#k, REKEY_NONCE, EMPTY, ZEROS_32).subarray(0, KEY_LENGTH)
    this.#k.fill(0)
    this.#k = Uint8Array.from(next)
  }

  /** Forget the key. */
  clear(): void {
    this.#k?.fill(0)
    this.#k = undefined
  }
}

/** §5.2: the chaining key and handshake hash. */
export class SymmetricState {
  readonly cipherState: CipherState
  #ck: Uint8Array
  #h: Uint8Array
  readonly #hash: NoiseHash
  readonly #cipher: NoiseCipher

  constructor(protocolName: string, hash: NoiseHash, cipher: NoiseCipher) {
    this.#hash = hash
    this.#cipher = cipher
    const name = new TextEncoder().encode(protocolName)
    if (name.length <= hash.hashLen) {
      this.#h = new Uint8Array(hash.hashLen)
      this.#h.set(name)
    } else {
      this.#h = hash.hash(name)
    }
    this.#ck = Uint8Array.from(this.#h)
    this.cipherState = new CipherState(cipher)
  }

  /** HKDF(chaining_key, input_key_material, num_outputs) as defined in §4.3 (HMAC-based). */
  #hkdf(ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
    if (this.#hash.hkdf !== undefined) return this.#hash.hkdf(this.#ck, ikm, outputs)
    const temp = this.#hash.hmac(this.#ck, ikm)
    const o1 = this.#hash.hmac(temp, Uint8Array.of(1))
    const o2 = this.#hash.hmac(temp, o1, Uint8Array.of(2))
    const out = [o1, o2]
    if (outputs === 3) out.push(this.#hash.hmac(temp, o2, Uint8Array.of(3)))
    temp.fill(0)
    return out
  }

  /** Truncate a HASHLEN output to a 32-byte key (§5.2, for HASHLEN 64). */
  #key(bytes: Uint8Array): Uint8Array {
    return bytes.length === KEY_LENGTH ? bytes : bytes.subarray(0, KEY_LENGTH)
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = this.#hkdf(ikm, 2) as [Uint8Array, Uint8Array]
    this.#ck.fill(0)
    this.#ck = ck
    this.cipherState.initializeKey(this.#key(tempK))
    tempK.fill(0)
  }

  mixHash(data: Uint8Array): void {
    this.#h = this.#hash.hash(this.#h, data)
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = this.#hkdf(ikm, 3) as [Uint8Array, Uint8Array, Uint8Array]
    this.#ck.fill(0)
    this.#ck = ck
    this.mixHash(tempH)
    this.cipherState.initializeKey(this.#key(tempK))
    tempK.fill(0)
  }

  get handshakeHash(): Uint8Array {
    return Uint8Array.from(this.#h)
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipherState.encryptWithAd(this.#h, plaintext)
    this.mixHash(ciphertext)
    return ciphertext
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipherState.decryptWithAd(this.#h, ciphertext)
    this.mixHash(ciphertext)
    return plaintext
  }

  /** Two cipher states for transport: the first for initiator → responder. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = this.#hkdf(EMPTY, 2) as [Uint8Array, Uint8Array]
    const out: [CipherState, CipherState] = [
      new CipherState(this.#cipher, this.#key(k1)),
      new CipherState(this.#cipher, this.#key(k2))
    ]
    k1.fill(0)
    k2.fill(0)
    this.#ck.fill(0)
    this.cipherState.clear()
    return out
  }
}

export type NoiseRole = 'initiator' | 'responder'

export interface HandshakeStateOptions {
  /** Full protocol name, e.g. `Noise_XX_25519_ChaChaPoly_SHA256`. */
  protocolName: string
  role: NoiseRole
  /** Prologue bytes both sides must agree on (§6). Default empty. */
  prologue?: Uint8Array
  /** Local static private key (its public key is derived). Required when the pattern sends or pre-shares `s`. */
  staticPrivateKey?: Uint8Array
  /** Local static key pair (instead of `staticPrivateKey`, saves deriving the public key). */
  staticKeyPair?: NoiseKeyPair
  /** Fixed local ephemeral private key, for test vectors only. Default: a fresh key per `e` token. */
  ephemeralPrivateKey?: Uint8Array
  /**
   * A local ephemeral key pair made beforehand (instead of `ephemeralPrivateKey`): the channel's
   * initiator sends its `e` before it knows which cipher the responder picks, then runs the
   * handshake under the chosen protocol name with that same key (SPEC.md §2.6).
   */
  ephemeralKeyPair?: NoiseKeyPair
  /** The remote static public key, when the pattern pre-shares it (`K`, `IK`, `NK`…). */
  remoteStaticPublicKey?: Uint8Array
  /** The remote ephemeral public key, for patterns that pre-share it. */
  remoteEphemeralPublicKey?: Uint8Array
  /** Pre-shared keys (32 bytes each) in the order of the `psk` tokens. */
  psks?: Uint8Array[]
  /** Crypto functions. Default: node:crypto. */
  crypto?: NoiseCryptoProvider
}

/** The result of the final handshake message: transport cipher states and the handshake hash. */
export interface HandshakeResult {
  /** Cipher state this side sends with. */
  readonly send: CipherState
  /** Cipher state this side receives with (for one-way patterns the responder's side only). */
  readonly receive: CipherState
  /** The handshake hash h, a channel binding value (§11.2). */
  readonly handshakeHash: Uint8Array
  readonly remoteStaticPublicKey: Uint8Array | undefined
}

/**
 * Parsed protocol names, frozen: a channel runs the same one or two protocols for every
 * connection, so each is parsed once. Only valid names are kept; bounded, oldest dropped first.
 */
const protocolNames = new Map<string, ProtocolName>()
const PROTOCOL_NAMES_MAX = 256

function protocolName(name: string): ProtocolName {
  const hit = typeof name === 'string' ? protocolNames.get(name) : undefined
  if (hit !== undefined) return hit
  const parsed = parseProtocolName(name)
  const p = parsed.pattern
  for (const m of p.messages) Object.freeze(m)
  Object.freeze(p.messages)
  Object.freeze(p.initiatorPre)
  Object.freeze(p.responderPre)
  Object.freeze(p)
  Object.freeze(parsed)
  if (protocolNames.size >= PROTOCOL_NAMES_MAX) protocolNames.delete(protocolNames.keys().next().value as string)
  protocolNames.set(name, parsed)
  return parsed
}

/** §5.3: runs the message patterns of one handshake, for one side. */
export class HandshakeState {
  readonly role: NoiseRole
  readonly pattern: HandshakePattern
  readonly #ss: SymmetricState
  readonly #dh: NoiseDH
  #s: NoiseKeyPair | undefined
  #e: NoiseKeyPair | undefined
  #rs: Uint8Array | undefined
  #re: Uint8Array | undefined
  readonly #fixedE: Uint8Array | undefined
  readonly #psks: Uint8Array[]
  readonly #pskMode: boolean
  #index = 0
  #result: HandshakeResult | undefined

  constructor(options: HandshakeStateOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
    if (options.role !== 'initiator' && options.role !== 'responder') {
      throw new InvalidArgumentError(`role: expected 'initiator' or 'responder', got ${describeValue(options.role)}`)
    }
    const name = protocolName(options.protocolName)
    const crypto = options.crypto ?? nodeCryptoProvider
    const dh = crypto.dh[name.dh]
    const cipher = crypto.cipher[name.cipher]
    const hash = crypto.hash[name.hash]
    if (dh === undefined) throw new NoiseUnsupportedProtocolError(`Noise DH function ${name.dh} is not supported`)
    if (cipher === undefined) throw new NoiseUnsupportedProtocolError(`Noise cipher ${name.cipher} is not supported`)
    if (hash === undefined) throw new NoiseUnsupportedProtocolError(`Noise hash ${name.hash} is not supported`)
    const prologue = options.prologue ?? EMPTY
    assertBytes('prologue', prologue)
    if (options.staticPrivateKey !== undefined) assertBytes('staticPrivateKey', options.staticPrivateKey, dh.dhLen)
    if (options.ephemeralPrivateKey !== undefined) assertBytes('ephemeralPrivateKey', options.ephemeralPrivateKey, dh.dhLen)
    if (options.remoteStaticPublicKey !== undefined) assertBytes('remoteStaticPublicKey', options.remoteStaticPublicKey, dh.dhLen)
    if (options.remoteEphemeralPublicKey !== undefined)
      assertBytes('remoteEphemeralPublicKey', options.remoteEphemeralPublicKey, dh.dhLen)
    const psks = options.psks ?? []
    if (!Array.isArray(psks)) throw new InvalidArgumentError('psks: expected an array')
    for (const [i, p] of psks.entries()) assertBytes(`psks[${i}]`, p, KEY_LENGTH)

    this.role = options.role
    this.pattern = name.pattern
    this.#dh = dh
    this.#ss = new SymmetricState(name.name, hash, cipher)
    if (options.staticKeyPair !== undefined) {
      assertBytes('staticKeyPair.publicKey', options.staticKeyPair.publicKey, dh.dhLen)
      assertBytes('staticKeyPair.privateKey', options.staticKeyPair.privateKey, dh.dhLen)
    }
    this.#s =
      options.staticKeyPair ??
      (options.staticPrivateKey === undefined ? undefined : dh.keyPairFromPrivate(options.staticPrivateKey))
    this.#fixedE = options.ephemeralPrivateKey
    if (options.ephemeralKeyPair !== undefined) {
      assertBytes('ephemeralKeyPair.publicKey', options.ephemeralKeyPair.publicKey, dh.dhLen)
      assertBytes('ephemeralKeyPair.privateKey', options.ephemeralKeyPair.privateKey, dh.dhLen)
      this.#e = options.ephemeralKeyPair
    }
    this.#rs = options.remoteStaticPublicKey === undefined ? undefined : Uint8Array.from(options.remoteStaticPublicKey)
    this.#re = options.remoteEphemeralPublicKey === undefined ? undefined : Uint8Array.from(options.remoteEphemeralPublicKey)
    this.#psks = psks.map((p) => Uint8Array.from(p))
    this.#pskMode = this.pattern.messages.some((m) => m.includes('psk'))
    const pskCount = this.pattern.messages.reduce((n, m) => n + m.filter((t) => t === 'psk').length, 0)
    if (this.#psks.length !== pskCount)
      throw new InvalidArgumentError(`psks: the pattern needs ${pskCount} pre-shared keys, got ${this.#psks.length}`)

    this.#ss.mixHash(prologue)
    // Pre-messages (§7.1): the initiator's public keys first, then the responder's.
    const initiator = this.role === 'initiator'
    for (const [tokens, local] of [
      [this.pattern.initiatorPre, initiator],
      [this.pattern.responderPre, !initiator]
    ] as const) {
      for (const token of tokens) {
        const key = token === 's' ? (local ? this.#s?.publicKey : this.#rs) : local ? this.#ephemeral().publicKey : this.#re
        if (key === undefined)
          throw new InvalidArgumentError(
            `the pattern pre-shares ${local ? 'the local' : 'the remote'} ${token === 's' ? 'static' : 'ephemeral'} key, which was not given`
          )
        this.#ss.mixHash(key)
        if (token === 'e' && this.#pskMode) this.#ss.mixKey(key)
      }
    }
  }

  #ephemeral(): NoiseKeyPair {
    if (this.#e === undefined)
      this.#e = this.#fixedE === undefined ? this.#dh.generateKeyPair() : this.#dh.keyPairFromPrivate(this.#fixedE)
    return this.#e
  }

  /** True when this side sends the next message. */
  get isMyTurn(): boolean {
    return (this.#index % 2 === 0) === (this.role === 'initiator')
  }

  get isComplete(): boolean {
    return this.#result !== undefined
  }

  /** The handshake hash so far (the final one once complete). */
  get handshakeHash(): Uint8Array {
    return this.#result?.handshakeHash ?? this.#ss.handshakeHash
  }

  /** The remote static public key, once received (or pre-shared). */
  get remoteStaticPublicKey(): Uint8Array | undefined {
    return this.#rs
  }

  get localStaticPublicKey(): Uint8Array | undefined {
    return this.#s?.publicKey
  }

  /** The transport cipher states, once the handshake is complete. */
  get result(): HandshakeResult {
    if (this.#result === undefined) throw new NoiseStateError('the handshake is not complete')
    return this.#result
  }

  #dhToken(token: 'ee' | 'es' | 'se' | 'ss'): void {
    // `es`: DH(e, rs) for the initiator, DH(s, re) for the responder; `se` the mirror (§5.3).
    const initiator = this.role === 'initiator'
    const localKey = (ch: string) => {
      const k = ch === 'e' ? this.#e : this.#s
      if (k === undefined)
        throw new NoiseStateError(`token ${token}: the local ${ch === 'e' ? 'ephemeral' : 'static'} key is missing`)
      return k.privateKey
    }
    const remoteKey = (ch: string) => {
      const k = ch === 'e' ? this.#re : this.#rs
      if (k === undefined)
        throw new NoiseStateError(`token ${token}: the remote ${ch === 'e' ? 'ephemeral' : 'static'} key is missing`)
      return k
    }
    const [a, b] = [token[0] as string, token[1] as string]
    const shared = initiator ? this.#dh.dh(localKey(a), remoteKey(b)) : this.#dh.dh(localKey(b), remoteKey(a))
    this.#ss.mixKey(shared)
    shared.fill(0)
  }

  #nextPattern(writing: boolean): readonly Token[] {
    if (this.#result !== undefined) throw new NoiseStateError('the handshake is already complete')
    if (this.isMyTurn !== writing)
      throw new NoiseStateError(writing ? 'it is the remote side’s turn to send' : 'it is this side’s turn to send')
    return this.pattern.messages[this.#index] as readonly Token[]
  }

  #psk(): Uint8Array {
    const psk = this.#psks.shift()
    if (psk === undefined) throw new NoiseStateError('psk token without a pre-shared key')
    return psk
  }

  /** WriteMessage(payload): the next handshake message (§5.3). */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    assertBytes('payload', payload)
    const tokens = this.#nextPattern(true)
    const parts: Uint8Array[] = []
    for (const token of tokens) {
      if (token === 'e') {
        const e = this.#ephemeral()
        parts.push(e.publicKey)
        this.#ss.mixHash(e.publicKey)
        if (this.#pskMode) this.#ss.mixKey(e.publicKey)
      } else if (token === 's') {
        if (this.#s === undefined) throw new NoiseStateError('token s: no local static key was given')
        parts.push(this.#ss.encryptAndHash(this.#s.publicKey))
      } else if (token === 'psk') {
        this.#ss.mixKeyAndHash(this.#psk())
      } else {
        this.#dhToken(token)
      }
    }
    parts.push(this.#ss.encryptAndHash(payload))
    const message = Buffer.concat(parts)
    if (message.length > MAX_NOISE_MESSAGE)
      throw new InvalidArgumentError(`payload: the message would be ${message.length} bytes, over ${MAX_NOISE_MESSAGE}`)
    this.#advance()
    return message
  }

  /** ReadMessage(message): the payload of the next handshake message (§5.3). */
  readMessage(message: Uint8Array): Uint8Array {
    assertBytes('message', message)
    const tokens = this.#nextPattern(false)
    if (message.length > MAX_NOISE_MESSAGE)
      throw new NoiseMessageError(`handshake message of ${message.length} bytes is over ${MAX_NOISE_MESSAGE}`)
    const dhLen = this.#dh.dhLen
    let offset = 0
    const take = (n: number): Uint8Array => {
      if (offset + n > message.length) throw new NoiseMessageError('handshake message too short')
      const out = message.subarray(offset, offset + n)
      offset += n
      return out
    }
    for (const token of tokens) {
      if (token === 'e') {
        this.#re = Uint8Array.from(take(dhLen))
        this.#ss.mixHash(this.#re)
        if (this.#pskMode) this.#ss.mixKey(this.#re)
      } else if (token === 's') {
        const len = this.#ss.cipherState.hasKey() ? dhLen + TAG_LENGTH : dhLen
        this.#rs = Uint8Array.from(this.#ss.decryptAndHash(take(len)))
      } else if (token === 'psk') {
        this.#ss.mixKeyAndHash(this.#psk())
      } else {
        this.#dhToken(token)
      }
    }
    const rest = message.subarray(offset)
    if (this.#ss.cipherState.hasKey() && rest.length < TAG_LENGTH)
      throw new NoiseMessageError('handshake message too short for its payload tag')
    const payload = this.#ss.decryptAndHash(rest)
    this.#advance()
    return payload
  }

  #advance(): void {
    this.#index++
    if (this.#index < this.pattern.messages.length) return
    const handshakeHash = this.#ss.handshakeHash
    const [c1, c2] = this.#ss.split()
    const initiator = this.role === 'initiator'
    this.#result = {
      send: initiator ? c1 : c2,
      receive: initiator ? c2 : c1,
      handshakeHash,
      remoteStaticPublicKey: this.#rs
    }
    this.#e?.privateKey.fill(0)
  }
}
