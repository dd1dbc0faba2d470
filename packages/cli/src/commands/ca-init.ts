import type { Command } from 'commander'
import { type CertificateAuthority, initCaDirectory, initIntermediateDirectory, openCaDirectory } from '@peerguard/pki'
import type { CliIO } from '../io.js'
import { passphraseOf, wantsJson } from '../common.js'

/** `ca init`: a root CA, or with --parent an intermediate CA, in a new directory. */
export async function caInit(
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
