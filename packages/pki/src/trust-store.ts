import { watch } from 'node:fs'
import { assertInteger, type Clock, describeValue, InvalidArgumentError, systemClock } from '@peerguard/interface'
import { type ParsedCertificate, parseCertificate } from './certificate.js'
import { type ParsedCrl, parseCrl } from './crl.js'
import {
  compareCrls,
  type CrlStatus,
  type CrlWarning,
  type CrlWarningOptions,
  crlNamesIssuer,
  crlSignatureProblem,
  DEFAULT_CRL_WARNING_FRACTION,
  DEFAULT_CRL_WARNING_MS,
  sameCrlIssuer,
  statusOf,
  warnAtOf
} from './crl-set.js'
import { CrlBadSignatureError, CrlMissingError, CrlUnknownIssuerError } from './errors.js'
import { currentCrl } from './revocation.js'
import { build, buildAnchors, buildCrls, type Contents, type CrlInput, sha256Hex, type TrustAnchor } from './trust-contents.js'

export type { Contents, CrlInput, TrustAnchor } from './trust-contents.js'

/** Default tolerance for clocks that disagree, in ms: 5 minutes (as Kerberos). */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000
/** Verified chains kept for re-verification. */
export const VERIFY_CACHE_SIZE = 10_000
/** Intermediate CAs remembered from verified chains (their CRLs can then be added with `addCrl`). */
export const SEEN_INTERMEDIATES_MAX = 256

export interface TrustStoreOptions {
  /** Trusted root certificates, DER or PEM (a PEM string may hold several). */
  roots: Array<Uint8Array | string>
  /** CRLs, DER or PEM (checked against their CA's key when used). Default none. */
  crls?: CrlInput[]
  /** Time source. Default the system clock. */
  clock?: Clock
  /** Tolerance for clock differences in ms, applied to validity windows and CRL nextUpdate. Default 300000 (5 min). */
  clockSkewMs?: number
  /**
   * Refuse a certificate whose issuer (root or intermediate) has no CRL in the store
   * (`crl-missing`). Default true: revocation fails closed. `false` is an explicit opt-out: a CA
   * without a CRL is then not checked for revocation (a CRL that is present is still enforced).
   */
  requireCrl?: boolean
}

export interface LoadTrustStoreOptions extends Omit<TrustStoreOptions, 'roots'> {
  /**
   * CRLs held besides the directory's (say, from `--crl` files). Like a CRL added with `addCrl`,
   * one stays in force across reloads until the directory holds a newer CRL of the same CA. Default none.
   */
  crls?: CrlInput[]
}

/** What `reload()` did besides installing the new contents. */
export interface TrustReloadResult {
  /** CRLs found on disk that are older than the one in force for their CA: the newer one stays. */
  olderCrls: Array<{ issuer: string; source?: string }>
}

/**
 * @internal What verification (verify.ts, verify-path.ts, revocation.ts) reads of a TrustStore: its
 * private state, reached through `trustInternals`, which the package index does not export.
 */
export interface TrustInternals {
  /** Verified chains. */
  readonly cache: Map<string, CacheEntry<unknown>>
  /** CRL signature results: CRL → issuer SPKI (base64) → ok. */
  readonly crlChecks: WeakMap<ParsedCrl, Map<string, boolean>>
  /** Remember an intermediate CA of a chain that verified up to a root. */
  noteIntermediate(cert: ParsedCertificate): void
  /** Anchors whose subject is `issuerRaw`. */
  anchorsNamed(issuerRaw: Uint8Array): readonly TrustAnchor[]
  /** CRLs issued under this name, newest first. */
  crlsFor(issuerRaw: Uint8Array): readonly ParsedCrl[]
}

let internalsOf: (store: TrustStore) => TrustInternals

/** @internal The private state of a TrustStore, for verification inside this package (not exported from the index). */
export function trustInternals(store: TrustStore): TrustInternals {
  return internalsOf(store)
}

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

/**
 * Trusted roots plus CRLs. Verification results are cached by chain hash; `replace`, `reload` and
 * `addCrl` swap the contents at once and drop the cache.
 */
