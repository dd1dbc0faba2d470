import { type Command, Option } from 'commander'
import { loadIdentity, peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError, wipe, writeFileAtomic } from '@peerguard/interface'
import {
  type CaRecord,
  type CertificateAuthority,
  checkDnsNames,
  checkIpAddresses,
  type IssuedCertificate,
  initCaDirectory,
  initIntermediateDirectory,
  openCaDirectory,
  REVOCATION_REASONS,
  type RevocationReason,
  readCaDirectory
} from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { assertWritable, collect, passphraseOf, readLimited, wantsJson } from '../common.js'
import { registerCaCrlCommands } from './ca-crl.js'
import { registerCaTokenCommands } from './ca-token.js'
import { publishBundle } from './workspace.js'

function positiveInt(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name}: expected a whole number, got ${JSON.stringify(value)}`)
    return Number.parseInt(value, 10)
  }
}

function issuedJson(c: IssuedCertificate, out: string) {
  return {
    file: out,
    serial: c.serial,
    peerId: c.peerId,
    name: c.name,
    groups: c.groups,
    dnsNames: c.dnsNames,
    ipAddresses: c.ipAddresses,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString()
  }
}

function printIssued(io: CliIO, cmd: Command, c: IssuedCertificate, out: string): void {
  if (wantsJson(cmd)) {
    io.json(issuedJson(c, out))
    return
  }
  io.out(`issued ${out}`)
  io.out(`  name:      ${c.name}${c.groups.length > 0 ? ` (groups: ${c.groups.join(', ')})` : ''}`)
  io.out(`  peer ID:   ${c.peerId}`)
  const hosts = [...c.dnsNames, ...c.ipAddresses]
  if (hosts.length > 0) io.out(`  hosts:     ${hosts.join(', ')}`)
  io.out(`  serial:    ${c.serial}`)
  io.out(`  expires:   ${c.notAfter.toISOString()}`)
}

async function openCa(opts: { ca: string; passphraseFile?: string }): Promise<CertificateAuthority> {
  return openCaDirectory(opts.ca, await passphraseOf(opts.passphraseFile))
}

/** A `.der` or `.cer` output gets DER (the leaf only: DER holds one certificate); anything else PEM. */
function wantsDer(path: string): boolean {
  return /\.(der|cer)$/i.test(path)
}

async function writeCert(path: string, issued: IssuedCertificate, force: boolean | undefined): Promise<void> {
  await writeFileAtomic(path, wantsDer(path) ? issued.der : issued.chainPem, { mode: 0o644, exclusive: force !== true })
}

function recordJson(r: CaRecord) {
  const { certificate: _der, ...rest } = r
  return { ...rest, status: r.revokedAt !== undefined ? 'revoked' : Date.parse(r.notAfter) < Date.now() ? 'expired' : 'valid' }
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

  ca.command('issue')
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
    .option('--days <n>', 'lifetime in days (default 30)', positiveInt('--days'))
    .option(
      '--crl-url <url>',
      "CRL distribution point (http://) for this certificate instead of the CA's setting; repeatable",
      collect
    )
    .requiredOption(
      '--out <file>',
      'the certificate file to write: PEM (with an intermediate CA, leaf then chain), or DER when it ends in .der/.cer'
    )
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'machine-readable output (JSON on stdout)')
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

  ca.command('renew')
    .description('issue a fresh certificate (new serial and dates) for the same peer, name and groups; never for a revoked one')
    .requiredOption('--ca <dir>', 'the CA directory')
    .argument('<cert>', 'the certificate to renew (PEM or DER)')
    .option('--days <n>', 'lifetime in days (default 30)', positiveInt('--days'))
    .option(
      '--crl-url <url>',
      "CRL distribution point (http://) for this certificate instead of the CA's setting; repeatable",
      collect
    )
    .requiredOption('--out <file>', 'the new certificate file')
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'machine-readable output (JSON on stdout)')
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

/** `ca init`: a root CA, or with --parent an intermediate CA, in a new directory. */
async function caInit(
  io: CliIO,
  opts: {
    dir: string
    name: string
    keyType: 'ed25519' | 'p256'
    days?: number
    pathLen?: number
    passphraseFile?: string
    parent?: string
    parentPassphraseFile?: string
    crlUrl?: string[]
  },
  cmd: Command
): Promise<void> {
  const key = await passphraseOf(opts.passphraseFile)
  let made: CertificateAuthority
  if (opts.parent !== undefined) {
    const parent = await openCaDirectory(opts.parent, await passphraseOf(opts.parentPassphraseFile))
    made = await initIntermediateDirectory(opts.dir, parent, {
      name: opts.name,
      keyType: opts.keyType,
      ...(opts.days === undefined ? {} : { days: opts.days }),
      ...(opts.pathLen === undefined ? {} : { pathLen: opts.pathLen }),
      ...(opts.crlUrl === undefined ? {} : { ownCrlDistributionPoints: opts.crlUrl }),
      ...key
    })
  } else {
    made = await initCaDirectory(opts.dir, {
      name: opts.name,
      keyType: opts.keyType,
      ...(opts.days === undefined ? {} : { days: opts.days }),
      ...(opts.pathLen === undefined ? {} : { pathLen: opts.pathLen }),
      ...(opts.crlUrl === undefined ? {} : { crlDistributionPoints: opts.crlUrl }),
      ...key
    })
  }
  const crlUrls = await made.getCrlDistributionPoints()
  const info = {
    dir: opts.dir,
    name: made.name,
    keyType: made.keyType,
    certificate: `${opts.dir}/ca.pem`,
    serial: made.parsed.serial,
    notAfter: new Date(made.parsed.notAfter).toISOString(),
    intermediate: opts.parent !== undefined,
    encrypted: key.passphrase !== undefined,
    crlDistributionPoints: crlUrls
  }
  if (wantsJson(cmd)) io.json(info)
  else {
    io.out(`created ${info.intermediate ? 'intermediate' : 'root'} CA "${made.name}" (${made.keyType}) in ${opts.dir}`)
    io.out(`  certificate: ${info.certificate} (give this to every peer as its trust root)`)
    io.out(`  expires:     ${info.notAfter}`)
    if (crlUrls.length > 0)
      io.out(`  CRL URL:     ${crlUrls.join(', ')} (serve it with \`peerguard ca publish --ca ${opts.dir}\`)`)
  }
  if (key.passphrase === undefined) {
    io.err(`peerguard: warning: ${opts.dir}/ca.key is not encrypted; anyone who can read it can issue certificates`)
    io.err('peerguard: hint: use --passphrase-file FILE to encrypt the CA key at rest')
  }
}

