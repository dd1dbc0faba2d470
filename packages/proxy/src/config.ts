import { readFile, stat } from 'node:fs/promises'
import { type KeyPair, loadIdentity } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, PeerguardError, type PolicyDecider } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import { createTrustStore, loadTrustStore, pemDecodeAll, parseCertificate, type TrustStore } from '@peerguard/pki'
import { ProxyConfigInvalidError } from './errors.js'

/** What a proxy end needs to authenticate: identity, certificate chain, trust store, and (server) policy. */
export interface ProxyConfig {
  /** This end's Ed25519 identity. */
  readonly identity: KeyPair
  /** This end's certificate chain, leaf first, DER. */
  readonly chain: readonly Uint8Array[]
  /** Roots and CRLs the other end's chain is checked against. */
  readonly trust: TrustStore
  /** The policy deciding who may reach the service (server side). */
  readonly policy?: PolicyDecider
}

/** Files a proxy configuration is read from (what the CLI flags name). */
export interface ProxyFiles {
  /** Identity key file (`peerguard id new`). */
  identity: string
  /** Passphrase of an encrypted identity file. Default: none. */
  passphrase?: string
  /** Certificate file: PEM (leaf first, then intermediates) or one DER certificate. */
  cert: string
  /** Trusted root(s): a PEM/DER file, or a directory as `loadTrustStore` reads it. */
  trust: string
  /** CRL files (PEM or DER). Default: none (a trust directory may hold its own). */
  crls?: readonly string[]
  /**
   * Require a CRL for every CA of a peer's chain (`crl-missing` otherwise). Default true; false is
   * the admin's explicit opt-out (`--allow-missing-crl`).
   */
  requireCrl?: boolean
  /** Policy file (server side). Default: none. */
  policy?: string
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${path}: no such ${what} file`, { cause: err })
    throw new PeerguardError('io-error', `${path}: cannot read the ${what} file (${e.code ?? e.message})`, { cause: err })
  }
}

function derOrPem(bytes: Buffer, label: 'CERTIFICATE' | 'X509 CRL', path: string): Uint8Array[] {
  if (bytes[0] === 0x30) return [new Uint8Array(bytes)]
  const text = bytes.toString('latin1')
  let out: Uint8Array[]
  try {
    out = pemDecodeAll(text, label)
  } catch (err) {
    throw new ProxyConfigInvalidError(`${path}: ${(err as Error).message}`, { cause: err })
  }
  if (out.length === 0) throw new ProxyConfigInvalidError(`${path}: no PEM ${label} block and not DER`)
  return out
}

/** Wrap anything that is not already a located peerguard error. */
function located(path: string, err: unknown): PeerguardError {
  if (isPeerguardError(err)) {
    if (err.message.includes(path)) return err
    return new PeerguardError(err.code, `${path}: ${err.message}`, {
      cause: err,
      ...(err.details === undefined ? {} : { details: err.details })
    })
  }
  return new ProxyConfigInvalidError(`${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/**
 * Read every file of a proxy configuration and check it: the key decrypts, the certificate parses
 * and carries the identity's key, the roots parse, the policy compiles. All or nothing: any bad file
 * throws (the caller keeps its old configuration).
 */
export async function loadProxyConfig(files: ProxyFiles): Promise<ProxyConfig> {
  if (typeof files !== 'object' || files === null) throw new InvalidArgumentError('files: expected an object')
  for (const k of ['identity', 'cert', 'trust'] as const) {
    if (typeof files[k] !== 'string' || files[k].length === 0)
      throw new InvalidArgumentError(`files.${k}: expected a non-empty path`)
  }
  if (files.crls !== undefined && (!Array.isArray(files.crls) || files.crls.some((c) => typeof c !== 'string')))
    throw new InvalidArgumentError('files.crls: expected an array of paths')
  if (files.policy !== undefined && typeof files.policy !== 'string')
    throw new InvalidArgumentError('files.policy: expected a path')
  if (files.requireCrl !== undefined && typeof files.requireCrl !== 'boolean')
    throw new InvalidArgumentError('files.requireCrl: expected boolean')
  const requireCrl = files.requireCrl ?? true

  const { keyPair: identity } = await loadIdentity(
    files.identity,
    files.passphrase === undefined ? {} : { passphrase: files.passphrase }
  ).catch((err: unknown) => {
    throw located(files.identity, err)
  })
  const chain = derOrPem(await read(files.cert, 'certificate'), 'CERTIFICATE', files.cert)
  let leaf: ReturnType<typeof parseCertificate>
  try {
    leaf = parseCertificate(chain[0] as Uint8Array)
  } catch (err) {
    throw located(files.cert, err)
  }
  const leafKey = leaf.publicKey.raw
  if (!(leafKey instanceof Uint8Array) || Buffer.compare(Buffer.from(leafKey), Buffer.from(identity.publicKey)) !== 0) {
    throw new ProxyConfigInvalidError(`${files.cert}: the certificate was not issued for the key in ${files.identity}`)
  }
  const crls: Uint8Array[] = []
  for (const c of files.crls ?? []) crls.push(...derOrPem(await read(c, 'CRL'), 'X509 CRL', c))
  let trust: TrustStore
  const isDir = await stat(files.trust).then(
    (s) => s.isDirectory(),
    (err: NodeJS.ErrnoException) => {
      throw new PeerguardError(
        err.code === 'ENOENT' ? 'not-found' : 'io-error',
        `${files.trust}: no such trust file or directory`,
        { cause: err }
      )
    }
  )
  try {
    if (isDir) {
      trust = await loadTrustStore(files.trust, { requireCrl, crls })
    } else {
      trust = createTrustStore({
        roots: derOrPem(await read(files.trust, 'trust'), 'CERTIFICATE', files.trust),
        crls,
        requireCrl
      })
    }
  } catch (err) {
    throw located(files.trust, err)
  }
  const policy = files.policy === undefined ? undefined : loadPolicy({ path: files.policy })
  return { identity, chain, trust, ...(policy === undefined ? {} : { policy }) }
}
