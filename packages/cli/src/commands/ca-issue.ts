import type { Command } from 'commander'
import { loadIdentity, peerIdFromString } from '@peerguard/identity'
import { PeerguardError, wipe, writeFileAtomic } from '@peerguard/interface'
import {
  type CertificateAuthority,
  checkDnsNames,
  checkIpAddresses,
  type IssuedCertificate,
  openCaDirectory
} from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { assertWritable, passphraseOf, readLimited, wantsJson } from '../common.js'

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

export async function openCa(opts: { ca: string; passphraseFile?: string }): Promise<CertificateAuthority> {
  return openCaDirectory(opts.ca, await passphraseOf(opts.passphraseFile))
}

/** A `.der` or `.cer` output gets DER (the leaf only: DER holds one certificate); anything else PEM. */
/** A `.der`/`.cer` output path gets DER; anything else PEM. */
export function wantsDer(path: string): boolean {
  return /\.(der|cer)$/i.test(path)
}

async function writeCert(path: string, issued: IssuedCertificate, force: boolean | undefined): Promise<void> {
  await writeFileAtomic(path, wantsDer(path) ? issued.der : issued.chainPem, { mode: 0o644, exclusive: force !== true })
}

/** `ca issue`: a peer certificate for a key file, a peer ID or a CSR; the file is written before the CA records it. */
export async function caIssue(
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
export async function caRenew(
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