/** `ca issue`: a peer certificate for a key file, a peer ID or a CSR; the file is written before the CA records it. */
async function caIssue(
  io: CliIO,
  opts: {
    ca: string
    key?: string
    keyPassphraseFile?: string
    csr?: string
    peerId?: string
    name?: string
    group: string[]
    dns: string[]
    ip: string[]
    days?: number
    crlUrl?: string[]
    out: string
    passphraseFile?: string
    force?: boolean
  },
  cmd: Command
): Promise<void> {
  const sources = [opts.key, opts.csr, opts.peerId].filter((s) => s !== undefined)
  if (sources.length !== 1) throw new PeerguardError('usage', 'give exactly one of --key, --csr or --peer-id')
  await assertWritable(opts.out, opts.force)
  const days = {
    ...(opts.days === undefined ? {} : { days: opts.days }),
    ...(opts.crlUrl === undefined ? {} : { crlDistributionPoints: opts.crlUrl }),
    // Checked here so a bad value is reported under its flag's name.
    dnsNames: checkDnsNames('--dns', opts.dns),
    ipAddresses: checkIpAddresses('--ip', opts.ip)
  }
  let issued: IssuedCertificate
  if (opts.csr !== undefined) {
    const csr = await readLimited(opts.csr, 'certificate request')
    const authority = await openCa(opts)
    issued = await authority.signCsr(new Uint8Array(csr), {
      beforeCommit: (c) => writeCert(opts.out, c, opts.force),
      ...(opts.name === undefined ? {} : { name: opts.name }),
      groups: opts.group,
      ...days
    })
  } else {
    if (opts.name === undefined) throw new PeerguardError('usage', '--name is required with --key or --peer-id')
    let publicKey: Uint8Array
    if (opts.key !== undefined) {
      const identity = await loadIdentity(opts.key, await passphraseOf(opts.keyPassphraseFile))
      publicKey = identity.keyPair.publicKey
      wipe(identity.keyPair.secretKey)
    } else {
      publicKey = peerIdFromString(opts.peerId as string).publicKey
    }
    const authority = await openCa(opts)
    issued = await authority.issuePeer({
      publicKey,
      name: opts.name,
      groups: opts.group,
      ...days,
      beforeCommit: (c) => writeCert(opts.out, c, opts.force)
    })
  }
  printIssued(io, cmd, issued, opts.out)
}

