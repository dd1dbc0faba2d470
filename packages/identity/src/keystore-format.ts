import { createHash, createPrivateKey, createPublicKey, randomBytes, scrypt as scryptCallback, type KeyObject } from 'node:crypto'
import nacl from 'tweetnacl'
import {
  assertBytes,
  assertString,
  describeValue,
  equalBytes,
  InvalidArgumentError,
  PeerguardError,
  wipe
} from '@peerguard/interface'
import { keyPairFromSeed, PUBLIC_KEY_LENGTH, SEED_LENGTH } from './ed25519.js'
import {
  InvalidKeyError,
  KeystoreBadPassphraseError,
  KeystoreCorruptError,
  KeystoreInvalidFormatError,
  KeystorePassphraseRequiredError,
  KeystoreTruncatedError,
  KeystoreUnsupportedVersionError
} from './errors.js'

/*
 * The keystore byte format, version 1 (specified field by field in the package README):
 * header (magic, version, type, protection, length, header check), optional scrypt block,
 * label, public key, secret (plain or XSalsa20-Poly1305 sealed), SHA-256 checksum.
 * Files and identities on top of it are in keystore.ts.
 */

/** One key at rest. */
export interface KeystoreEntry {
  type: 'ed25519' | 'p256'
  /** ed25519: the 32-byte seed; p256: PKCS#8 DER of the private key */
  secret: Uint8Array
  /** ed25519: 32-byte raw public key; p256: SPKI DER */
  publicKey: Uint8Array
  /** optional human label, e.g. the peer or CA name */
  label?: string
}

/** scrypt cost parameters (RFC 7914 §2). */
export interface ScryptParams {
  /** CPU/memory cost, a power of two in 2^10..2^20. Default 2^15. */
  N: number
  /** Block size, 1..32. Default 8. */
  r: number
  /** Parallelism, 1..16. Default 1. */
  p: number
}

export interface KeystoreOptions {
  /** Encrypt the secret with this passphrase (strings are NFC-normalised, then UTF-8). Default: none, stored in the clear. */
  passphrase?: string | Uint8Array
  /** scrypt cost; only with a passphrase. Default `{ N: 2 ** 15, r: 8, p: 1 }` (32 MiB, ~0.1 s). */
  scrypt?: ScryptParams
}

/** `\x89PGKEY\r\n`: a high-bit byte and CR LF expose 7-bit and newline-translating transfers (as PNG's magic). */
const MAGIC = Uint8Array.from([0x89, 0x50, 0x47, 0x4b, 0x45, 0x59, 0x0d, 0x0a])
/** The format version this code writes and reads. */
export const KEYSTORE_VERSION = 1
/** Header: magic 8, version 1, type 1, protection 1, flags 1, total length 4 (u32 BE), header check 4. */
const HEADER_LENGTH = 20
/** Bytes of the header covered by the header check. */
const HEADER_CHECKED = 16
/** Trailing SHA-256 over everything before it. */
const CHECKSUM_LENGTH = 32
/** KDF block: log2(N) 1, r 1, p 1, salt 16, nonce 24. */
const SALT_LENGTH = 16
const NONCE_LENGTH = nacl.secretbox.nonceLength
const KDF_BLOCK_LENGTH = 3 + SALT_LENGTH + NONCE_LENGTH
/** Largest keystore file in bytes; longer input is refused before parsing. */
export const KEYSTORE_MAX_BYTES = 16 * 1024
/** Label limit in UTF-8 bytes. */
const LABEL_MAX_BYTES = 1024
const PUBLIC_KEY_MAX_BYTES = 512
const SECRET_MAX_BYTES = 4096
const PASSPHRASE_MAX_BYTES = 4096
/** secretbox: the encrypted field holds SHA-256 of the preceding bytes, then the secret, plus the 16-byte tag. */
const BINDING_LENGTH = 32

const KEY_TYPES = { 1: 'ed25519', 2: 'p256' } as const
const KEY_TYPE_IDS = { ed25519: 1, p256: 2 } as const
const PROTECTION_NONE = 0
const PROTECTION_SCRYPT_SECRETBOX = 1

