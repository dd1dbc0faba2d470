import { createHash, type KeyObject } from 'node:crypto'
import { watch } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { assertInteger, type Clock, InvalidArgumentError, PeerguardError, systemClock } from '@peerguard/interface'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { type ParsedCrl, parseCrl } from './crl.js'
import { CertificateMalformedError, CrlMalformedError, TrustStoreEmptyError, UnsupportedAlgorithmError } from './errors.js'
import { looksLikePem, pemDecodeAll } from './pem.js'
import { publicKeyObject } from './signature.js'

/** Default tolerance for clocks that disagree, in ms: 5 minutes (as Kerberos). */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000
/** Verified chains kept for re-verification. */
export const VERIFY_CACHE_SIZE = 10_000

/** A trusted root: its certificate and its node:crypto key, ready to check signatures. */
export interface TrustAnchor {
  readonly cert: ParsedCertificate
  readonly key: KeyObject
  /** SHA-256 of the DER, hex. */
  readonly sha256: string
}

export interface TrustStoreOptions {
  /** Trusted root certificates, DER or PEM (a PEM string may hold several). */
  roots: Array<Uint8Array | string>
  /** CRLs, DER or PEM. Default none. */
  crls?: Array<Uint8Array | string>
  /** Time source. Default the system clock. */
  clock?: Clock
  /** Tolerance for clock differences in ms, applied to validity windows and CRL nextUpdate. Default 300000 (5 min). */
  clockSkewMs?: number
  /** Refuse a certificate whose issuer has no CRL in the store. Default false. */
  requireCrl?: boolean
}

export interface LoadTrustStoreOptions extends Omit<TrustStoreOptions, 'roots' | 'crls'> {}

/** @internal a verified result kept for re-verification. */
export interface CacheEntry<T> {
  readonly value: T
  /** The result holds while validFrom <= now <= validUntil (ms, skew included). */
  readonly validFrom: number
  readonly validUntil: number
}

function nameKey(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
}

function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}

interface Contents {
  anchors: TrustAnchor[]
  crls: ParsedCrl[]
}

function build(roots: Array<Uint8Array | string>, crls: Array<Uint8Array | string>): Contents {
  return { anchors: buildAnchors(roots), crls: buildCrls(crls) }
}

function buildAnchors(roots: Array<Uint8Array | string>): TrustAnchor[] {
  if (!Array.isArray(roots)) throw new InvalidArgumentError('roots: expected an array of DER or PEM certificates')
  const anchors: TrustAnchor[] = []
  const seen = new Set<string>()
  for (const [i, r] of roots.entries()) {
    let ders: unknown[]
    try {
      ders =
        typeof r === 'string'
          ? pemDecodeAll(r, 'CERTIFICATE')
          : r instanceof Uint8Array && r[0] !== 0x30 && looksLikePem(r)
            ? pemDecodeAll(Buffer.from(r).toString('latin1'), 'CERTIFICATE')
            : [r]
    } catch (err) {
      throw new CertificateMalformedError(`roots[${i}]: ${(err as Error).message}`, { cause: err })
    }
    for (const der of ders) {
      if (!(der instanceof Uint8Array)) throw new InvalidArgumentError(`roots[${i}]: expected Uint8Array (DER) or string (PEM)`)
      const cert = parseCertificate(der)
      if (cert.publicKey.keyType === undefined)
        throw new UnsupportedAlgorithmError(`roots[${i}] (${cert.subject.text}): key is neither Ed25519 nor P-256`)
      const sha256 = sha256Hex(cert.der)
      if (seen.has(sha256)) continue
      seen.add(sha256)
      anchors.push({ cert, key: publicKeyObject(cert.publicKey), sha256 })
    }
  }
  if (anchors.length === 0) throw new TrustStoreEmptyError('trust store: no root certificate given')
  return anchors
}