/** `ca renew`: a fresh certificate for the same peer, name and groups (never for a revoked one). */
async function caRenew(
  io: CliIO,
  certFile: string,
  opts: { ca: string; days?: number; crlUrl?: string[]; out: string; passphraseFile?: string; force?: boolean },
  cmd: Command
): Promise<void> {
  await assertWritable(opts.out, opts.force)
  const cert = await readLimited(certFile, 'certificate')
  const authority = await openCa(opts)
  const issued = await authority.renew(new Uint8Array(cert), {
    ...(opts.days === undefined ? {} : { days: opts.days }),
    ...(opts.crlUrl === undefined ? {} : { crlDistributionPoints: opts.crlUrl }),
    beforeCommit: (c) => writeCert(opts.out, c, opts.force)
  })
  printIssued(io, cmd, issued, opts.out)
}

/** `ca revoke`: record the revocation of a certificate (by file or serial) in the CA database. */
async function caRevoke(
  io: CliIO,
  certFile: string | undefined,
  opts: { ca: string; serial?: string; reason: RevocationReason; passphraseFile?: string; publish?: string },
  cmd: Command
): Promise<void> {
  if ((certFile === undefined) === (opts.serial === undefined))
    throw new PeerguardError('usage', 'give either a certificate file or --serial, not both')
  const target = certFile !== undefined ? new Uint8Array(await readLimited(certFile, 'certificate')) : (opts.serial as string)
  const authority = await openCa(opts)
  const rec = await authority.revoke(target, opts.reason)
  const { passphraseFile } = opts
  const published =
    opts.publish === undefined
      ? undefined
      : await publishBundle({ ca: opts.ca, bundleDir: opts.publish, ...(passphraseFile === undefined ? {} : { passphraseFile }) })
  if (wantsJson(cmd)) io.json({ ...recordJson(rec), ...(published === undefined ? {} : { published }) })
  else {
    io.out(`revoked ${rec.serial} (${rec.name}) at ${rec.revokedAt} (${rec.reason})`)
    if (published !== undefined) io.out(`bundle version ${published.version} written to ${published.written.join(', ')}`)
    else io.err('peerguard: hint: sign and publish a new CRL with `peerguard ca crl`')
  }
}

/** `ca list`: the certificates this CA issued, with their state. */
async function caList(io: CliIO, opts: { ca: string }, cmd: Command): Promise<void> {
  const { certificate, database } = await readCaDirectory(opts.ca)
  const records = database.certificates.map(recordJson)
  if (wantsJson(cmd)) {
    io.json({
      ca: certificate.subject.commonName ?? certificate.subject.text,
      crlNumber: database.crlNumber,
      certificates: records
    })
    return
  }
  io.out(
    `CA "${certificate.subject.commonName ?? certificate.subject.text}": ${records.length} issued, last CRL #${database.crlNumber}`
  )
  for (const r of records) {
    io.out(
      `${r.serial.padEnd(34)} ${r.status.padEnd(8)} ${r.kind.padEnd(12)} ${r.name}${r.peerId === undefined ? '' : ` ${r.peerId}`}`
    )
  }
}