/** scrypt limits, enforced on write and on read so a hostile file cannot make us allocate gigabytes. */
const LOG2_N_MIN = 10
const LOG2_N_MAX = 20
const R_MAX = 32
const P_MAX = 16
/** Largest scrypt working memory (128·N·r bytes) accepted: 256 MiB. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 }

const RESTORE_HINT = 'restore the key file from a backup, or create a new identity'

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

function headerCheck(header16: Uint8Array): Uint8Array {
  return sha256(header16).subarray(0, 4)
}

function u16(value: number): Uint8Array {
  return Uint8Array.of(value >>> 8, value & 0xff)
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
}

// ---- argument checks ----

/** @internal */
export function checkOptionsObject(name: string, value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError(`${name}: expected an options object, got ${value === null ? 'null' : typeof value}`)
  }
}

/** The passphrase as bytes; `owned` is true when the bytes are our copy (to be wiped). */
function passphraseBytes(value: unknown): { bytes: Uint8Array; owned: boolean } | undefined {
  if (value === undefined) return undefined
  let bytes: Uint8Array
  let owned = false
  if (typeof value === 'string') {
    bytes = Buffer.from(value.normalize('NFC'), 'utf8')
    owned = true
  } else if (value instanceof Uint8Array) {
    bytes = value
  } else {
    throw new InvalidArgumentError(`passphrase: expected string or Uint8Array, got ${value === null ? 'null' : typeof value}`)
  }
  if (bytes.length === 0 || bytes.length > PASSPHRASE_MAX_BYTES) {
    if (owned) wipe(bytes)
    throw new InvalidArgumentError(
      bytes.length === 0 ? 'passphrase: must not be empty' : `passphrase: expected at most ${PASSPHRASE_MAX_BYTES} bytes`
    )
  }
  return { bytes, owned }
}

/** Check a passphrase option without copying it (also when the file turns out to be unencrypted). */
/** @internal */
export function checkPassphraseOption(value: unknown): void {
  const pass = passphraseBytes(value)
  if (pass?.owned === true) wipe(pass.bytes)
}

function checkScrypt(params: unknown, name: string, make: (msg: string) => Error): ScryptParams {
  if (params === null || typeof params !== 'object') throw make(`${name}: expected { N, r, p }`)
  const { N, r, p } = params as Record<string, unknown>
  const ok = (v: unknown, min: number, max: number): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
  if (!ok(N, 2 ** LOG2_N_MIN, 2 ** LOG2_N_MAX) || (N & (N - 1)) !== 0) {
    throw make(`${name}.N: expected a power of two in 2^${LOG2_N_MIN}..2^${LOG2_N_MAX}, got ${describeValue(N)}`)
  }
  if (!ok(r, 1, R_MAX)) throw make(`${name}.r: expected integer in 1..${R_MAX}, got ${describeValue(r)}`)
  if (!ok(p, 1, P_MAX)) throw make(`${name}.p: expected integer in 1..${P_MAX}, got ${describeValue(p)}`)
  if (128 * N * r > SCRYPT_MAX_MEMORY) throw make(`${name}: 128·N·r exceeds ${SCRYPT_MAX_MEMORY / 2 ** 20} MiB`)
  return { N, r, p }
}

