import { gcm } from '@noble/ciphers/aes.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'

/**
 * A second, independent Noise implementation for the known-answer tests: the handshake of the
 * Noise Protocol Framework rev 34 (§5 processing rules, §7 patterns, §9 psk modifiers, §18
 * deferred patterns) for 25519_ChaChaPoly_SHA256 and 25519_AESGCM_SHA256, on @noble primitives, written from the
 * spec and sharing no code with `@peerguard/channel` (not its pattern table, state machine or
 * crypto provider). It exists to give every vector a handshake hash computed without our code:
 * snow's vectors carry none. Test-only; it trusts its inputs.
 */

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk'
interface Pattern {
  /** Pre-message tokens of the initiator (`->`) and responder (`<-`): only `s` occurs here. */
  readonly preInitiator: readonly 's'[]
  readonly preResponder: readonly 's'[]
  /** Message patterns, alternating initiator → responder from the first. */
  readonly messages: readonly (readonly Token[])[]
}

const p = (pre: string, messages: string): Pattern => {
  const [i = '', r = ''] = pre.split('|')
  return {
    preInitiator: i === '' ? [] : ['s'],
    preResponder: r === '' ? [] : ['s'],
    messages: messages.split(';').map((m) => m.split(',').map((t) => t.trim()) as Token[])
  }
}

/** Noise rev 34: §7.4 one-way, §7.5 interactive, §18.2 deferred. `pre` is "initiator|responder". */
const PATTERNS: Record<string, Pattern> = {
  N: p('|s', 'e, es'),
  K: p('s|s', 'e, es, ss'),
  X: p('|s', 'e, es, s, ss'),
  NN: p('|', 'e; e, ee'),
  NK: p('|s', 'e, es; e, ee'),
  NX: p('|', 'e; e, ee, s, es'),
  XN: p('|', 'e; e, ee; s, se'),
  XK: p('|s', 'e, es; e, ee; s, se'),
  XX: p('|', 'e; e, ee, s, es; s, se'),
  KN: p('s|', 'e; e, ee, se'),
  KK: p('s|s', 'e, es, ss; e, ee, se'),
  KX: p('s|', 'e; e, ee, se, s, es'),
  IN: p('|', 'e, s; e, ee, se'),
  IK: p('|s', 'e, es, s, ss; e, ee, se'),
  IX: p('|', 'e, s; e, ee, se, s, es'),
  NK1: p('|s', 'e; e, ee, es'),
  NX1: p('|', 'e; e, ee, s; es'),
  X1N: p('|', 'e; e, ee; s; se'),
  X1K: p('|s', 'e, es; e, ee; s; se'),
  XK1: p('|s', 'e; e, ee, es; s, se'),
  X1K1: p('|s', 'e; e, ee, es; s; se'),
  X1X: p('|', 'e; e, ee, s, es; s; se'),
  XX1: p('|', 'e; e, ee, s; es, s, se'),
  X1X1: p('|', 'e; e, ee, s; es, s; se'),
  K1N: p('s|', 'e; e, ee; se'),
  K1K: p('s|s', 'e, es; e, ee; se'),
  KK1: p('s|s', 'e; e, ee, se, es'),
  K1K1: p('s|s', 'e; e, ee, es; se'),
  K1X: p('s|', 'e; e, ee, s, es; se'),
  KX1: p('s|', 'e; e, ee, se, s; es'),
  K1X1: p('s|', 'e; e, ee, s; se, es'),
  I1N: p('|', 'e, s; e, ee; se'),
  I1K: p('|s', 'e, es, s; e, ee; se'),
  IK1: p('|s', 'e, s; e, ee, se, es'),
  I1K1: p('|s', 'e, s; e, ee, es; se'),
  I1X: p('|', 'e, s; e, ee, s, es; se'),
  IX1: p('|', 'e, s; e, ee, se, s; es'),
  I1X1: p('|', 'e, s; e, ee, s; se, es')
}

