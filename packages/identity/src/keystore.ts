import { open } from 'node:fs/promises'
import {
  assertBytes,
  assertString,
  equalBytes,
  InvalidArgumentError,
  PeerguardError,
  wipe,
  writeFileAtomic
} from '@peerguard/interface'
import { type KeyPair, keyPairFromSeed, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SEED_LENGTH } from './ed25519.js'
import { InvalidKeyError } from './errors.js'
import {
  checkOptionsObject,
  checkPassphraseOption,
  decode,
  encodeKeystore,
  KEYSTORE_MAX_BYTES,
  type KeystoreEntry,
  type KeystoreOptions,
  invalidFormat
} from './keystore-format.js'
import { type PeerId, peerIdFromPublicKey } from './peer-id.js'

/**
 * Keystore files: `saveKeystore`/`loadKeystore` for any entry, `saveIdentity`/`loadIdentity` for
 * an Ed25519 peer identity. The byte format is in keystore-format.ts and the README.
 */

/** A loaded Ed25519 identity. */
export interface Identity {
  keyPair: KeyPair
  peerId: PeerId
}

/**
 * Write a keystore file atomically with mode 0600. Refuses to replace an existing file
 * (`already-exists`) unless `overwrite` is true.
 */
export async function saveKeystore(
  path: string,
  entry: KeystoreEntry,
  options: KeystoreOptions & { overwrite?: boolean } = {}
): Promise<void> {
  assertString('path', path, { nonEmpty: true })
  checkOptionsObject('options', options)
  if (options.overwrite !== undefined && typeof options.overwrite !== 'boolean') {
    throw new InvalidArgumentError(`options.overwrite: expected boolean, got ${typeof options.overwrite}`)
  }
  const bytes = await encodeKeystore(entry, options)
  try {
    await writeFileAtomic(path, bytes, { mode: 0o600, exclusive: options.overwrite !== true })
  } catch (err) {
    if (err instanceof PeerguardError && err.code === 'already-exists') {
      throw new PeerguardError('already-exists', `${path}: already exists; refusing to overwrite a key file`, {
        cause: err,
        details: { hint: 'choose another file, or replace it on purpose (--force)' }
      })
    }
    throw err
  } finally {
    wipe(bytes)
  }
}

/** Read and decode a keystore file (see `decodeKeystore` for the errors). */
export async function loadKeystore(path: string, options: { passphrase?: string | Uint8Array } = {}): Promise<KeystoreEntry> {
  assertString('path', path, { nonEmpty: true })
  checkOptionsObject('options', options)
  checkPassphraseOption(options.passphrase)
  let bytes: Uint8Array
  try {
    const handle = await open(path, 'r')
    try {
      const st = await handle.stat()
      const { size } = st
      // as ssh does: a key file others can read or write is refused, encrypted or not
      if (st.isFile() && (st.mode & 0o077) !== 0)
        throw new PeerguardError(
          'keystore-permissions',
          `${path}: the key file is open to other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`
        )
      if (size > KEYSTORE_MAX_BYTES) throw invalidFormat(`${path}: `, `not a peerguard keystore (${size} bytes is too large)`)
      const buf = Buffer.alloc(size)
      const { bytesRead } = await handle.read(buf, 0, size, 0)
      bytes = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead)
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof PeerguardError) throw err
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${path}: no such file`, { cause: err })
    if (e.code === 'EISDIR') throw invalidFormat(`${path}: `, 'is a directory, not a keystore')
    throw new PeerguardError('io-error', `${path}: cannot read (${e.code ?? e.message})`, { cause: err })
  }
  try {
    return await decode(bytes, options.passphrase, `${path}: `)
  } finally {
    wipe(bytes)
  }
}

function checkKeyPair(keyPair: unknown): KeyPair {
  if (keyPair === null || typeof keyPair !== 'object')
    throw new InvalidArgumentError('keyPair: expected { publicKey, secretKey }')
  const { publicKey, secretKey } = keyPair as Record<string, unknown>
  assertBytes('keyPair.publicKey', publicKey, PUBLIC_KEY_LENGTH)
  assertBytes('keyPair.secretKey', secretKey, SECRET_KEY_LENGTH)
  if (!equalBytes(secretKey.subarray(SEED_LENGTH), publicKey)) {
    throw new InvalidKeyError('keyPair: secretKey and publicKey do not belong together')
  }
  return { publicKey, secretKey }
}

/** Save an Ed25519 key pair as a keystore file (0600, atomic, encrypted with a passphrase). */
export async function saveIdentity(
  path: string,
  keyPair: KeyPair,
  options: KeystoreOptions & { overwrite?: boolean; label?: string } = {}
): Promise<void> {
  assertString('path', path, { nonEmpty: true })
  const kp = checkKeyPair(keyPair)
  checkOptionsObject('options', options)
  const { label, ...rest } = options
  const entry: KeystoreEntry = { type: 'ed25519', secret: kp.secretKey.subarray(0, SEED_LENGTH), publicKey: kp.publicKey }
  if (label !== undefined) entry.label = label
  await saveKeystore(path, entry, rest)
}

/** Load an Ed25519 identity saved by `saveIdentity` (or any ed25519 keystore). */
export async function loadIdentity(path: string, options: { passphrase?: string | Uint8Array } = {}): Promise<Identity> {
  const entry = await loadKeystore(path, options)
  try {
    if (entry.type !== 'ed25519') {
      throw new InvalidKeyError(`${path}: holds a ${entry.type} key, not an Ed25519 identity`)
    }
    const keyPair = keyPairFromSeed(entry.secret)
    return { keyPair, peerId: peerIdFromPublicKey(keyPair.publicKey) }
  } finally {
    wipe(entry.secret)
  }
}
