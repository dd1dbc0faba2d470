import { type Command, Option } from 'commander'
import { InvalidArgumentError } from '@peerguard/interface'
import { REVOCATION_REASONS } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { collect } from '../common.js'
import { registerCaCrlCommands } from './ca-crl.js'
import { caInit } from './ca-init.js'
import { caIssue, caRenew } from './ca-issue.js'
import { caList, caRevoke } from './ca-records.js'
import { registerCaTokenCommands } from './ca-token.js'

function positiveInt(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name}: expected a whole number, got ${JSON.stringify(value)}`)
    return Number.parseInt(value, 10)
  }
}

/** `--days` and `--crl-url`: the lifetime and CRL distribution points of a certificate `ca issue` or `ca renew` signs. */
function lifetimeOptions(cmd: Command): Command {
  return cmd
    .option('--days <n>', 'lifetime in days (default 30)', positiveInt('--days'))
    .option(
      '--crl-url <url>',
      "CRL distribution point (http://) for this certificate instead of the CA's setting; repeatable",
      collect
    )
}

/** `--passphrase-file`, `--force`, `--json` (after `--out`) of `ca issue` and `ca renew`. */
function signingOptions(cmd: Command): Command {
  return cmd
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'machine-readable output (JSON on stdout)')
}

/** `peerguard ca …`: run a small LAN certificate authority kept in a directory. */
export function registerCaCommands(program: Command, io: CliIO): void {
  const ca = program
    .command('ca')
    .description('run a LAN certificate authority: init, issue, renew, revoke, crl, publish, list')
    .addHelpText(
      'after',
      `
The CA directory holds ca.pem (certificate), ca.key (key, encrypted with the passphrase),
ca.db.json (issued and revoked certificates, settings) and crl.pem (the newest CRL). Commands
that use the key take --passphrase-file.

Example:
  $ peerguard ca init --dir lan-ca --name "Home LAN CA" --passphrase-file ca.pass
  $ peerguard ca issue --ca lan-ca --key alice.key --name alice --group family --out alice.pem --passphrase-file ca.pass`
    )

  ca.command('init')
    .description('create a root CA (or, with --parent, an intermediate CA) in a new directory')
    .requiredOption('--dir <dir>', 'the CA directory to create')
    .requiredOption('--name <name>', 'the CA name (certificate CN)')
    .addOption(
      new Option('--key-type <type>', 'CA key type; p256 for tools without Ed25519')
        .choices(['ed25519', 'p256'])
        .default('ed25519')
    )
    .option('--days <n>', 'lifetime in days (default 3650 root, 1825 intermediate)', positiveInt('--days'))
    .option('--path-len <n>', 'how many intermediate CAs may follow (default 1 root, 0 intermediate)', positiveInt('--path-len'))
    .option('--passphrase-file <file>', 'encrypt the CA key with the first line of this file (recommended)')
    .option('--parent <dir>', 'make an intermediate CA issued by the CA in this directory')
    .option('--parent-passphrase-file <file>', 'passphrase of the parent CA key')
    .option(
      '--crl-url <url>',
      "CRL distribution point (http://) every certificate this CA issues will carry: where `ca publish` serves this CA's CRL; repeatable",
      collect
    )
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard ca init --dir lan-ca --name "Home LAN CA" --crl-url http://ca.lan:8080/lan-ca.crl --passphrase-file ca.pass
  $ peerguard ca init --dir issuing --name "Issuing CA" --parent lan-ca --parent-passphrase-file ca.pass --passphrase-file issuing.pass`
    )
    .action((opts, cmd) => caInit(io, opts, cmd))

  signingOptions(
    lifetimeOptions(
      ca
        .command('issue')
        .description("issue a peer certificate for a key file, a peer ID or a peer's CSR")
        .requiredOption('--ca <dir>', 'the CA directory')
        .option('--key <keystore>', "the peer's identity key file (only its public key is used)")
        .option('--key-passphrase-file <file>', "passphrase of the peer's key file, when it is encrypted")
        .option('--csr <file>', "the peer's certificate request (from `peerguard cert request` or openssl req)")
        .option('--peer-id <id>', 'issue for this peer ID (the ID is the public key)')
        .option('--name <name>', 'the peer name (certificate CN); required unless the CSR names one')
        .option('--group <group>', 'a group (certificate OU) the policy can match; repeat for more', collect, [])
        .option('--dns <name>', 'a host name (DNS SAN) standard TLS clients such as curl check; repeat for more', collect, [])
        .option('--ip <address>', 'an IP address (IP SAN) standard TLS clients such as curl check; repeat for more', collect, [])
    ).requiredOption(
      '--out <file>',
      'the certificate file to write: PEM (with an intermediate CA, leaf then chain), or DER when it ends in .der/.cer'
    )
  )
    .addHelpText(
      'after',
      `
Example:
  $ peerguard ca issue --ca lan-ca --key alice.key --name alice --group family --out alice.pem --passphrase-file ca.pass
  $ peerguard ca issue --ca lan-ca --csr bob.csr --name bob --days 7 --out bob.pem --passphrase-file ca.pass
  $ peerguard ca issue --ca lan-ca --key nas.key --name nas --dns nas.lan --dns localhost --ip 127.0.0.1 \\
      --out nas.pem --passphrase-file ca.pass

--dns and --ip name the hosts a TLS client (curl, openssl s_client, a browser) connects to, so
its hostname check passes; peerguard's own peers are matched by peer ID, not by these.
\`ca renew\` keeps them.`
    )
    .action((opts, cmd) => caIssue(io, opts, cmd))

  signingOptions(
    lifetimeOptions(
      ca
        .command('renew')
        .description(
          'issue a fresh certificate (new serial and dates) for the same peer, name and groups; never for a revoked one'
        )
        .requiredOption('--ca <dir>', 'the CA directory')
        .argument('<cert>', 'the certificate to renew (PEM or DER)')
    ).requiredOption('--out <file>', 'the new certificate file')
  )
    .addHelpText(
      'after',
      `
Example:
  $ peerguard ca renew --ca lan-ca alice.pem --out alice-new.pem --passphrase-file ca.pass`
    )
    .action((certFile, opts, cmd) => caRenew(io, certFile, opts, cmd))

  ca.command('revoke')
    .description('revoke a certificate this CA issued (recorded in the CA database; publish with `ca crl`)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .argument('[cert]', 'the certificate to revoke (PEM or DER)')
    .option('--serial <hex>', 'the serial number to revoke (as `ca list` prints it)')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 revocation reason').choices([...REVOCATION_REASONS]).default('unspecified')
    )
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .option(
      '--publish <bundle-dir>',
      "also sign the new CRL as the next workspace bundle into the admin node's bundle-dir (as `workspace publish`)"
    )
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard ca revoke --ca lan-ca alice.pem --reason keyCompromise --passphrase-file ca.pass
  $ peerguard ca crl --ca lan-ca --out crl.pem --passphrase-file ca.pass
  $ peerguard ca revoke --ca lan-ca --serial 4f1c… --publish /var/lib/peerguard/workspace`
    )
    .action((certFile, opts, cmd) => caRevoke(io, certFile, opts, cmd))

  registerCaCrlCommands(ca, io)
  registerCaTokenCommands(ca, io)

  ca.command('list')
    .description('list the certificates this CA issued, with their state (no passphrase needed)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard ca list --ca lan-ca --json`
    )
    .action((opts, cmd) => caList(io, opts, cmd))
}
