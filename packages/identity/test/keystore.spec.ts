import { createHash, generateKeyPairSync } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import {
  decodeKeystore,
  encodeKeystore,
  generateKeyPair,
  InvalidKeyError,
  isKeystoreEncrypted,
  KEYSTORE_MAX_BYTES,
  KeystoreBadPassphraseError,
  KeystoreCorruptError,
  type KeystoreEntry,
  KeystoreInvalidFormatError,
  KeystorePassphraseRequiredError,
  KeystoreTruncatedError,
  KeystoreUnsupportedVersionError,
  loadIdentity,
  loadKeystore,
  peerIdFromPublicKey,
  saveIdentity,
  saveKeystore,
  sign,
  verify
} from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'

/** Cheap scrypt for tests; the default (2^15, 8, 1) is exercised once. */
const FAST = { N: 2 ** 10, r: 8, p: 1 }
const PASS = 'correct horse battery staple'

function ed25519Entry(label?: string): KeystoreEntry {
  const kp = generateKeyPair()
  const entry: KeystoreEntry = { type: 'ed25519', secret: kp.secretKey.slice(0, 32), publicKey: kp.publicKey }
  if (label !== undefined) entry.label = label
  return entry
}

function p256Entry(): KeystoreEntry {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    type: 'p256',
    secret: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
    publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    label: 'lan-ca'
  }
}

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/** Re-seal a hand-edited v1 file: recompute the header check (bytes 16..20) and the trailing SHA-256. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out.set(sha256(out.subarray(0, 16)).subarray(0, 4), 16)
  out.set(sha256(out.subarray(0, out.length - 32)), out.length - 32)
  return out
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof PeerguardError) return err.code
    throw err
  }
  return 'no error'
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerguard-keystore-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('round trip', () => {
  it('stores an ed25519 seed in the clear without a passphrase', async () => {
    const entry = ed25519Entry('alice')
    const bytes = await encodeKeystore(entry)
    expect(isKeystoreEncrypted(bytes)).toBe(false)
    expect(Array.from(bytes.subarray(0, 9))).toEqual([0x89, 0x50, 0x47, 0x4b, 0x45, 0x59, 0x0d, 0x0a, 1])
    expect(await decodeKeystore(bytes)).toEqual(entry)
  })

  it('encrypts with a passphrase: the seed is not in the file, and the default scrypt cost is recorded', async () => {
    const entry = ed25519Entry()
    const bytes = await encodeKeystore(entry, { passphrase: PASS })
    expect(isKeystoreEncrypted(bytes)).toBe(true)
    expect(Buffer.from(bytes).includes(Buffer.from(entry.secret))).toBe(false)
    expect(Array.from(bytes.subarray(20, 23))).toEqual([15, 8, 1]) // log2 N, r, p
    expect(await decodeKeystore(bytes, { passphrase: PASS })).toEqual(entry)
    expect(await decodeKeystore(bytes, { passphrase: new TextEncoder().encode(PASS) })).toEqual(entry)
  })

  it('round-trips p256 keys, labels and binary passphrases (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.option(
          fc.string({ maxLength: 40 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/.test(s)),
          { nil: undefined }
        ),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
        async (p256, label, passphrase) => {
          const entry = p256 ? p256Entry() : ed25519Entry()
          if (label === undefined || label === '') delete entry.label
          else entry.label = label
          const opts = passphrase === undefined ? {} : { passphrase, scrypt: FAST }
          const back = await decodeKeystore(await encodeKeystore(entry, opts), { passphrase })
          expect(back).toEqual(entry)
        }
      ),
      { numRuns: 25 }
    )
  })

  it('NFC-normalises string passphrases', async () => {
    const bytes = await encodeKeystore(ed25519Entry(), { passphrase: 'caf\u00e9', scrypt: FAST })
    await expect(decodeKeystore(bytes, { passphrase: 'cafe\u0301' })).resolves.toBeDefined()
  })
})

describe('damage is always a clean typed error', () => {
  it('flipping ANY byte (each of 3 masks) gives keystore-corrupt, never a key', async () => {
    for (const encrypted of [false, true]) {
      const entry = ed25519Entry('bob')
      const bytes = await encodeKeystore(entry, encrypted ? { passphrase: PASS, scrypt: FAST } : {})
      for (let pos = 0; pos < bytes.length; pos++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const bad = bytes.slice()
          bad[pos]! ^= mask
          const code = await codeOf(decodeKeystore(bad, { passphrase: PASS }))
          expect({ encrypted, pos, mask, code }).toEqual({ encrypted, pos, mask, code: 'keystore-corrupt' })
        }
      }
    }
  })

  it('every truncation length gives keystore-truncated', async () => {
    for (const encrypted of [false, true]) {
      const bytes = await encodeKeystore(ed25519Entry(), encrypted ? { passphrase: PASS, scrypt: FAST } : {})
      for (let len = 0; len < bytes.length; len++) {
        const code = await codeOf(decodeKeystore(bytes.subarray(0, len), { passphrase: PASS }))
        expect({ len, code }).toEqual({ len, code: 'keystore-truncated' })
      }
    }
    await expect(decodeKeystore(new Uint8Array(0))).rejects.toThrow('keystore is truncated (the file is empty)')
  })

  it('a tampered file with a recomputed checksum is still caught (key pair mismatch, metadata binding)', async () => {
    const plain = await encodeKeystore(ed25519Entry())
    const swapped = plain.slice()
    swapped.set(generateKeyPair().publicKey, swapped.length - 32 - 32 - 2 - 32) // public key, secret length, seed, checksum
    await expect(decodeKeystore(reseal(swapped))).rejects.toThrow(
      new KeystoreCorruptError('keystore is damaged or was tampered with (the secret key does not match the stored public key)')
    )
    const encrypted = await encodeKeystore(ed25519Entry('carol'), { passphrase: PASS, scrypt: FAST })
    const relabelled = encrypted.slice()
    relabelled[20 + 43 + 2] = 'd'.charCodeAt(0) // 'carol' -> 'darol'
    await expect(decodeKeystore(reseal(relabelled), { passphrase: PASS })).rejects.toThrow(
      'keystore is damaged or was tampered with (the header, label or public key does not belong to the encrypted secret)'
    )
  })

  it('tells a wrong passphrase and a missing one apart from damage', async () => {
    const bytes = await encodeKeystore(ed25519Entry(), { passphrase: PASS, scrypt: FAST })
    await expect(decodeKeystore(bytes, { passphrase: 'wrong' })).rejects.toThrow(
      new KeystoreBadPassphraseError('wrong passphrase for this keystore')
    )
    await expect(decodeKeystore(bytes)).rejects.toBeInstanceOf(KeystorePassphraseRequiredError)
    await expect(decodeKeystore(bytes)).rejects.toThrow('the keystore is encrypted and no passphrase was given')
  })

  it('reports a newer version as unsupported, a foreign file as invalid format', async () => {
    const bytes = await encodeKeystore(ed25519Entry())
    const v2 = bytes.slice()
    v2[8] = 2
    await expect(decodeKeystore(reseal(v2))).rejects.toThrow(
      new KeystoreUnsupportedVersionError('keystore format version 2 is not supported (this peerguard reads version 1)')
    )
    const pem = new TextEncoder().encode('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n')
    await expect(decodeKeystore(pem)).rejects.toThrow(new KeystoreInvalidFormatError('not a peerguard keystore'))
    await expect(decodeKeystore(Uint8Array.of(1, 2))).rejects.toBeInstanceOf(KeystoreInvalidFormatError)
  })

  it('refuses hostile scrypt parameters in a well-formed file before running scrypt', async () => {
    const bytes = await encodeKeystore(ed25519Entry(), { passphrase: PASS, scrypt: FAST })
    const cases: Array<[number, number, number, string]> = [
      [30, 8, 1, 'keystore scrypt cost 2^30 is outside 2^10..2^20'],
      [20, 32, 1, 'keystore scrypt: 128·N·r exceeds 256 MiB'],
      [15, 200, 1, 'keystore scrypt.r: expected integer in 1..32, got 200'],
      [15, 8, 0, 'keystore scrypt.p: expected integer in 1..16, got 0']
    ]
    for (const [log2N, r, p, message] of cases) {
      const hostile = bytes.slice()
      hostile.set([log2N, r, p], 20)
      const started = Date.now()
      await expect(decodeKeystore(reseal(hostile), { passphrase: PASS })).rejects.toThrow(new KeystoreInvalidFormatError(message))
      // The messages show the parameter check refused it; the bound catches a derivation at these
      // costs (many seconds). 5 s, not 1 s: a stalled CI machine must not cross it by chance.
      expect(Date.now() - started).toBeLessThan(5000)
    }
  })

  it('decoding arbitrary bytes throws only keystore errors (property)', async () => {
    const valid = await encodeKeystore(ed25519Entry())
    const known = [KeystoreCorruptError, KeystoreTruncatedError, KeystoreInvalidFormatError, KeystoreUnsupportedVersionError]
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(valid.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, junk]) => {
            const b = valid.slice()
            b.set(junk.subarray(0, b.length - at), at)
            return b
          })
        ),
        async (bytes) => {
          try {
            await decodeKeystore(bytes)
          } catch (err) {
            expect(known.some((k) => err instanceof k)).toBe(true)
            return
          }
          expect(bytes).toEqual(valid) // only the unchanged file decodes
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe('files', () => {
  it('saveIdentity writes mode 0600, refuses to overwrite unless asked, and loadIdentity gives a working key', async () => {
    const path = join(dir, 'alice.key')
    const kp = generateKeyPair()
    await saveIdentity(path, kp, { passphrase: PASS, scrypt: FAST, label: 'alice' })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const other = generateKeyPair()
    await expect(saveIdentity(path, other, { passphrase: PASS, scrypt: FAST })).rejects.toThrow(
      `${path}: already exists; refusing to overwrite a key file`
    )
    const loaded = await loadIdentity(path, { passphrase: PASS })
    expect(loaded.keyPair).toEqual(kp)
    expect(loaded.peerId.equals(peerIdFromPublicKey(kp.publicKey))).toBe(true)
    const m = Uint8Array.of(1, 2, 3)
    expect(verify(sign(m, loaded.keyPair.secretKey), m, kp.publicKey)).toBe(true)
    await saveIdentity(path, other, { passphrase: PASS, scrypt: FAST, overwrite: true })
    expect((await loadIdentity(path, { passphrase: PASS })).keyPair.publicKey).toEqual(other.publicKey)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('loadKeystore names the file in its errors', async () => {
    const path = join(dir, 'bad.key')
    const bytes = await encodeKeystore(ed25519Entry())
    await writeFile(path, bytes.subarray(0, 40), { mode: 0o600 })
    await expect(loadKeystore(path)).rejects.toThrow(`${path}: keystore is truncated (40 of ${bytes.length} bytes)`)
    await expect(loadKeystore(join(dir, 'missing.key'))).rejects.toThrow(`${join(dir, 'missing.key')}: no such file`)
    await expect(loadKeystore(dir)).rejects.toThrow(`${dir}: is a directory, not a keystore`)
    await writeFile(path, new Uint8Array(KEYSTORE_MAX_BYTES + 1))
    await expect(loadKeystore(path)).rejects.toBeInstanceOf(KeystoreInvalidFormatError)
  })

  it('refuses a key file other users can read or write, encrypted or not, as ssh does', async () => {
    const path = join(dir, 'open.key')
    for (const passphrase of [undefined, PASS]) {
      await saveIdentity(path, generateKeyPair(), {
        ...(passphrase === undefined ? {} : { passphrase, scrypt: FAST }),
        overwrite: true
      })
      for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o610]) {
        await chmod(path, mode)
        await expect(loadIdentity(path, passphrase === undefined ? {} : { passphrase })).rejects.toMatchObject({
          code: 'keystore-permissions',
          message: `${path}: the key file is open to other users (mode ${mode.toString(8)}); chmod 600 it`
        })
      }
      for (const mode of [0o600, 0o400]) {
        await chmod(path, mode)
        await expect(loadIdentity(path, passphrase === undefined ? {} : { passphrase })).resolves.toBeDefined()
      }
    }
  })

  it('saveKeystore/loadKeystore keep a p256 entry; loadIdentity refuses it', async () => {
    const path = join(dir, 'ca.key')
    const entry = p256Entry()
    await saveKeystore(path, entry)
    expect(await loadKeystore(path)).toEqual(entry)
    expect(isKeystoreEncrypted(new Uint8Array(await readFile(path)))).toBe(false)
    await expect(loadIdentity(path)).rejects.toThrow(new InvalidKeyError(`${path}: holds a p256 key, not an Ed25519 identity`))
  })
})

describe('argument checks', () => {
  const entry = ed25519Entry()
  const kp = generateKeyPair()
  const cases: Array<[string, () => Promise<unknown> | unknown, string]> = [
    ['encode entry null', () => encodeKeystore(null as never), 'entry: expected a KeystoreEntry object'],
    [
      'encode type',
      () => encodeKeystore({ ...entry, type: 'rsa' as never }),
      `entry.type: expected 'ed25519' or 'p256', got "rsa"`
    ],
    [
      'encode seed size',
      () => encodeKeystore({ ...entry, secret: new Uint8Array(64) }),
      'entry.secret: expected Uint8Array of length 32, got Uint8Array of length 64'
    ],
    [
      'encode public key type',
      () => encodeKeystore({ ...entry, publicKey: 'pk' as never }),
      'entry.publicKey: expected Uint8Array of length 32, got string'
    ],
    ['encode label type', () => encodeKeystore({ ...entry, label: 7 as never }), 'entry.label: expected string, got number'],
    [
      'encode label control',
      () => encodeKeystore({ ...entry, label: 'a\u001b[2J' }),
      'entry.label: must not contain control characters or lone surrogates'
    ],
    [
      'encode label long',
      () => encodeKeystore({ ...entry, label: 'x'.repeat(1025) }),
      'entry.label: expected at most 1024 UTF-8 bytes, got 1025'
    ],
    ['encode empty passphrase', () => encodeKeystore(entry, { passphrase: '' }), 'passphrase: must not be empty'],
    [
      'encode passphrase type',
      () => encodeKeystore(entry, { passphrase: 12 as never }),
      'passphrase: expected string or Uint8Array, got number'
    ],
    [
      'encode scrypt N',
      () => encodeKeystore(entry, { passphrase: PASS, scrypt: { N: 1000, r: 8, p: 1 } }),
      'options.scrypt.N: expected a power of two in 2^10..2^20, got 1000'
    ],
    [
      'encode scrypt without passphrase',
      () => encodeKeystore(entry, { scrypt: FAST }),
      'options.scrypt: only meaningful together with options.passphrase'
    ],
    ['encode options type', () => encodeKeystore(entry, 'secret' as never), 'options: expected an options object, got string'],
    ['decode bytes type', () => decodeKeystore('file' as never), 'bytes: expected Uint8Array, got string'],
    [
      'decode passphrase empty',
      () => decodeKeystore(new Uint8Array(0), { passphrase: new Uint8Array(0) }),
      'passphrase: must not be empty'
    ],
    [
      'decode passphrase type',
      () => decodeKeystore(new Uint8Array(0), { passphrase: 5 as never }),
      'passphrase: expected string or Uint8Array, got number'
    ],
    [
      'decode options type',
      () => decodeKeystore(new Uint8Array(0), null as never),
      'options: expected an options object, got null'
    ],
    [
      'loadKeystore passphrase type',
      () => loadKeystore(join(dir, 'x.key'), { passphrase: {} as never }),
      'passphrase: expected string or Uint8Array, got object'
    ],
    ['isKeystoreEncrypted type', () => isKeystoreEncrypted([1] as never), 'bytes: expected Uint8Array, got array'],
    ['saveKeystore path', () => saveKeystore('', entry), 'path: expected a non-empty string'],
    [
      'saveKeystore overwrite',
      () => saveKeystore(join(dir, 'x.key'), entry, { overwrite: 'yes' as never }),
      'options.overwrite: expected boolean, got string'
    ],
    ['loadKeystore path', () => loadKeystore(undefined as never), 'path: expected string, got undefined'],
    [
      'saveIdentity keyPair',
      () => saveIdentity(join(dir, 'y.key'), { publicKey: kp.publicKey } as never),
      'keyPair.secretKey: expected Uint8Array of length 64, got undefined'
    ],
    [
      'saveIdentity mismatched',
      () => saveIdentity(join(dir, 'y.key'), { publicKey: generateKeyPair().publicKey, secretKey: kp.secretKey }),
      'keyPair: secretKey and publicKey do not belong together'
    ],
    ['loadIdentity path', () => loadIdentity(5 as never), 'path: expected string, got number']
  ]
  for (const [name, fn, message] of cases) {
    it(`${name}: a typed error with an exact message`, async () => {
      const err = await Promise.resolve()
        .then(fn)
        .then(
          () => undefined,
          (e: unknown) => e
        )
      expect(err).toBeInstanceOf(PeerguardError)
      expect((err as Error).message).toBe(message)
    })
  }

  it('wrong key material is InvalidKeyError, wrong shapes are InvalidArgumentError', async () => {
    await expect(encodeKeystore({ ...entry, publicKey: generateKeyPair().publicKey })).rejects.toBeInstanceOf(InvalidKeyError)
    await expect(encodeKeystore({ type: 'p256', secret: entry.secret, publicKey: entry.publicKey })).rejects.toBeInstanceOf(
      InvalidKeyError
    )
    await expect(encodeKeystore({ ...entry, secret: 'x' as never })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})
