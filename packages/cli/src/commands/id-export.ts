import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import type { Command } from 'commander'
import { type KeystoreEntry, keyPairFromSeed, loadKeystore, peerIdFromPublicKey } from '@peerguard/identity'
import { PeerguardError, equalBytes, wipe, writeFileAtomic } from '@peerguard/interface'
import { identityKeyPem, p256KeyPem } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { assertWritable, readPassphraseFile, wantsJson } from '../common.js'

interface ExportOptions {
  pem?: boolean
  out: string
  passphraseFile?: string
  pemPassphraseFile?: string
  /** false with --no-passphrase. */
  passphrase: boolean
  force?: boolean
}

/**
 * The key of a keystore entry as a node:crypto KeyObject, after checking that the secret derives
 * the stored public key (a damaged file is refused rather than exported).
 */
function privateKeyOf(file: string, entry: KeystoreEntry): { key: KeyObject; kind: 'ed25519' | 'p256'; peerId?: string } {
  if (entry.type === 'ed25519') {
    const kp = keyPairFromSeed(entry.secret)
    try {
      if (!equalBytes(kp.publicKey, entry.publicKey))
        throw new PeerguardError('invalid-key', `${file}: the secret key does not derive the stored public key`)
      const pem = identityKeyPem(kp)
      return { key: createPrivateKey(pem), kind: 'ed25519', peerId: peerIdFromPublicKey(kp.publicKey).toString() }
    } finally {
      wipe(kp.secretKey)
    }
  }
  const key = createPrivateKey(p256KeyPem(entry.secret))
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  if (!equalBytes(new Uint8Array(spki), entry.publicKey))
    throw new PeerguardError('invalid-key', `${file}: the secret key does not derive the stored public key`)
  return { key, kind: 'p256' }
}

/** `peerguard id export`: a key file's private key as PKCS#8 PEM for OpenSSL, curl, nginx. */
export function registerIdExportCommand(id: Command, io: CliIO): void {
  id.command('export')
    .description("write a key file's private key as PKCS#8 PEM for OpenSSL, curl or nginx (encrypted unless --no-passphrase)")
    .argument('<file>', 'the key file (an identity, or a P-256 key from `cert request --key-type p256`)')
    .option('--pem', 'PKCS#8 PEM (the only format; required, so later formats cannot change what a command writes)')
    .requiredOption('--out <file>', 'the PEM file to write (mode 0600)')
    .option('--passphrase-file <file>', 'the passphrase of an encrypted key file (first line)')
    .option('--pem-passphrase-file <file>', 'encrypt the PEM with the first line of this file (AES-256-CBC, PBKDF2)')
    .option('--no-passphrase', 'write the PEM unencrypted (anyone who can read it can act as this peer)')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
The PEM is "-----BEGIN ENCRYPTED PRIVATE KEY-----" (PKCS#8 with PBES2: PBKDF2-HMAC-SHA256 and
AES-256-CBC, as OpenSSL writes it) unless --no-passphrase is given. Either
--pem-passphrase-file or --no-passphrase is required.

Example:
  $ peerguard id export alice.key --pem --passphrase-file alice.pass --pem-passphrase-file pem.pass --out alice-key.pem
  $ openssl pkey -in alice-key.pem -passin file:pem.pass -pubout
  $ curl --cacert ca.pem --cert alice.pem --key alice-key.pem --pass "$(cat pem.pass)" https://nas.lan:7631/`
    )
    .action((file: string, opts: ExportOptions, cmd: Command) => idExport(io, file, opts, cmd))
}

async function idExport(io: CliIO, file: string, opts: ExportOptions, cmd: Command): Promise<void> {
  if (opts.pem !== true) throw new PeerguardError('usage', 'give --pem (PKCS#8 PEM is the format `id export` writes)')
  if (opts.passphrase === false && opts.pemPassphraseFile !== undefined)
    throw new PeerguardError('usage', 'give either --pem-passphrase-file or --no-passphrase, not both')
  if (opts.passphrase !== false && opts.pemPassphraseFile === undefined)
    throw new PeerguardError(
      'usage',
      'give --pem-passphrase-file FILE to encrypt the PEM, or --no-passphrase to write it unencrypted'
    )
  await assertWritable(opts.out, opts.force)
  const pemPassphrase = opts.pemPassphraseFile === undefined ? undefined : await readPassphraseFile(opts.pemPassphraseFile)
  const keyPassphrase = opts.passphraseFile === undefined ? undefined : await readPassphraseFile(opts.passphraseFile)
  const entry = await loadKeystore(file, keyPassphrase === undefined ? {} : { passphrase: keyPassphrase })
  let pem: Buffer
  let kind: 'ed25519' | 'p256'
  let peerId: string | undefined
  try {
    const found = privateKeyOf(file, entry)
    kind = found.kind
    peerId = found.peerId
    pem = Buffer.from(
      pemPassphrase === undefined
        ? found.key.export({ format: 'pem', type: 'pkcs8' })
        : found.key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: pemPassphrase })
    )
  } finally {
    wipe(entry.secret)
  }
  try {
    await writeFileAtomic(opts.out, pem, { mode: 0o600, exclusive: opts.force !== true })
  } finally {
    wipe(pem)
  }
  const encrypted = pemPassphrase !== undefined
  if (wantsJson(cmd)) io.json({ file: opts.out, keyType: kind, encrypted, ...(peerId === undefined ? {} : { peerId }) })
  else io.out(`wrote ${opts.out} (${kind} private key, PKCS#8 PEM, ${encrypted ? 'encrypted' : 'NOT encrypted'})`)
  if (!encrypted) io.err(`peerguard: warning: ${opts.out} is not encrypted; anyone who can read it can act as this peer`)
}