function deriveKey(passphrase: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
  const { N, r, p } = params
  // OpenSSL needs 128·r·(N + p + 2) bytes (EVP_PBE_scrypt); allow that plus slack.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase, salt, nacl.secretbox.keyLength, { N, r, p, maxmem }, (err, key) =>
      err === null ? resolve(key) : reject(new PeerguardError('internal', `scrypt failed: ${err.message}`, { cause: err }))
    )
  })
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Check a p256 key pair (PKCS#8 and SPKI DER) and return whether they match. */
function p256Matches(secret: Uint8Array, publicKey: Uint8Array): boolean {
  let priv: KeyObject
  let pub: KeyObject
  try {
    // Buffer views, not copies: no extra copy of the private key is left behind.
    priv = createPrivateKey({ key: asBuffer(secret), format: 'der', type: 'pkcs8' })
    pub = createPublicKey({ key: asBuffer(publicKey), format: 'der', type: 'spki' })
  } catch {
    return false
  }
  for (const k of [priv, pub]) {
    if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false
  }
  const derived = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  return equalBytes(new Uint8Array(derived), new Uint8Array(pub.export({ format: 'der', type: 'spki' })))
}

function ed25519Matches(seed: Uint8Array, publicKey: Uint8Array): boolean {
  if (seed.length !== SEED_LENGTH || publicKey.length !== PUBLIC_KEY_LENGTH) return false
  const kp = keyPairFromSeed(seed)
  try {
    return equalBytes(kp.publicKey, publicKey)
  } finally {
    wipe(kp.secretKey)
  }
}

function checkEntry(entry: unknown): { entry: KeystoreEntry; label: Uint8Array } {
  if (entry === null || typeof entry !== 'object') throw new InvalidArgumentError('entry: expected a KeystoreEntry object')
  const e = entry as Record<string, unknown>
  if (e.type !== 'ed25519' && e.type !== 'p256') {
    throw new InvalidArgumentError(`entry.type: expected 'ed25519' or 'p256', got ${JSON.stringify(e.type) ?? 'undefined'}`)
  }
  if (e.type === 'ed25519') {
    assertBytes('entry.secret', e.secret, SEED_LENGTH)
    assertBytes('entry.publicKey', e.publicKey, PUBLIC_KEY_LENGTH)
    if (!ed25519Matches(e.secret, e.publicKey)) {
      throw new InvalidKeyError('entry.publicKey: not the Ed25519 public key of entry.secret')
    }
  } else {
    assertBytes('entry.secret', e.secret)
    assertBytes('entry.publicKey', e.publicKey)
    if (e.secret.length > SECRET_MAX_BYTES || e.publicKey.length > PUBLIC_KEY_MAX_BYTES || !p256Matches(e.secret, e.publicKey)) {
      throw new InvalidKeyError('entry: expected a P-256 PKCS#8 private key and its SPKI public key')
    }
  }
  let label = new Uint8Array(0)
  if (e.label !== undefined) {
    assertString('entry.label', e.label)
    label = new TextEncoder().encode(e.label)
    // A lone surrogate does not survive UTF-8; control characters could drive a terminal.
    if (new TextDecoder().decode(label) !== e.label || /[\u0000-\u001f\u007f-\u009f]/.test(e.label)) {
      throw new InvalidArgumentError('entry.label: must not contain control characters or lone surrogates')
    }
    if (label.length > LABEL_MAX_BYTES) {
      throw new InvalidArgumentError(`entry.label: expected at most ${LABEL_MAX_BYTES} UTF-8 bytes, got ${label.length}`)
    }
  }
  return { entry: e as unknown as KeystoreEntry, label }
}

// ---- encode ----

/**
 * Serialise a key to the keystore format (see README "Keystore file format"). With a
 * passphrase, the secret is sealed with XSalsa20-Poly1305 under a scrypt-derived key.
 */
export async function encodeKeystore(entry: KeystoreEntry, options: KeystoreOptions = {}): Promise<Uint8Array> {
  checkOptionsObject('options', options)
  const { entry: e, label } = checkEntry(entry)
  const pass = passphraseBytes(options.passphrase)
  try {
    if (pass === undefined && options.scrypt !== undefined) {
      throw new InvalidArgumentError('options.scrypt: only meaningful together with options.passphrase')
    }
    const params =
      pass === undefined
        ? undefined
        : checkScrypt(options.scrypt ?? DEFAULT_SCRYPT, 'options.scrypt', (m) => new InvalidArgumentError(m))
    const encrypted = params !== undefined
    const secretFieldLength = encrypted ? BINDING_LENGTH + e.secret.length + nacl.secretbox.overheadLength : e.secret.length
    const total =
      HEADER_LENGTH +
      (encrypted ? KDF_BLOCK_LENGTH : 0) +
      2 +
      label.length +
      2 +
      e.publicKey.length +
      2 +
      secretFieldLength +
      CHECKSUM_LENGTH
    const out = new Uint8Array(total)
    let at = 0
    const put = (bytes: Uint8Array): void => {
      out.set(bytes, at)
      at += bytes.length
    }
    put(MAGIC)
    put(Uint8Array.of(KEYSTORE_VERSION, KEY_TYPE_IDS[e.type], encrypted ? PROTECTION_SCRYPT_SECRETBOX : PROTECTION_NONE, 0))
    put(u32(total))
    put(headerCheck(out.subarray(0, HEADER_CHECKED)))
    let salt: Uint8Array | undefined
    let nonce: Uint8Array | undefined
    if (params !== undefined) {
      salt = randomBytes(SALT_LENGTH)
      nonce = randomBytes(NONCE_LENGTH)
      put(Uint8Array.of(Math.log2(params.N), params.r, params.p))
      put(salt)
      put(nonce)
    }
    put(u16(label.length))
    put(label)
    put(u16(e.publicKey.length))
    put(e.publicKey)
    put(u16(secretFieldLength))
    if (params !== undefined && pass !== undefined && salt !== undefined && nonce !== undefined) {
      const binding = sha256(out.subarray(0, at))
      const key = await deriveKey(pass.bytes, salt, params)
      const plain = new Uint8Array(BINDING_LENGTH + e.secret.length)
      plain.set(binding, 0)
      plain.set(e.secret, BINDING_LENGTH)
      try {
        put(nacl.secretbox(plain, nonce, key))
      } finally {
        wipe(plain, key)
      }
    } else {
      put(e.secret)
    }
    put(sha256(out.subarray(0, at)))
    return out
  } finally {
    if (pass?.owned === true) wipe(pass.bytes)
  }
}

// ---- decode ----

interface Header {
  type: number
  protection: number
  flags: number
  total: number
}

function isPrefixOf(bytes: Uint8Array, of: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== of[i]) return false
  return true
}

