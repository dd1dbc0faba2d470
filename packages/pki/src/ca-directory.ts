import { mkdir, readFile, rmdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { loadKeystore, type ScryptParams, saveKeystore } from '@peerguard/identity'
import {
  assertString,
  type Clock,
  InvalidArgumentError,
  isPeerguardError,
  PeerguardError,
  writeFileAtomic
} from '@peerguard/interface'
import { type CaDatabase, type CaRecord, emptyDatabase, fileCaStore, parseDatabase } from './ca-store.js'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import type { CreateCertificateAuthorityOptions, IssueIntermediateOptions } from './ca-options.js'
import { CertificateAuthority } from './certificate-authority.js'
import { createCertificateAuthority } from './create-certificate-authority.js'
import { checkCrlUrls } from './distribution-points.js'
import { CaBadPassphraseError, CaExistsError, CaNotFoundError } from './errors.js'
import { pemDecodeAll, pemEncode } from './pem.js'

/**
 * A CA kept in a directory:
 *
 *   ca.pem       the CA certificate (mode 0644)
 *   chain.pem    issuers above an intermediate CA, nearest first (intermediates only)
 *   ca.key       the CA key in the @peerguard/identity keystore format, encrypted with the passphrase (0600)
 *   ca.db.json   issued and revoked certificates, CRL number, CRL distribution points (0600; changed under ca.db.json.lock)
 *   crl.pem      the newest CRL `peerguard ca crl` signed (0644; what `peerguard ca publish` serves)
 */
export const CA_FILES = {
  certificate: 'ca.pem',
  chain: 'chain.pem',
  key: 'ca.key',
  database: 'ca.db.json',
  crl: 'crl.pem'
} as const

export interface CaDirectoryKeyOptions {
  /** Passphrase that encrypts the CA key. Default: none (the key is stored in the clear; avoid). */
  passphrase?: string | Uint8Array
  /** scrypt cost for the key file. Default the keystore's (N = 2^15). */
  scrypt?: ScryptParams
}

export interface InitCaDirectoryOptions extends Omit<CreateCertificateAuthorityOptions, 'store'>, CaDirectoryKeyOptions {}

export interface OpenCaDirectoryOptions {
  passphrase?: string | Uint8Array
  clock?: Clock
  /** How long to wait for another process's database lock, ms. Default 15000. */
  lockTimeoutMs?: number
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** Write the CA files; on any failure remove the ones this call created, so the directory is as before. */
async function writeCaFiles(
  dir: string,
  ca: CertificateAuthority,
  options: CaDirectoryKeyOptions,
  crlUrls: string[] = []
): Promise<void> {
  const madeDir = !(await exists(dir))
  await mkdir(dir, { recursive: true, mode: 0o700 })
  for (const f of Object.values(CA_FILES)) {
    if (await exists(join(dir, f))) throw new CaExistsError(`${dir}: already holds a CA (${f} exists); refusing to overwrite it`)
  }
  const created: string[] = []
  try {
    const keyPath = join(dir, CA_FILES.key)
    await saveKeystore(
      keyPath,
      ca.keyEntry,
      options.passphrase === undefined
        ? {}
        : { passphrase: options.passphrase, ...(options.scrypt === undefined ? {} : { scrypt: options.scrypt }) }
    )
    created.push(keyPath)
    const certPath = join(dir, CA_FILES.certificate)
    await writeFileAtomic(certPath, ca.certificatePem, { mode: 0o644, exclusive: true })
    created.push(certPath)
    if (ca.chain.length > 1) {
      const chainPath = join(dir, CA_FILES.chain)
      await writeFileAtomic(
        chainPath,
        ca.chain
          .slice(1)
          .map((d) => pemEncode(d, 'CERTIFICATE'))
          .join(''),
        { mode: 0o644, exclusive: true }
      )
      created.push(chainPath)
    }
    const dbPath = join(dir, CA_FILES.database)
    const db = { ...emptyDatabase(), ...(crlUrls.length === 0 ? {} : { crlDistributionPoints: crlUrls }) }
    await writeFileAtomic(dbPath, `${JSON.stringify(db, null, 2)}\n`, { mode: 0o600, exclusive: true })
    created.push(dbPath)
  } catch (err) {
    for (const f of created) await unlink(f).catch(() => {})
    if (madeDir) await rmdir(dir).catch(() => {})
    if (isPeerguardError(err) && err.code === 'already-exists')
      throw new CaExistsError(`${dir}: already holds a CA`, { cause: err })
    throw err
  }
}

/** Create a root CA in `dir` (created 0700 if missing); refuses a directory that already holds one. */
export async function initCaDirectory(dir: string, options: InitCaDirectoryOptions): Promise<CertificateAuthority> {
  assertString('dir', dir, { nonEmpty: true })
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const { passphrase, scrypt, ...caOptions } = options
  const memory = await createCertificateAuthority(caOptions)
  await writeCaFiles(
    dir,
    memory,
    {
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(scrypt === undefined ? {} : { scrypt })
    },
    await memory.getCrlDistributionPoints()
  )
  return CertificateAuthority.fromKey({
    certificate: memory.certificate,
    keyEntry: memory.keyEntry,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    store: fileCaStore(join(dir, CA_FILES.database))
  })
}

/** Create an intermediate CA in `dir`, issued (and recorded) by `parent`. */
export async function initIntermediateDirectory(
  dir: string,
  parent: CertificateAuthority,
  options: IssueIntermediateOptions &
    CaDirectoryKeyOptions & {
      clock?: Clock
      /** CRL distribution points the intermediate writes into what IT issues (its own CRL). Default none. */
      ownCrlDistributionPoints?: string[]
    }
): Promise<CertificateAuthority> {
  assertString('dir', dir, { nonEmpty: true })
  if (!(parent instanceof CertificateAuthority)) throw new InvalidArgumentError('parent: expected a CertificateAuthority')
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  for (const f of Object.values(CA_FILES)) {
    if (await exists(join(dir, f))) throw new CaExistsError(`${dir}: already holds a CA (${f} exists); refusing to overwrite it`)
  }
  const { passphrase, scrypt, clock, ownCrlDistributionPoints, ...issueOptions } = options
  const ownUrls = ownCrlDistributionPoints === undefined ? [] : checkCrlUrls('ownCrlDistributionPoints', ownCrlDistributionPoints)
  const memory = await parent.issueIntermediate(issueOptions)
  await writeCaFiles(
    dir,
    memory,
    {
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(scrypt === undefined ? {} : { scrypt })
    },
    ownUrls
  )
  return CertificateAuthority.fromKey({
    certificate: memory.certificate,
    keyEntry: memory.keyEntry,
    issuers: memory.chain.slice(1),
    ...(clock === undefined ? {} : { clock }),
    store: fileCaStore(join(dir, CA_FILES.database))
  })
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'latin1')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
      throw new CaNotFoundError(`${path}: no ${what}; is this a CA directory made by \`peerguard ca init\`?`, { cause: err })
    }
    throw new PeerguardError('io-error', `${path}: cannot read (${e.code ?? e.message})`, { cause: err })
  }
}

