import { type Command, Option } from 'commander'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { loadIdentity, loadKeystore, saveKeystore } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, PeerguardError, wipe, writeFileAtomic } from '@peerguard/interface'
import {
  CertificateVerificationError,
  createCsr,
  exportPkcs12,
  type ParsedCertificate,
  parseCertificate,
  verifyPeerChain
} from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { assertWritable, buildTrust, collect, readCertificates, readPassphraseFile, wantsJson } from '../common.js'

function describe(c: ParsedCertificate) {
  return {
    subject: c.subject.text,
    issuer: c.issuer.text,
    serial: c.serial,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
    keyType: c.publicKey.keyType ?? 'unsupported',
    ca: c.ca,
    ...(c.pathLen === undefined ? {} : { pathLen: c.pathLen }),
    uris: c.uris,
    extKeyUsage: c.extKeyUsage ?? []
  }
}

/** `peerguard cert …`: requests, verification and inspection of peer certificates. */
export function registerCertCommands(program: Command, io: CliIO): void {
  const cert = program
    .command('cert')
    .description('peer certificates: make a request, verify a chain, show one')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard cert request --key alice.key --name alice --out alice.csr
  $ peerguard cert verify alice.pem --trust ca.pem --crl crl.pem --peer D6MKF66-PE4OQGK-SAMARVW-GYYMRZT-N62BQQU-ZSFYQRR-35CJPJ6-FIE5UQS`
    )

  cert
    .command('request')
    .description('make a certificate request (CSR) signed with your identity key; the key never leaves this machine')
    .requiredOption('--key <keystore>', 'your identity key file')
    .requiredOption('--name <name>', 'the name to ask for (certificate CN)')
    .requiredOption('--out <file>', 'the CSR file to write (PEM)')
    .option('--passphrase-file <file>', 'passphrase of the key file (also encrypts a new --p256-key-out)')
    .addOption(
      new Option('--key-type <type>', 'ed25519: certify the identity key; p256: a new P-256 key for tools without Ed25519')
        .choices(['ed25519', 'p256'])
        .default('ed25519')
    )
    .option('--p256-key-out <file>', 'with --key-type p256: where to keep the new P-256 key (keystore, mode 0600)')
    .option('--force', 'replace existing output files')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Send the CSR to the CA administrator, who runs \`peerguard ca issue --csr FILE\`. A p256 request
carries a proof, signed with your identity key, that the P-256 key is yours.

Example:
  $ peerguard cert request --key alice.key --passphrase-file alice.pass --name alice --out alice.csr
  $ peerguard cert request --key alice.key --name alice --key-type p256 --p256-key-out alice-p256.key --out alice-p256.csr`
    )
    .action((opts, cmd) => certRequest(io, opts, cmd))

  cert
    .command('verify')
    .description('verify a certificate chain against trusted roots: exit 0 valid, 1 invalid (with the reason code)')
    .argument('<cert>', 'the certificate file (PEM, leaf first, may include intermediates; or DER)')
    .requiredOption('--trust <file|dir>', 'trusted root certificate(s): a PEM file, or a directory of roots and CRLs')
    .option('--crl <file>', 'a CRL to check revocation against; repeat for more', collect, [])
    .option('--allow-missing-crl', 'check the chain without revocation for a CA whose CRL is not given (default: crl-missing)')
    .option('--chain <file>', 'intermediate CA certificates (PEM)')
    .option('--peer <peer-id>', 'require the certificate to name this peer ID')
    .addOption(
      new Option('--purpose <purpose>', 'required extended key usage (default: either)').choices(['clientAuth', 'serverAuth'])
    )
    .option('--at <time>', 'verify at this time (ISO 8601) instead of now')
    .option('--clock-skew <seconds>', 'tolerated clock difference in seconds (default 300)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Reason codes: cert-expired, cert-not-yet-valid, cert-bad-signature, cert-unknown-issuer, cert-not-a-ca,
cert-path-too-long, cert-wrong-usage, cert-revoked, cert-peer-mismatch, crl-missing, crl-stale,
crl-bad-signature, cert-unknown-critical-extension.

Revocation is checked for every CA of the chain: without its CRL (--crl, or in the --trust folder)
the answer is crl-missing, unless --allow-missing-crl.

Example:
  $ peerguard cert verify alice.pem --trust ca.pem --crl crl.pem --json`
    )
    .action((file, opts, cmd) => certVerify(io, file, opts, cmd))

  cert
    .command('p12')
    .description('bundle a key and its certificate chain as a password-protected PKCS#12 file for other tools')
    .requiredOption('--cert <file>', 'the certificate (PEM, leaf first; include the chain and root if the tool needs them)')
    .requiredOption('--key <keystore>', 'the key file (identity key, or a p256 keystore entry)')
    .option('--passphrase-file <file>', 'passphrase of the key file')
    .requiredOption('--p12-passphrase-file <file>', 'passphrase that protects the bundle (first line)')
    .addOption(
      new Option('--target <tool>', 'the tool that will import it; Ed25519 is refused for tools that cannot take it')
        .choices(['openssl', 'node', 'windows', 'macos', 'java', 'browser'])
        .default('openssl')
    )
    .requiredOption('--out <file>', 'the .p12 file to write (mode 0600)')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard cert p12 --cert alice.pem --key alice.key --passphrase-file alice.pass --p12-passphrase-file p12.pass --out alice.p12`
    )
    .action((opts, cmd) => certP12(io, opts, cmd))

  cert
    .command('show')
    .description('print the fields of a certificate: subject, issuer, serial, dates, key, peer ID, usages')
    .argument('<cert>', 'the certificate file (PEM or DER)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard cert show alice.pem --json`
    )
    .action((file, _opts, cmd) => certShow(io, file, _opts, cmd))
}