function corrupt(src: string, what: string): KeystoreCorruptError {
  return new KeystoreCorruptError(`${src}keystore is damaged or was tampered with (${what})`, { details: { hint: RESTORE_HINT } })
}

/** @internal */
export function invalidFormat(src: string, what = 'not a peerguard keystore'): KeystoreInvalidFormatError {
  return new KeystoreInvalidFormatError(`${src}${what}`, {
    details: { hint: 'give the path of a key file written by `peerguard id new`' }
  })
}

function truncated(src: string, have: number, need: number | undefined): KeystoreTruncatedError {
  const what = have === 0 ? 'the file is empty' : need === undefined ? `only ${have} bytes` : `${have} of ${need} bytes`
  return new KeystoreTruncatedError(`${src}keystore is truncated (${what})`, { details: { hint: RESTORE_HINT } })
}

/**
 * Read and check the header. A byte that differs in the magic or the version is told apart from
 * a foreign or newer file by the header check: if restoring the expected value makes the check
 * pass, the file is a damaged version-1 keystore.
 */
function parseHeader(bytes: Uint8Array, src: string, requireComplete: boolean): Header {
  if (bytes.length < MAGIC.length) {
    if (isPrefixOf(bytes, MAGIC)) throw truncated(src, bytes.length, undefined)
    throw invalidFormat(src)
  }
  const checked = bytes.subarray(0, HEADER_CHECKED)
  const check = bytes.subarray(HEADER_CHECKED, HEADER_LENGTH)
  const checkWith = (index: number, value: number | Uint8Array): boolean => {
    if (bytes.length < HEADER_LENGTH) return false
    const patched = Uint8Array.from(checked)
    if (typeof value === 'number') patched[index] = value
    else patched.set(value, index)
    return equalBytes(headerCheck(patched), check)
  }
  if (!isPrefixOf(bytes.subarray(0, MAGIC.length), MAGIC)) {
    if (checkWith(0, MAGIC)) throw corrupt(src, 'magic bytes')
    throw invalidFormat(src)
  }
  if (bytes.length < HEADER_LENGTH) throw truncated(src, bytes.length, undefined)
  const version = bytes[MAGIC.length]!
  if (version !== KEYSTORE_VERSION) {
    if (checkWith(MAGIC.length, KEYSTORE_VERSION)) throw corrupt(src, 'version byte')
    throw new KeystoreUnsupportedVersionError(
      `${src}keystore format version ${version} is not supported (this peerguard reads version ${KEYSTORE_VERSION})`,
      { details: { hint: 'upgrade peerguard', version } }
    )
  }
  if (!equalBytes(headerCheck(checked), check)) throw corrupt(src, 'header check')
  const header: Header = { type: bytes[9]!, protection: bytes[10]!, flags: bytes[11]!, total: readU32(bytes, 12) }
  if (header.total < HEADER_LENGTH + 6 + CHECKSUM_LENGTH || header.total > KEYSTORE_MAX_BYTES) {
    throw invalidFormat(src, `keystore declares an impossible length of ${header.total} bytes`)
  }
  if (requireComplete) {
    if (bytes.length < header.total) throw truncated(src, bytes.length, header.total)
    if (bytes.length > header.total) throw corrupt(src, `${bytes.length - header.total} unexpected bytes after the end`)
  }
  return header
}