export class TrustStore {
  readonly clock: Clock
  readonly clockSkewMs: number
  readonly requireCrl: boolean
  #byName = new Map<string, TrustAnchor[]>()
  #byHash = new Map<string, TrustAnchor>()
  #crlsByIssuer = new Map<string, ParsedCrl[]>()
  #contents: Contents = { anchors: [], crls: [], sources: new Map() }
  #generation = 0
  /** Intermediate CAs of verified chains, by SHA-256: CAs whose CRLs `addCrl` can verify. */
  readonly #intermediates = new Map<string, ParsedCertificate>()
  /** Verified chains. */
  readonly #cache = new Map<string, CacheEntry<unknown>>()
  /** CRL signature results: CRL → issuer SPKI (base64) → ok. Replaced with the contents. */
  #crlChecks = new WeakMap<ParsedCrl, Map<string, boolean>>()
  readonly #loader: (() => Promise<Contents>) | undefined
  /** The directory a store from loadTrustStore watches. */
  readonly #dir: string | undefined
  /** What verification reads of the store (`trustInternals`); one object per store. */
  readonly #internals: TrustInternals = ((store: TrustStore): TrustInternals => ({
    cache: store.#cache,
    get crlChecks() {
      return store.#crlChecks
    },
    noteIntermediate: (cert) => store.#noteIntermediate(cert),
    anchorsNamed: (issuerRaw) => store.#anchorsNamed(issuerRaw),
    crlsFor: (issuerRaw) => store.#crlsFor(issuerRaw)
  }))(this)

  static {
    internalsOf = (store) => {
      if (!(typeof store === 'object' && store !== null && #internals in store))
        throw new InvalidArgumentError('trust: expected a TrustStore from @peerguard/pki')
      return store.#internals
    }
  }

  /** @internal use createTrustStore or loadTrustStore. */
  constructor(
    contents: Contents,
    options: { clock?: Clock; clockSkewMs?: number; requireCrl?: boolean },
    loader?: () => Promise<Contents>,
    dir?: string
  ) {
    this.clock = options.clock ?? systemClock
    this.clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS
    this.requireCrl = options.requireCrl ?? true
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
        [...(crlsByIssuer.get(k) ?? []), c].sort((x, y) => compareCrls(y, x))
      )
    }
    // Intermediates were verified up to the old roots: forget them when a root goes away.
    if ([...this.#byHash.keys()].some((sha) => !byHash.has(sha))) this.#intermediates.clear()
    this.#byName = byName
    this.#byHash = byHash
    this.#crlsByIssuer = crlsByIssuer
    this.#contents = contents
    this.#generation++
    this.#cache.clear()
    this.#crlChecks = new WeakMap()
  }

  /** Increases every time the contents change. */
  get generation(): number {
    return this.#generation
  }

  /** The trusted roots. */
  get roots(): readonly ParsedCertificate[] {
    return this.#contents.anchors.map((a) => a.cert)
  }

  /** The CRLs held. */
  get crls(): readonly ParsedCrl[] {
    return this.#contents.crls
  }

  /**
   * Replace roots and/or CRLs at once (what is not given stays). Drops cached results. This is the
   * caller's explicit choice: unlike `addCrl` and `reload`, it may install an older CRL.
   */
  replace(options: { roots?: Array<Uint8Array | string>; crls?: CrlInput[] }): void {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const anchors = options.roots === undefined ? this.#contents.anchors : buildAnchors(options.roots)
    const crls =
      options.crls === undefined ? { crls: this.#contents.crls, sources: this.#contents.sources } : buildCrls(options.crls)
    this.#install({ anchors, ...crls })
  }

  /**
   * Re-read the directory the store was loaded from. On any error the old contents stay in
   * place and the error is thrown: a bad file never leaves a half-loaded store. A CRL on disk that
   * is older than the one in force for its CA (say, one fetched with `addCrl`) does not replace it:
   * the result lists those.
   */
  async reload(): Promise<TrustReloadResult> {
    if (this.#loader === undefined) return { olderCrls: [] }
    const fresh = await this.#loader()
    const olderCrls: TrustReloadResult['olderCrls'] = []
    const crls = [...fresh.crls]
    const sources = new Map(fresh.sources)
    for (const current of this.#newestPerIssuer()) {
      const onDisk = fresh.crls.filter((c) => sameCrlIssuer(c, current))
      const newestOnDisk = onDisk.sort((x, y) => compareCrls(y, x))[0]
      if (newestOnDisk !== undefined && compareCrls(newestOnDisk, current) >= 0) continue
      if (newestOnDisk !== undefined) {
        const source = fresh.sources.get(newestOnDisk)
        olderCrls.push({ issuer: current.issuer.text, ...(source === undefined ? {} : { source }) })
      }
      crls.push(current)
      const source = this.#contents.sources.get(current)
      if (source !== undefined) sources.set(current, source)
    }
    this.#install({ anchors: fresh.anchors, crls, sources })
    return { olderCrls }
  }

  /**
   * Reload whenever a file in the store's directory changes (fs.watch, debounced). A reload that
   * fails keeps the old contents and reports the error to `onError`. Returns a function that stops
   * watching. Only for stores from `loadTrustStore`.
   */
  watch(
    options: { debounceMs?: number; onError?: (err: unknown) => void; onReload?: (result: TrustReloadResult) => void } = {}
  ): () => void {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const dir = this.#dir
    if (dir === undefined)
      throw new InvalidArgumentError('watch: only a trust store from loadTrustStore(dir) can watch its directory')
    const debounceMs = options.debounceMs ?? 200
    assertInteger('debounceMs', debounceMs, 0, 60_000)
    let timer: NodeJS.Timeout | undefined
    const watcher = watch(dir, { persistent: false }, () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = undefined
        this.reload().then(
          (result) => options.onReload?.(result),
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

  /**
   * Add a CRL (DER or PEM) after verifying it against a CA the store knows: a root, or an
   * intermediate CA it has seen in a verified chain. The store keeps the newest CRL per CA and
   * never replaces a newer one with an older one. Returns the issuer's name and whether the CRL
   * is now the one in force (`replaced`: false when the store already held it or a newer one;
   * `older` says which). Throws `crl-malformed`, `crl-unknown-issuer` or `crl-bad-signature`.
   */
  addCrl(der: Uint8Array | string, options: { source?: string } = {}): { issuer: string; replaced: boolean; older: boolean } {
    if (!(der instanceof Uint8Array) && typeof der !== 'string')
      throw new InvalidArgumentError(`der: expected Uint8Array (DER) or string (PEM), got ${der === null ? 'null' : typeof der}`)
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    if (options.source !== undefined && typeof options.source !== 'string')
      throw new InvalidArgumentError('options.source: expected string')
    const crl = parseCrl(der)
    const issuer = crl.issuer.text
    const candidates = [
      ...this.#anchorsNamed(crl.issuer.raw).map((a) => a.cert),
      ...[...this.#intermediates.values()].filter((c) => Buffer.from(c.subject.raw).equals(crl.issuer.raw))
    ].filter((c) => crlNamesIssuer(crl, c))
    if (candidates.length === 0)
      throw new CrlUnknownIssuerError(
        `CRL from ${issuer}: not a root of this trust store nor an intermediate CA it has verified`,
        {
          details: { issuer }
        }
      )
    let problem = ''
    let signer: ParsedCertificate | undefined
    for (const c of candidates) {
      problem = crlSignatureProblem(crl, c)
      if (problem === '') {
        signer = c
        break
      }
    }
    if (signer === undefined) throw new CrlBadSignatureError(`CRL from ${issuer}: ${problem}`, { details: { issuer } })
    const current = this.#newestPerIssuer().find((c) => sameCrlIssuer(c, crl))
    if (current !== undefined) {
      const order = compareCrls(crl, current)
      if (order <= 0) return { issuer, replaced: false, older: order < 0 }
    }
    const crls = this.#contents.crls.filter((c) => !sameCrlIssuer(c, crl))
    crls.push(crl)
    const sources = new Map([...this.#contents.sources].filter(([c]) => crls.includes(c)))
    if (options.source !== undefined) sources.set(crl, options.source)
    this.#install({ anchors: this.#contents.anchors, crls, sources })
    this.#crlChecks.set(crl, new Map([[Buffer.from(signer.publicKey.spki).toString('base64'), true]]))
    return { issuer, replaced: true, older: false }
  }

  /** The CRL in force for each CA the store holds CRLs for: issuer, validity, staleness and source. */
  crlStatus(): CrlStatus[] {
    const now = this.clock.now()
    return this.#newestPerIssuer().map((c) => statusOf(c, now, this.clockSkewMs, this.#contents.sources.get(c)))
  }

  /**
   * CRLs that need renewing soon (or are stale): a warning is due at `lifetimeFraction` of a CRL's
   * lifetime or `windowMs` before its nextUpdate, whichever comes first. For start-up and
   * periodic warnings well before a CRL lock-out.
   */
  crlWarnings(options: CrlWarningOptions = {}): CrlWarning[] {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
    const windowMs = options.windowMs ?? DEFAULT_CRL_WARNING_MS
    assertInteger('windowMs', windowMs, 0, 366 * 86_400_000)
    const fraction = options.lifetimeFraction ?? DEFAULT_CRL_WARNING_FRACTION
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1))
      throw new InvalidArgumentError(`lifetimeFraction: expected a number from 0 to 1, got ${describeValue(fraction)}`)
    const now = this.clock.now()
    return this.crlStatus()
      .map((s) => ({ ...s, warnAt: new Date(warnAtOf(s, windowMs, fraction)) }))
      .filter((s) => s.stale || s.warnAt.getTime() <= now)
  }

  /**
   * Check, as a node does at start-up, that every root and each CA certificate given (say, the
   * intermediates of the node's own chain) has a CRL in the store that verifies with its key and is
   * current. Throws `crl-missing` (only when `requireCrl`), `crl-stale` or `crl-bad-signature`
   * naming the CA; returns nothing when all is well.
   */
  assertCrlsCurrent(cas: Array<Uint8Array | string | ParsedCertificate> = []): void {
    if (!Array.isArray(cas)) throw new InvalidArgumentError('cas: expected an array of CA certificates')
    const now = this.clock.now()
    const parsed = cas.map((c) => (c instanceof Uint8Array || typeof c === 'string' ? parseCertificate(c) : c))
    for (const ca of [...this.roots, ...parsed]) {
      if (!ca.ca) continue
      const crl = currentCrl(this, ca, now, this.clockSkewMs)
      if (crl === undefined && this.requireCrl)
        throw new CrlMissingError(`no CRL from "${ca.subject.commonName ?? ca.subject.text}" (${ca.subject.text}) is loaded`, {
          details: {
            issuer: ca.subject.text,
            hint: 'sign one with `peerguard ca crl` and pass it with --crl (or put it in the trust folder)'
          }
        })
    }
  }

  /**
   * The names of CAs without a CRL in the store: every root, plus the CA certificates given (say,
   * the intermediates of this node's own chain). What a fail-closed node refuses at start-up.
   */
  crlsMissing(cas: Array<Uint8Array | string | ParsedCertificate> = []): string[] {
    if (!Array.isArray(cas)) throw new InvalidArgumentError('cas: expected an array of CA certificates')
    const parsed = cas.map((c) => (c instanceof Uint8Array || typeof c === 'string' ? parseCertificate(c) : c))
    const missing: string[] = []
    for (const ca of [...this.roots, ...parsed]) {
      if (!ca.ca) continue
      if (this.#crlsFor(ca.subject.raw).some((c) => crlNamesIssuer(c, ca))) continue
      if (!missing.includes(ca.subject.text)) missing.push(ca.subject.text)
    }
    return missing
  }

  #newestPerIssuer(): ParsedCrl[] {
    const out: ParsedCrl[] = []
    for (const list of this.#crlsByIssuer.values()) {
      for (const c of list) if (!out.some((o) => sameCrlIssuer(o, c))) out.push(c)
    }
    return out
  }

  /** Remember an intermediate CA of a chain that verified up to a root. */
  #noteIntermediate(cert: ParsedCertificate): void {
    const k = sha256Hex(cert.der)
    if (this.#intermediates.has(k)) return
    if (this.#intermediates.size >= SEEN_INTERMEDIATES_MAX)
      this.#intermediates.delete(this.#intermediates.keys().next().value as string)
    this.#intermediates.set(k, cert)
  }

  /** Anchors whose subject is `issuerRaw`. */
  #anchorsNamed(issuerRaw: Uint8Array): readonly TrustAnchor[] {
    return this.#byName.get(nameKey(issuerRaw)) ?? []
  }

  /** CRLs issued under this name, newest first. */
  #crlsFor(issuerRaw: Uint8Array): readonly ParsedCrl[] {
    return this.#crlsByIssuer.get(nameKey(issuerRaw)) ?? []
  }
}

/** @internal */
export function checkOptions(options: Omit<TrustStoreOptions, 'roots' | 'crls'>): void {
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
