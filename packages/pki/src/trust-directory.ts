import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { CertificateMalformedError, CrlMalformedError } from './errors.js'
import { pemDecodeAll } from './pem.js'
import { build, buildCrls, type Contents, type CrlInput } from './trust-contents.js'
import { checkOptions, type LoadTrustStoreOptions, TrustStore } from './trust-store.js'

async function readDirectory(dir: string): Promise<Contents> {
  let names: string[]
  try {
    names = (await readdir(dir)).sort()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${dir}: no such directory`, { cause: err })
    throw new PeerguardError('io-error', `${dir}: cannot read (${e.code ?? e.message})`, { cause: err })
  }
  const roots: Array<Uint8Array | string> = []
  const crls: CrlInput[] = []
  for (const name of names) {
    if (name.startsWith('.')) continue
    const lower = name.toLowerCase()
    if (!/\.(pem|crt|cer|der|crl)$/.test(lower)) continue
    const path = join(dir, name)
    const bytes = new Uint8Array(await readFile(path))
    if (bytes[0] === 0x30) {
      if (lower.endsWith('.crl')) crls.push({ crl: bytes, source: path })
      else roots.push(bytes)
      continue
    }
    const text = Buffer.from(bytes).toString('latin1')
    try {
      if (text.includes('-----BEGIN CERTIFICATE-----')) roots.push(...pemDecodeAll(text, 'CERTIFICATE'))
    } catch (err) {
      throw new CertificateMalformedError(`${path}: ${(err as Error).message}`, { cause: err })
    }
    try {
      if (text.includes('-----BEGIN X509 CRL-----'))
        crls.push(...pemDecodeAll(text, 'X509 CRL').map((crl) => ({ crl, source: path })))
    } catch (err) {
      throw new CrlMalformedError(`${path}: ${(err as Error).message}`, { cause: err })
    }
  }
  return build(roots, crls)
}

/**
 * A trust store from a directory: every certificate in `*.pem`, `*.crt`, `*.cer`, `*.der` is a
 * root, every CRL in `*.crl` or a PEM `X509 CRL` block is a CRL. `reload()` re-reads it and
 * `watch()` follows changes. Like `createTrustStore`, it requires a CRL for every CA of a chain
 * unless `requireCrl: false` is given.
 */
export async function loadTrustStore(dir: string, options: LoadTrustStoreOptions = {}): Promise<TrustStore> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir: expected a non-empty string')
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  checkOptions(options)
  const { crls: extra, ...storeOptions } = options
  const added = buildCrls(extra ?? [])
  const loader = () => readDirectory(dir)
  const first = await loader()
  first.crls.push(...added.crls)
  for (const [c, source] of added.sources) first.sources.set(c, source)
  return new TrustStore(first, storeOptions, loader, dir)
}
