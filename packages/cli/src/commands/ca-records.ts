import type { Command } from 'commander'
import { PeerguardError } from '@peerguard/interface'
import { type CaRecord, type RevocationReason, readCaDirectory } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { readLimited, wantsJson } from '../common.js'
import { openCa } from './ca-issue.js'
import { publishBundle } from './workspace.js'

function recordJson(r: CaRecord) {
  const { certificate: _der, ...rest } = r
  return { ...rest, status: r.revokedAt !== undefined ? 'revoked' : Date.parse(r.notAfter) < Date.now() ? 'expired' : 'valid' }
}

/** `ca revoke`: record the revocation of a certificate (by file or serial) in the CA database. */
export async function caRevoke(
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
export async function caList(io: CliIO, opts: { ca: string }, cmd: Command): Promise<void> {
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