/** Parse and check a keystore; see `decodeKeystore`. `src` prefixes messages: '' or 'path: '. */
/** @internal */
export async function decode(bytes: Uint8Array, passphrase: unknown, src: string): Promise<KeystoreEntry> {
  const header = parseHeader(bytes, src, true)
  const body = bytes.subarray(0, header.total - CHECKSUM_LENGTH)
  if (!equalBytes(sha256(body), bytes.subarray(header.total - CHECKSUM_LENGTH, header.total))) throw corrupt(src, 'checksum')
  // From here the bytes are exactly what a writer wrote; a structural error means a foreign writer.
  const type = KEY_TYPES[header.type as 1 | 2]
  if (type === undefined) throw invalidFormat(src, `keystore has unknown key type ${header.type}`)
  if (header.flags !== 0) throw invalidFormat(src, `keystore has unknown flags ${header.flags}`)
  if (header.protection !== PROTECTION_NONE && header.protection !== PROTECTION_SCRYPT_SECRETBOX) {
    throw invalidFormat(src, `keystore has unknown protection ${header.protection}`)
  }
  let at = HEADER_LENGTH
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > body.length) throw invalidFormat(src, `keystore field ${what} overruns the file`)
    const out = body.subarray(at, at + n)
    at += n
    return out
  }
  const field = (what: string, max: number): Uint8Array => {
    const len = take(2, `${what} length`)
    const n = (len[0]! << 8) | len[1]!
    if (n > max) throw invalidFormat(src, `keystore field ${what} is ${n} bytes, more than ${max}`)
    return take(n, what)
  }
  let kdf: { params: ScryptParams; salt: Uint8Array; nonce: Uint8Array } | undefined
  if (header.protection === PROTECTION_SCRYPT_SECRETBOX) {
    const p = take(3, 'scrypt parameters')
    const log2N = p[0]!
    if (log2N < LOG2_N_MIN || log2N > LOG2_N_MAX) {
      throw invalidFormat(src, `keystore scrypt cost 2^${log2N} is outside 2^${LOG2_N_MIN}..2^${LOG2_N_MAX}`)
    }
    const params = checkScrypt({ N: 2 ** log2N, r: p[1], p: p[2] }, 'scrypt', (m) => invalidFormat(src, `keystore ${m}`))
    kdf = { params, salt: take(SALT_LENGTH, 'salt'), nonce: take(NONCE_LENGTH, 'nonce') }
  }
  const labelBytes = field('label', LABEL_MAX_BYTES)
  const publicKey = new Uint8Array(field('public key', PUBLIC_KEY_MAX_BYTES)) // a copy, also for Buffer input
  /** The binding covers every byte before the ciphertext, the secret's length field included. */
  const secretStart = at
  const secretField = field('secret', SECRET_MAX_BYTES + BINDING_LENGTH + nacl.secretbox.overheadLength)
  if (at !== body.length) throw invalidFormat(src, 'keystore has unexpected bytes after the secret')
  let label: string | undefined
  if (labelBytes.length > 0) {
    try {
      label = new TextDecoder('utf-8', { fatal: true }).decode(labelBytes)
    } catch {
      throw invalidFormat(src, 'keystore label is not UTF-8')
    }
    if (/[\u0000-\u001f\u007f-\u009f]/.test(label)) throw invalidFormat(src, 'keystore label contains control characters')
  }
  let secret: Uint8Array
  if (kdf === undefined) {
    secret = new Uint8Array(secretField) // a copy (Buffer#slice would be a view)
  } else {
    const pass = passphraseBytes(passphrase)
    if (pass === undefined) {
      throw new KeystorePassphraseRequiredError(`${src}the keystore is encrypted and no passphrase was given`, {
        details: { hint: 'give the passphrase (on the command line: --passphrase-file FILE)' }
      })
    }
    let key: Uint8Array | undefined
    let plain: Uint8Array | null = null
    try {
      key = await deriveKey(pass.bytes, kdf.salt, kdf.params)
      plain = nacl.secretbox.open(secretField, kdf.nonce, key)
      if (plain === null) {
        throw new KeystoreBadPassphraseError(`${src}wrong passphrase for this keystore`, {
          details: { hint: 'check the passphrase (the first line of the passphrase file)' }
        })
      }
      if (
        plain.length < BINDING_LENGTH ||
        !equalBytes(plain.subarray(0, BINDING_LENGTH), sha256(body.subarray(0, secretStart + 2)))
      ) {
        throw corrupt(src, 'the header, label or public key does not belong to the encrypted secret')
      }
      secret = new Uint8Array(plain.subarray(BINDING_LENGTH))
    } finally {
      wipe(key, plain ?? undefined)
      if (pass.owned) wipe(pass.bytes)
    }
  }
  const matches =
    type === 'ed25519' ? ed25519Matches(secret, publicKey) : secret.length <= SECRET_MAX_BYTES && p256Matches(secret, publicKey)
  if (!matches) {
    wipe(secret)
    throw corrupt(src, 'the secret key does not match the stored public key')
  }
  return label === undefined ? { type, secret, publicKey } : { type, secret, publicKey, label }
}