/** `cert request`: a CSR signed with the identity key (ed25519), or for a new P-256 key kept in a keystore (p256). */
async function certRequest(
  io: CliIO,
  opts: {
    key: string
    name: string
    out: string
    passphraseFile?: string
    keyType: 'ed25519' | 'p256'
    p256KeyOut?: string
    force?: boolean
  },
  cmd: Command
): Promise<void> {
  if ((opts.keyType === 'p256') !== (opts.p256KeyOut !== undefined)) {
    throw new PeerguardError('usage', '--p256-key-out goes with --key-type p256 (and is required by it)')
  }
  await assertWritable(opts.out, opts.force)
  if (opts.p256KeyOut !== undefined) await assertWritable(opts.p256KeyOut, opts.force)
  const passphrase = opts.passphraseFile === undefined ? {} : { passphrase: await readPassphraseFile(opts.passphraseFile) }
  const identity = await loadIdentity(opts.key, passphrase)
  let p256Key: Uint8Array | undefined
  try {
    const csr = await createCsr({ keyPair: identity.keyPair, name: opts.name, keyType: opts.keyType })
    p256Key = csr.p256Key
    if (p256Key !== undefined && opts.p256KeyOut !== undefined) {
      const spki = new Uint8Array(
        createPublicKey(createPrivateKey({ key: Buffer.from(p256Key), format: 'der', type: 'pkcs8' })).export({
          format: 'der',
          type: 'spki'
        })
      )
      await saveKeystore(
        opts.p256KeyOut,
        { type: 'p256', secret: p256Key, publicKey: spki, label: `${opts.name} (P-256)` },
        { ...passphrase, overwrite: opts.force === true }
      )
    }
    await writeFileAtomic(opts.out, csr.pem, { mode: 0o644, exclusive: opts.force !== true })
    const peerId = identity.peerId.toString()
    if (wantsJson(cmd))
      io.json({
        file: opts.out,
        name: opts.name,
        peerId,
        keyType: opts.keyType,
        ...(opts.p256KeyOut === undefined ? {} : { p256Key: opts.p256KeyOut })
      })
    else
      io.out(
        `wrote ${opts.out} for "${opts.name}" (peer ${peerId}${opts.keyType === 'p256' ? `, P-256 key in ${opts.p256KeyOut}` : ''})`
      )
    if (opts.p256KeyOut !== undefined && opts.passphraseFile === undefined) {
      io.err(`peerguard: warning: ${opts.p256KeyOut} is not encrypted; pass --passphrase-file to encrypt it`)
    }
  } finally {
    wipe(identity.keyPair.secretKey, p256Key)
  }
}

/** `--at` (ISO 8601) and `--clock-skew` (whole seconds) of `cert verify`, in milliseconds. */
function verifyClock(opts: { at?: string; clockSkew?: string }): { at?: number; skew?: number } {
  let at: number | undefined
  if (opts.at !== undefined) {
    at = Date.parse(opts.at)
    if (Number.isNaN(at)) throw new InvalidArgumentError(`--at: expected an ISO 8601 time, got ${JSON.stringify(opts.at)}`)
  }
  let skew: number | undefined
  if (opts.clockSkew !== undefined) {
    if (!/^\d+$/.test(opts.clockSkew))
      throw new InvalidArgumentError(`--clock-skew: expected whole seconds, got ${JSON.stringify(opts.clockSkew)}`)
    skew = Number.parseInt(opts.clockSkew, 10) * 1000
  }
  return { ...(at === undefined ? {} : { at }), ...(skew === undefined ? {} : { skew }) }
}