function buildCrls(crls: Array<Uint8Array | string>): ParsedCrl[] {
  if (!Array.isArray(crls)) throw new InvalidArgumentError('crls: expected an array of DER or PEM CRLs')
  const parsedCrls: ParsedCrl[] = []
  for (const c of crls) {
    parsedCrls.push(parseCrl(c))
  }
  return parsedCrls
}

/**
 * Trusted roots plus CRLs. Verification results are cached by chain hash; `replace` and
 * `reload` swap the contents at once and drop the cache.
 */
export class TrustStore {
  readonly clock: Clock
  readonly clockSkewMs: number
  readonly requireCrl: boolean
  #byName = new Map<string, TrustAnchor[]>()
  #byHash = new Map<string, TrustAnchor>()
  #crlsByIssuer = new Map<string, ParsedCrl[]>()
  #anchors: TrustAnchor[] = []
  #crls: ParsedCrl[] = []
  #generation = 0
  /** @internal verified chains. */
  readonly _cache = new Map<string, CacheEntry<unknown>>()
  /** @internal CRL signature results: CRL → issuer SPKI (base64) → ok. Replaced with the contents. */
  _crlChecks = new WeakMap<ParsedCrl, Map<string, boolean>>()
  readonly #loader: (() => Promise<Contents>) | undefined
  readonly #dir: string | undefined

  /** @internal use createTrustStore or loadTrustStore. */
  constructor(
    contents: Contents,
    options: { clock?: Clock; clockSkewMs?: number; requireCrl?: boolean },
    loader?: () => Promise<Contents>,
    dir?: string
  ) {
    this.clock = options.clock ?? systemClock
    this.clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS
    this.requireCrl = options.requireCrl ?? false
    this.#loader = loader
    this.#dir = dir
    this.#install(contents)
  }

  #install(contents: Contents): void {
    const byName = new Map<string, TrustAnchor[]>()
    const byHash = new Map<string, TrustAnchor>()
    for (const a of contents.anchors) {
      const k = nameKey(a.cert.subject.raw)
      byName.set(k, [...(byName.get(k) ?? []), a])
      byHash.set(a.sha256, a)
    }
    const crlsByIssuer = new Map<string, ParsedCrl[]>()
    for (const c of contents.crls) {
      const k = nameKey(c.issuer.raw)
      crlsByIssuer.set(
        k,
        [...(crlsByIssuer.get(k) ?? []), c].sort((x, y) => y.thisUpdate - x.thisUpdate)
      )
    }
    this.#byName = byName
    this.#byHash = byHash
    this.#crlsByIssuer = crlsByIssuer
    this.#anchors = contents.anchors
    this.#crls = contents.crls
    this.#generation++
    this._cache.clear()
    this._crlChecks = new WeakMap()
  }

  /** Increases every time the contents change. */
  get generation(): number {
    return this.#generation
  }

  /** The trusted roots. */
  get roots(): readonly ParsedCertificate[] {
    return this.#anchors.map((a) => a.cert)
  }

  /** The CRLs held. */
  get crls(): readonly ParsedCrl[] {
    return this.#crls
  }

  /** Replace roots and/or CRLs at once (what is not given stays). Drops cached results. */
  replace(options: { roots?: Array<Uint8Array | string>; crls?: Array<Uint8Array | string> }): void {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const anchors = options.roots === undefined ? this.#anchors : buildAnchors(options.roots)
    const crls = options.crls === undefined ? this.#crls : buildCrls(options.crls)
    this.#install({ anchors, crls })
  }

  /**
   * Re-read the directory the store was loaded from. On any error the old contents stay in
   * place and the error is thrown: a bad file never leaves a half-loaded store.
   */
  async reload(): Promise<void> {
    if (this.#loader === undefined) return
    this.#install(await this.#loader())
  }

  /**
   * Reload whenever a file in the store's directory changes (fs.watch, debounced). A reload that
   * fails keeps the old contents and reports the error to `onError`. Returns a function that stops
   * watching. Only for stores from `loadTrustStore`.
   */
  watch(options: { debounceMs?: number; onError?: (err: unknown) => void; onReload?: () => void } = {}): () => void {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    if (this.#dir === undefined)
      throw new InvalidArgumentError('watch: only a trust store from loadTrustStore(dir) can watch its directory')
    const debounceMs = options.debounceMs ?? 200
    assertInteger('debounceMs', debounceMs, 0, 60_000)
    let timer: NodeJS.Timeout | undefined
    const watcher = watch(this.#dir, { persistent: false }, () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = undefined
        this.reload().then(
          () => options.onReload?.(),
          (err: unknown) => options.onError?.(err)
        )
      }, debounceMs)
      timer.unref()
    })
    watcher.on('error', (err) => options.onError?.(err))
    return () => {
      if (timer !== undefined) clearTimeout(timer)
      watcher.close()
    }
  }

  /** @internal anchors whose subject is `issuerRaw`. */
  _anchorsNamed(issuerRaw: Uint8Array): readonly TrustAnchor[] {
    return this.#byName.get(nameKey(issuerRaw)) ?? []
  }

  /** @internal the anchor with this exact DER, if any. */
  _anchorBySha(sha256: string): TrustAnchor | undefined {
    return this.#byHash.get(sha256)
  }

  /** @internal CRLs issued under this name, newest first. */
  _crlsFor(issuerRaw: Uint8Array): readonly ParsedCrl[] {
    return this.#crlsByIssuer.get(nameKey(issuerRaw)) ?? []
  }
}