/** The public side of a CA directory (no key, no passphrase): its certificate, chain and database. */
export async function readCaDirectory(
  dir: string
): Promise<{ certificate: ParsedCertificate; issuers: Uint8Array[]; database: CaDatabase }> {
  assertString('dir', dir, { nonEmpty: true })
  const certificate = parseCertificate(await readText(join(dir, CA_FILES.certificate), 'CA certificate'))
  let issuers: Uint8Array[] = []
  if (await exists(join(dir, CA_FILES.chain)))
    issuers = pemDecodeAll(await readText(join(dir, CA_FILES.chain), 'chain'), 'CERTIFICATE')
  const dbPath = join(dir, CA_FILES.database)
  const database = parseDatabase(await readText(dbPath, 'CA database'), dbPath)
  return { certificate, issuers, database }
}

/** Open a CA directory with its key (decrypted with `passphrase`). Wrong passphrase → ca-bad-passphrase. */
export async function openCaDirectory(dir: string, options: OpenCaDirectoryOptions = {}): Promise<CertificateAuthority> {
  assertString('dir', dir, { nonEmpty: true })
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const { certificate, issuers } = await readCaDirectory(dir)
  const keyPath = join(dir, CA_FILES.key)
  await readText(keyPath, 'CA key')
  let keyEntry: Awaited<ReturnType<typeof loadKeystore>>
  try {
    keyEntry = await loadKeystore(keyPath, options.passphrase === undefined ? {} : { passphrase: options.passphrase })
  } catch (err) {
    if (isPeerguardError(err) && err.code === 'keystore-bad-passphrase') {
      throw new CaBadPassphraseError(`${keyPath}: wrong passphrase for the CA key`, {
        cause: err,
        details: { hint: 'check the file given with --passphrase-file' }
      })
    }
    if (isPeerguardError(err) && err.code === 'keystore-passphrase-required') {
      throw new CaBadPassphraseError(`${keyPath}: the CA key is encrypted; give its passphrase`, {
        cause: err,
        details: { hint: 'pass --passphrase-file FILE' }
      })
    }
    throw err
  }
  return CertificateAuthority.fromKey({
    certificate: certificate.der,
    keyEntry,
    issuers,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    store: fileCaStore(
      join(dir, CA_FILES.database),
      options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }
    )
  })
}

export type { CaRecord }