/** `NNpsk0+psk2` → NN with a psk token first in message 1 and last in message 2 (§9.2). */
function patternOf(protocolName: string): { pattern: Pattern; psk: boolean; aead: Aead } {
  const m = /^Noise_([A-Z0-9]+?)((?:psk\d)(?:\+psk\d)*)?_25519_(ChaChaPoly|AESGCM)_SHA256$/.exec(protocolName)
  const base = m === null ? undefined : PATTERNS[m[1] as string]
  if (m === null || base === undefined) throw new Error(`reference: no pattern for ${protocolName}`)
  const messages = base.messages.map((t) => [...t])
  const mods = m[2] === undefined ? [] : m[2].split('+').map((x) => Number(x.slice(3)))
  for (const n of mods) {
    if (n === 0) messages[0]?.unshift('psk')
    else messages[n - 1]?.push('psk')
  }
  return { pattern: { ...base, messages }, psk: mods.length > 0, aead: m[3] === 'AESGCM' ? aesGcm : chachaPoly }
}

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))
/** §12.3: ChaChaPoly's nonce is 4 zero bytes then n little-endian; §12.4: AESGCM's, n big-endian. */
const nonce = (n: number, littleEndian: boolean): Uint8Array => {
  const out = new Uint8Array(12)
  new DataView(out.buffer).setBigUint64(4, BigInt(n), littleEndian)
  return out
}
type Aead = (
  k: Uint8Array,
  n: number,
  ad: Uint8Array
) => { encrypt(b: Uint8Array): Uint8Array; decrypt(b: Uint8Array): Uint8Array }
const chachaPoly: Aead = (k, n, ad) => chacha20poly1305(k, nonce(n, true), ad)
const aesGcm: Aead = (k, n, ad) => gcm(k, nonce(n, false), ad)

class Cipher {
  k: Uint8Array | undefined
  n = 0
  readonly aead: Aead
  constructor(aead: Aead, k?: Uint8Array) {
    this.aead = aead
    this.k = k
  }
  encrypt(ad: Uint8Array, pt: Uint8Array): Uint8Array {
    if (this.k === undefined) return pt
    return this.aead(this.k, this.n++, ad).encrypt(pt)
  }
  decrypt(ad: Uint8Array, ct: Uint8Array): Uint8Array {
    if (this.k === undefined) return ct
    return this.aead(this.k, this.n++, ad).decrypt(ct)
  }
}

/** §4.3 HKDF with HMAC-SHA256. */
function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmac(sha256, ck, ikm)
  const o1 = hmac(sha256, temp, Uint8Array.of(1))
  const o2 = hmac(sha256, temp, concat(o1, Uint8Array.of(2)))
  return n === 2 ? [o1, o2] : [o1, o2, hmac(sha256, temp, concat(o2, Uint8Array.of(3)))]
}

/** The keys one side starts with, as in the vector files (private keys; remote static is public). */
export interface ReferenceKeys {
  prologue: Uint8Array
  staticPrivate?: Uint8Array
  ephemeralPrivate?: Uint8Array
  remoteStatic?: Uint8Array
  psks: Uint8Array[]
}

/** One side of a handshake (§5.3), then its transport ciphers. */
export class ReferenceParty {
  h: Uint8Array
  ck: Uint8Array
  c: Cipher
  readonly #aead: Aead
  readonly #initiator: boolean
  readonly #pattern: Pattern
  readonly #psk: boolean
  readonly #s: { priv: Uint8Array; pub: Uint8Array } | undefined
  readonly #e: { priv: Uint8Array; pub: Uint8Array } | undefined
  #rs: Uint8Array | undefined
  #re: Uint8Array | undefined
  readonly #psks: Uint8Array[]
  #next = 0
  send: Cipher | undefined
  receive: Cipher | undefined

