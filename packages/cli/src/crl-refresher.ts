/**
 * Keeps a running node's CRLs from going stale: fetches CRLs from the distribution points of the
 * certificates the node sees (its own chain and its peers'), adds them to the trust store (which
 * verifies them and never goes back to an older one), and warns well before a CRL goes stale.
 */
import { isPeerguardError } from '@peerguard/interface'
import { fetchCrl, parseCertificate, type TrustStore } from '@peerguard/pki'
import type { KeptCrl } from './trust-update.js'

/** Default period between CRL fetches, ms: 5 minutes. */
export const DEFAULT_CRL_REFRESH_MS = 5 * 60_000
/** Default period between checks for CRLs due for renewal, ms: 1 minute. */
export const DEFAULT_CRL_CHECK_MS = 60_000
/** Most distribution point URLs followed (learned from peers' certificates included). */
export const MAX_CRL_URLS_FOLLOWED = 16

export interface CrlRefresherOptions {
  /** The trust store in force (CRLs are added to it). */
  trust: TrustStore
  /** This node's chain (read at each refresh: it may be reloaded). */
  chain: readonly Uint8Array[]
  report: (line: string) => void
  /** Fetch period, ms; 0 = never fetch. Default 300000. */
  refreshMs?: number
  /** Renewal check period, ms. Default 60000. */
  checkMs?: number
  /** A fetched CRL is now in force. */
  onApplied: (what: string[], reason: string) => Promise<void>
  /** A fetched CRL was refused (bad signature, unknown CA, malformed). */
  onRejected: (what: string, err: unknown) => Promise<void>
  /** A CRL in force went stale: open connections must be re-checked. */
  onStale: () => Promise<void>
  /** The fetch function. Default `fetchCrl` of @peerguard/pki. */
  fetch?: (url: string) => Promise<Uint8Array>
}

/** CRL fetching and staleness warnings for a LiveConfig. */
export class CrlRefresher {
  readonly #o: CrlRefresherOptions
  readonly #kept = new Map<string, KeptCrl>()
  readonly #peerUrls = new Set<string>()
  readonly #seen = new WeakSet<Uint8Array>()
  readonly #warned = new Set<string>()
  readonly #failed = new Map<string, string>()
  #stale = new Set<string>()
  #timers: NodeJS.Timeout[] = []
  #refreshing: Promise<void> | undefined

  constructor(options: CrlRefresherOptions) {
    this.#o = options
  }

  /** CRLs fetched from distribution points, to keep across reloads of the trust files. */
  get kept(): KeptCrl[] {
    return [...this.#kept.values()]
  }

  /** Learn the distribution points of a peer's certificate (bounded). */
  notePeer(certificate: Uint8Array): void {
    if (this.#seen.has(certificate)) return
    this.#seen.add(certificate)
    try {
      for (const url of parseCertificate(certificate).crlDistributionPoints) {
        if (this.#peerUrls.size < MAX_CRL_URLS_FOLLOWED) this.#peerUrls.add(url)
      }
    } catch {
      // a certificate the handshake accepted parses; anything else has nothing to offer here
    }
  }

  /** The URLs followed: this node's chain first, then those learned from peers. */
  urls(): string[] {
    const own: string[] = []
    for (const der of this.#o.chain) {
      try {
        own.push(...parseCertificate(der).crlDistributionPoints)
      } catch {
        // the chain was validated when loaded
      }
    }
    return [...new Set([...own, ...this.#peerUrls])].slice(0, MAX_CRL_URLS_FOLLOWED)
  }

  start(): void {
    const refreshMs = this.#o.refreshMs ?? DEFAULT_CRL_REFRESH_MS
    const checkMs = this.#o.checkMs ?? DEFAULT_CRL_CHECK_MS
    void this.check()
    if (refreshMs > 0) {
      void this.refresh()
      const t = setInterval(() => void this.refresh(), refreshMs)
      t.unref()
      this.#timers.push(t)
    }
    const c = setInterval(() => void this.check(), checkMs)
    c.unref()
    this.#timers.push(c)
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
  }

  /** Fetch every distribution point once; a newer, valid CRL goes into the trust store. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refreshAll().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #refreshAll(): Promise<void> {
    const fetch = this.#o.fetch ?? ((url: string) => fetchCrl(url))
    for (const url of this.urls()) {
      let der: Uint8Array
      try {
        der = await fetch(url)
      } catch (err) {
        const message = `${isPeerguardError(err) ? err.code : 'crl-fetch-failed'}: ${(err as Error).message}`
        if (this.#failed.get(url) !== message)
          this.#o.report(`peerguard: warning: cannot fetch the CRL from ${url} (${message}); will retry`)
        this.#failed.set(url, message)
        continue
      }
      if (this.#failed.delete(url)) this.#o.report(`peerguard: fetched the CRL from ${url} again`)
      let result: { issuer: string; replaced: boolean }
      try {
        result = this.#o.trust.addCrl(der, { source: url })
      } catch (err) {
        await this.#o.onRejected('crl', err)
        continue
      }
      if (!result.replaced) continue
      this.#kept.set(url, { der, source: url })
      await this.#o.onApplied(['crl'], `fetched a newer CRL from ${result.issuer} at ${url}`)
    }
  }

  /** Warn once about each CRL due for renewal; re-check connections when one went stale. */
  async check(): Promise<void> {
    const due = this.#o.trust.crlWarnings()
    const stale = new Set<string>()
    let fresh = false
    for (const w of due) {
      const key = `${w.issuer}|${w.number ?? ''}|${w.thisUpdate.getTime()}`
      if (w.stale) stale.add(key)
      if (this.#warned.has(`${key}|${w.stale}`)) continue
      this.#warned.add(`${key}|${w.stale}`)
      fresh = true
      if (w.stale)
        this.#o.report(
          `peerguard: error: the CRL of ${w.issuer} is stale since ${w.nextUpdate.toISOString()}: its peers are refused until a fresh CRL arrives (peerguard ca crl)`
        )
      else
        this.#o.report(
          `peerguard: warning: the CRL of ${w.issuer} goes stale at ${w.nextUpdate.toISOString()}: renew it before then (peerguard ca crl --renew-before)`
        )
    }
    const newlyStale = [...stale].some((k) => !this.#stale.has(k))
    this.#stale = stale
    if (fresh && (this.#o.refreshMs ?? DEFAULT_CRL_REFRESH_MS) > 0) await this.refresh()
    if (newlyStale) await this.#o.onStale()
  }
}