/** `cert verify`: exit 0 and the peer when the chain verifies, 1 and the reason code when it does not. */
async function certVerify(
  io: CliIO,
  file: string,
  opts: {
    trust: string
    crl: string[]
    chain?: string
    peer?: string
    purpose?: 'clientAuth' | 'serverAuth'
    at?: string
    clockSkew?: string
    allowMissingCrl?: boolean
    json?: boolean
  },
  cmd: Command
): Promise<void> {
  const { at, skew } = verifyClock(opts)
  const chain = await readCertificates(file)
  if (opts.chain !== undefined) chain.push(...(await readCertificates(opts.chain)))
  const trust = await buildTrust(
    { trust: opts.trust, crl: opts.crl, allowMissingCrl: opts.allowMissingCrl === true },
    { ...(at === undefined ? {} : { clock: { now: () => at } }), ...(skew === undefined ? {} : { clockSkewMs: skew }) }
  )
  if (opts.allowMissingCrl === true)
    io.err('peerguard: warning: --allow-missing-crl: a CA without a CRL is not checked for revocation')
  try {
    const peer = await verifyPeerChain(chain, {
      trust,
      ...(opts.purpose === undefined ? {} : { purpose: opts.purpose }),
      ...(opts.peer === undefined ? {} : { expectedPeerId: opts.peer })
    })
    const info = {
      valid: true,
      peerId: peer.peerId,
      name: peer.name,
      groups: peer.groups,
      serial: peer.serial,
      notAfter: peer.notAfter.toISOString(),
      chainLength: peer.chain.length
    }
    if (wantsJson(cmd)) io.json(info)
    else io.out(`ok: ${file}: "${peer.name}" peer ${peer.peerId} serial ${peer.serial}, valid until ${info.notAfter}`)
  } catch (err) {
    if (!(err instanceof CertificateVerificationError) && !(isPeerguardError(err) && err.exitCode === 1)) throw err
    const e = err as CertificateVerificationError
    if (wantsJson(cmd)) io.json({ valid: false, error: e.toJSON() })
    else {
      io.out(`invalid: ${file}: ${e.code}`)
      io.err(`peerguard: error: ${e.message}`)
      const hint = (e.details as { hint?: unknown } | undefined)?.hint
      if (typeof hint === 'string') io.err(`peerguard: hint: ${hint}`)
    }
    io.setExitCode(1)
  }
}

/** `cert p12`: the key and its chain as a password-protected PKCS#12 bundle (mode 0600). */
async function certP12(
  io: CliIO,
  opts: {
    cert: string
    key: string
    passphraseFile?: string
    p12PassphraseFile: string
    target: 'openssl'
    out: string
    force?: boolean
  },
  cmd: Command
): Promise<void> {
  await assertWritable(opts.out, opts.force)
  const chain = await readCertificates(opts.cert)
  const bundlePass = await readPassphraseFile(opts.p12PassphraseFile)
  const entry = await loadKeystore(
    opts.key,
    opts.passphraseFile === undefined ? {} : { passphrase: await readPassphraseFile(opts.passphraseFile) }
  )
  let key: Uint8Array
  if (entry.type === 'ed25519') {
    key = new Uint8Array(Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), entry.secret]))
  } else {
    key = Uint8Array.from(entry.secret)
  }
  try {
    const p12 = exportPkcs12({ key, chain, passphrase: bundlePass, target: opts.target })
    await writeFileAtomic(opts.out, p12, { mode: 0o600, exclusive: opts.force !== true })
    if (wantsJson(cmd)) io.json({ file: opts.out, certificates: chain.length, target: opts.target })
    else io.out(`wrote ${opts.out} (${chain.length} certificate(s) and the key, for ${opts.target})`)
  } finally {
    wipe(key, entry.secret)
  }
}

/** `cert show`: the fields of each certificate in the file. */
async function certShow(io: CliIO, file: string, _opts: unknown, cmd: Command): Promise<void> {
  const certs = (await readCertificates(file)).map((d) => describe(parseCertificate(d)))
  if (wantsJson(cmd)) {
    io.json(certs.length === 1 ? certs[0] : certs)
    return
  }
  for (const c of certs) {
    io.out(`subject:   ${c.subject}`)
    io.out(`issuer:    ${c.issuer}`)
    io.out(`serial:    ${c.serial}`)
    io.out(`valid:     ${c.notBefore} .. ${c.notAfter}`)
    io.out(`key:       ${c.keyType}${c.ca ? ` (CA${c.pathLen === undefined ? '' : `, pathLen ${c.pathLen}`})` : ''}`)
    for (const u of c.uris) io.out(`san:       ${u}`)
    if (c.extKeyUsage.length > 0) io.out(`eku:       ${c.extKeyUsage.join(', ')}`)
  }
}
