import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, type KeyPair, saveIdentity } from '@peerguard/identity'
import { type CertificateAuthority, createCertificateAuthority } from '@peerguard/pki'

/** A peer of `makeLanCa` with its files: identity key (unencrypted keystore) and chain (PEM). */
export interface LanCaPeer {
  readonly name: string
  readonly groups: readonly string[]
  readonly identity: KeyPair
  readonly peerId: string
  readonly serial: string
  /** Leaf first (DER). */
  readonly chain: Uint8Array[]
  /** Path of the identity keystore (`<dir>/<name>.key`). */
  readonly key: string
  /** Path of the certificate chain, PEM (`<dir>/<name>.pem`). */
  readonly cert: string
}

/** A LAN CA on disk, as the CLI's hardened commands take it. */
export interface LanCa {
  readonly ca: CertificateAuthority
  readonly dir: string
  /** The root certificate, PEM (`<dir>/ca.pem`): `--trust FILE`. */
  readonly root: string
  /** The CA's current CRL (`<dir>/ca.crl`): `--crl FILE`. */
  readonly crl: string
  /** A folder with the root and its CRL (`<dir>/trust/ca.pem`, `ca.crl`): `--trust DIR`. */
  readonly trustDir: string
  readonly peers: Record<string, LanCaPeer>
  /** The peer called `name` (throws if there is none). */
  peer(name: string): LanCaPeer
  /** Issue another peer (by this CA or `issuer`) and write its files. */
  issue(name: string, groups?: readonly string[], options?: { issuer?: CertificateAuthority }): Promise<LanCaPeer>
  /** Write the CA's CRL again (after `ca.revoke`), in both places. */
  writeCrl(): Promise<void>
  /**
   * The credential flags of a hardened command for `name`: `--identity --cert`, then
   * `--trust <root> --crl <crl>` (default) or `--trust <trustDir>` (`trust: 'dir'`).
   */
  creds(name: string, options?: { trust?: 'file' | 'dir' }): string[]
}

export interface MakeLanCaOptions {
  /** An existing folder; the files go straight into it. */
  dir: string
  /** CA name. Default 'Test LAN CA'. */
  name?: string
  /** Peers to issue: names, or names with groups (certificate OUs). Default none. */
  peers?: ReadonlyArray<string | { name: string; groups?: readonly string[] }>
  /** The CRL's encoding on disk. Default 'pem'. */
  crlFormat?: 'pem' | 'der'
}

/**
 * A LAN CA with issued peers written to `dir`, the set-up of every black-box test of a hardened
 * command: root, CRL (revocation is required, so every command gets one), a trust folder with
 * both, and each peer's identity and chain. Built with @peerguard/pki's own API.
 */
export async function makeLanCa(options: MakeLanCaOptions): Promise<LanCa> {
  const { dir } = options
  const ca = await createCertificateAuthority({ name: options.name ?? 'Test LAN CA' })
  const root = join(dir, 'ca.pem')
  const crl = join(dir, 'ca.crl')
  const trustDir = join(dir, 'trust')
  await mkdir(trustDir, { recursive: true })
  await writeFile(root, ca.certificatePem)
  await writeFile(join(trustDir, 'ca.pem'), ca.certificatePem)
  const writeCrl = async (): Promise<void> => {
    const current = await ca.crl()
    const bytes = options.crlFormat === 'der' ? current.der : current.pem
    await writeFile(crl, bytes)
    await writeFile(join(trustDir, 'ca.crl'), bytes)
  }
  const peers: Record<string, LanCaPeer> = {}
  const issue = async (
    name: string,
    groups: readonly string[] = [],
    o: { issuer?: CertificateAuthority } = {}
  ): Promise<LanCaPeer> => {
    const identity = generateKeyPair()
    const certificate = await (o.issuer ?? ca).issuePeer({ publicKey: identity.publicKey, name, groups: [...groups] })
    const peer: LanCaPeer = {
      name,
      groups: [...groups],
      identity,
      peerId: certificate.peerId,
      serial: certificate.serial,
      chain: certificate.chain,
      key: join(dir, `${name}.key`),
      cert: join(dir, `${name}.pem`)
    }
    await saveIdentity(peer.key, identity, { overwrite: true })
    await writeFile(peer.cert, certificate.chainPem)
    peers[name] = peer
    return peer
  }
  for (const p of options.peers ?? []) {
    const spec = typeof p === 'string' ? { name: p } : p
    await issue(spec.name, spec.groups ?? [])
  }
  await writeCrl()
  const peer = (name: string): LanCaPeer => {
    const found = peers[name]
    if (found === undefined) throw new Error(`makeLanCa: no peer named ${name}`)
    return found
  }
  return {
    ca,
    dir,
    root,
    crl,
    trustDir,
    peers,
    issue,
    writeCrl,
    peer,
    creds(name, o = {}) {
      const { key, cert } = peer(name)
      const trust = o.trust === 'dir' ? ['--trust', trustDir] : ['--trust', root, '--crl', crl]
      return ['--identity', key, '--cert', cert, ...trust]
    }
  }
}
