import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import {
  generateKeyPair,
  isKeystoreEncrypted,
  keyPairFromSeed,
  loadKeystore,
  type PeerId,
  peerIdFromPublicKey,
  saveIdentity
} from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError, wipe } from '@peerguard/interface'
import type { CliIO } from '../io.js'
import { readPassphraseFile, wantsJson } from '../common.js'
import { type PassphraseFlags, withPassphrase } from '../passphrase.js'
import { registerIdExportCommand } from './id-export.js'

/** Everything `id show --json` prints: public facts only, never the secret. */
function describePeer(peerId: PeerId, encrypted: boolean, label: string | undefined) {
  return {
    peerId: peerId.toString(),
    shortId: peerId.toShortString(),
    fingerprint: peerId.fingerprint(),
    libp2pPeerId: peerId.toLibp2p(),
    publicKey: Buffer.from(peerId.publicKey).toString('base64'),
    encrypted,
    ...(label === undefined ? {} : { label })
  }
}

function printPeer(io: CliIO, info: ReturnType<typeof describePeer>): void {
  io.out(`peer ID:      ${info.peerId}`)
  io.out(`short ID:     ${info.shortId}`)
  io.out(`fingerprint:  ${info.fingerprint}`)
  io.out(`libp2p:       ${info.libp2pPeerId}`)
  io.out(`public key:   ${info.publicKey}`)
  if (info.label !== undefined) io.out(`label:        ${info.label}`)
  io.out(`encrypted:    ${info.encrypted ? 'yes' : 'no'}`)
}

/** `peerguard id new`, `id show` and `id export`: create, inspect and export identity key files. */
export function registerIdCommands(program: Command, io: CliIO): void {
  const id = program
    .command('id')
    .description('create and inspect peer identities (Ed25519 key files)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard id new --out alice.key --passphrase-file alice.pass
  $ peerguard id show alice.key --passphrase-file alice.pass --json
  $ peerguard id export alice.key --pem --passphrase-file alice.pass --pem-passphrase-file pem.pass --out alice-key.pem`
    )

  id.command('new')
    .description('create a new Ed25519 identity, write it to a key file (mode 0600) and print its peer ID')
    .requiredOption('--out <file>', 'the key file to write')
    .option('--passphrase-file <file>', 'encrypt the key with the first line of this file (recommended)')
    .option('--label <text>', 'a name stored with the key, e.g. the peer name')
    .option('--force', 'replace an existing key file')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Prints the new peer ID on stdout; the secret key goes only into the key file.

Example:
  $ peerguard id new --out alice.key --passphrase-file alice.pass --label alice`
    )
    .action(async (opts: { out: string; passphraseFile?: string; label?: string; force?: boolean }, cmd: Command) => {
      if (opts.label !== undefined && /[\u0000-\u001f\u007f-\u009f]/.test(opts.label)) {
        throw new InvalidArgumentError('--label: must not contain control characters')
      }
      const passphrase = opts.passphraseFile === undefined ? undefined : await readPassphraseFile(opts.passphraseFile)
      const keyPair = generateKeyPair()
      try {
        await saveIdentity(opts.out, keyPair, {
          overwrite: opts.force === true,
          ...(passphrase === undefined ? {} : { passphrase }),
          ...(opts.label === undefined ? {} : { label: opts.label })
        })
        const info = describePeer(peerIdFromPublicKey(keyPair.publicKey), passphrase !== undefined, opts.label)
        if (wantsJson(cmd)) io.json({ file: opts.out, ...info })
        else io.out(info.peerId)
        if (passphrase === undefined) {
          io.err(`peerguard: warning: ${opts.out} is not encrypted; anyone who can read it can act as this peer`)
          io.err('peerguard: hint: use --passphrase-file FILE to encrypt the key at rest')
        }
      } finally {
        wipe(keyPair.secretKey)
      }
    })

  id.command('show')
    .description("print a key file's peer ID, short ID, fingerprint and libp2p PeerId (never the secret)")
    .argument('<file>', 'the key file')
    .option('--passphrase-file <file>', 'the passphrase of an encrypted key file (first line)')
    .option('--passphrase-credential <name>', 'the passphrase from systemd credential NAME')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Without --passphrase-file, an encrypted key's passphrase is asked for on the terminal (no echo).
The key is decrypted and checked (the secret must derive the stored public key) before anything is shown.

Example:
  $ peerguard id show alice.key --passphrase-file alice.pass --json`
    )
    .action(async (file: string, opts: PassphraseFlags, cmd: Command) => {
      const entry = await withPassphrase(file, opts, io, (passphrase) =>
        loadKeystore(file, passphrase === undefined ? {} : { passphrase })
      )
      let peerId: PeerId
      try {
        if (entry.type !== 'ed25519') {
          throw new PeerguardError('invalid-key', `${file}: holds a ${entry.type} key, not a peer identity`, {
            details: { hint: 'CA keys are inspected with `peerguard ca` commands' }
          })
        }
        const kp = keyPairFromSeed(entry.secret)
        wipe(kp.secretKey)
        peerId = peerIdFromPublicKey(kp.publicKey)
      } finally {
        wipe(entry.secret)
      }
      const header = await readFile(file).catch(() => undefined)
      const encrypted = header !== undefined && isKeystoreEncrypted(header)
      if (header !== undefined) wipe(header)
      const info = describePeer(peerId, encrypted, entry.label)
      if (wantsJson(cmd)) io.json(info)
      else printPeer(io, info)
      if (!encrypted && (opts.passphraseFile !== undefined || opts.passphraseCredential !== undefined)) {
        io.err(`peerguard: warning: ${file} is not encrypted; the passphrase was not needed`)
      }
    })

  registerIdExportCommand(id, io)
}