function checkOptions(options: Omit<TrustStoreOptions, 'roots' | 'crls'>): void {
  if (options.clock !== undefined && (options.clock === null || typeof options.clock.now !== 'function')) {
    throw new InvalidArgumentError('clock: expected { now(): number }')
  }
  if (options.clockSkewMs !== undefined) assertInteger('clockSkewMs', options.clockSkewMs, 0, 7 * 86_400_000)
  if (options.requireCrl !== undefined && typeof options.requireCrl !== 'boolean')
    throw new InvalidArgumentError('requireCrl: expected boolean')
}

/** A trust store from roots and CRLs in memory. */
export function createTrustStore(options: TrustStoreOptions): TrustStore {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  checkOptions(options)
  return new TrustStore(build(options.roots, options.crls ?? []), options)
}

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
  const crls: Array<Uint8Array | string> = []
  for (const name of names) {
    if (name.startsWith('.')) continue
    const lower = name.toLowerCase()
    if (!/\.(pem|crt|cer|der|crl)$/.test(lower)) continue
    const bytes = new Uint8Array(await readFile(join(dir, name)))
    if (bytes[0] === 0x30) {
      ;(lower.endsWith('.crl') ? crls : roots).push(bytes)
      continue
    }
    const text = Buffer.from(bytes).toString('latin1')
    try {
      if (text.includes('-----BEGIN CERTIFICATE-----')) roots.push(...pemDecodeAll(text, 'CERTIFICATE'))
    } catch (err) {
      throw new CertificateMalformedError(`${join(dir, name)}: ${(err as Error).message}`, { cause: err })
    }
    try {
      if (text.includes('-----BEGIN X509 CRL-----')) crls.push(...pemDecodeAll(text, 'X509 CRL'))
    } catch (err) {
      throw new CrlMalformedError(`${join(dir, name)}: ${(err as Error).message}`, { cause: err })
    }
  }
  return build(roots, crls)
}

/**
 * A trust store from a directory: every certificate in `*.pem`, `*.crt`, `*.cer`, `*.der` is a
 * root, every CRL in `*.crl` or a PEM `X509 CRL` block is a CRL. `reload()` re-reads it.
 */
export async function loadTrustStore(dir: string, options: LoadTrustStoreOptions = {}): Promise<TrustStore> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir: expected a non-empty string')
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  checkOptions(options)
  const loader = () => readDirectory(dir)
  return new TrustStore(await loader(), options, loader, dir)
}