  constructor(protocolName: string, initiator: boolean, keys: ReferenceKeys) {
    const { pattern, psk, aead } = patternOf(protocolName)
    this.#aead = aead
    this.c = new Cipher(aead)
    this.#initiator = initiator
    this.#pattern = pattern
    this.#psk = psk
    const pair = (priv?: Uint8Array) => (priv === undefined ? undefined : { priv, pub: x25519.getPublicKey(priv) })
    this.#s = pair(keys.staticPrivate)
    this.#e = pair(keys.ephemeralPrivate)
    this.#rs = keys.remoteStatic
    this.#psks = [...keys.psks]
    const name = new TextEncoder().encode(protocolName)
    this.h = name.length <= 32 ? concat(name, new Uint8Array(32 - name.length)) : sha256(name)
    this.ck = this.h
    this.#mixHash(keys.prologue)
    const own = (x: { pub: Uint8Array } | undefined) => (x as { pub: Uint8Array }).pub
    for (const _ of pattern.preInitiator) this.#mixHash(initiator ? own(this.#s) : (this.#rs as Uint8Array))
    for (const _ of pattern.preResponder) this.#mixHash(initiator ? (this.#rs as Uint8Array) : own(this.#s))
  }

  get complete(): boolean {
    return this.#next >= this.#pattern.messages.length
  }

  #mixHash(data: Uint8Array): void {
    this.h = sha256(concat(this.h, data))
  }
  #mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array]
    this.ck = ck
    this.c = new Cipher(this.#aead, k)
  }
  #mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, h, k] = hkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array]
    this.ck = ck
    this.#mixHash(h)
    this.c = new Cipher(this.#aead, k)
  }
  #encryptAndHash(pt: Uint8Array): Uint8Array {
    const ct = this.c.encrypt(this.h, pt)
    this.#mixHash(ct)
    return ct
  }
  #decryptAndHash(ct: Uint8Array): Uint8Array {
    const pt = this.c.decrypt(this.h, ct)
    this.#mixHash(ct)
    return pt
  }
  #dh(token: 'ee' | 'es' | 'se' | 'ss'): void {
    // es: initiator's ephemeral with responder's static; se: initiator's static with responder's ephemeral.
    const mine = token === 'ee' ? this.#e : token === 'ss' ? this.#s : (token === 'es') === this.#initiator ? this.#e : this.#s
    const theirs =
      token === 'ee' ? this.#re : token === 'ss' ? this.#rs : (token === 'es') === this.#initiator ? this.#rs : this.#re
    if (mine === undefined || theirs === undefined) throw new Error(`reference: ${token} without its keys`)
    this.#mixKey(x25519.getSharedSecret(mine.priv, theirs))
  }
  #token(t: Token, write: boolean, out: Uint8Array[], input: { buf: Uint8Array }): void {
    if (t === 'e') {
      let pub: Uint8Array
      if (write) {
        if (this.#e === undefined) throw new Error('reference: no ephemeral key')
        pub = this.#e.pub
        out.push(pub)
      } else {
        pub = input.buf.subarray(0, 32)
        input.buf = input.buf.subarray(32)
        this.#re = pub
      }
      this.#mixHash(pub)
      if (this.#psk) this.#mixKey(pub)
    } else if (t === 's') {
      if (write) out.push(this.#encryptAndHash((this.#s as { pub: Uint8Array }).pub))
      else {
        const n = this.c.k === undefined ? 32 : 48
        this.#rs = this.#decryptAndHash(input.buf.subarray(0, n))
        input.buf = input.buf.subarray(n)
      }
    } else if (t === 'psk') {
      const psk = this.#psks.shift()
      if (psk === undefined) throw new Error('reference: psk token without a psk')
      this.#mixKeyAndHash(psk)
    } else this.#dh(t)
  }
  #finish(): void {
    this.#next++
    if (!this.complete) return
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array]
    this.send = new Cipher(this.#aead, this.#initiator ? k1 : k2)
    this.receive = new Cipher(this.#aead, this.#initiator ? k2 : k1)
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    const out: Uint8Array[] = []
    for (const t of this.#pattern.messages[this.#next] ?? []) this.#token(t, true, out, { buf: new Uint8Array(0) })
    out.push(this.#encryptAndHash(payload))
    this.#finish()
    return concat(...out)
  }

  readMessage(message: Uint8Array): Uint8Array {
    const input = { buf: message }
    for (const t of this.#pattern.messages[this.#next] ?? []) this.#token(t, false, [], input)
    const payload = this.#decryptAndHash(input.buf)
    this.#finish()
    return payload
  }
}