/**
 * Parse a keystore. Throws, each with its own code: KeystoreTruncatedError, KeystoreCorruptError
 * (any damaged byte: header check, SHA-256 checksum, key pair mismatch),
 * KeystoreUnsupportedVersionError, KeystoreInvalidFormatError, KeystorePassphraseRequiredError,
 * KeystoreBadPassphraseError. The returned `secret` is the caller's to wipe.
 */
export async function decodeKeystore(
  bytes: Uint8Array,
  options: { passphrase?: string | Uint8Array } = {}
): Promise<KeystoreEntry> {
  assertBytes('bytes', bytes)
  checkOptionsObject('options', options)
  checkPassphraseOption(options.passphrase)
  return decode(bytes, options.passphrase, '')
}

/** True when the keystore's secret is encrypted (checks the header only; throws the keystore errors for a bad header). */
export function isKeystoreEncrypted(bytes: Uint8Array): boolean {
  assertBytes('bytes', bytes)
  const { protection } = parseHeader(bytes, '', false)
  if (protection !== PROTECTION_NONE && protection !== PROTECTION_SCRYPT_SECRETBOX) {
    throw invalidFormat('', `keystore has unknown protection ${protection}`)
  }
  return protection === PROTECTION_SCRYPT_SECRETBOX
}
