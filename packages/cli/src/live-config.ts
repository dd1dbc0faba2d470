/**
 * One live-reload mechanism for every long-running command (`share serve`, `swarm seed`,
 * `proxy server`): the node's certificate, trust roots, CRLs and policy are watched (fs.watch plus
 * a stat poll) and re-read on SIGHUP. Everything new is loaded and validated first, then swapped in
 * one synchronous step; a bad new file keeps the one in force and says why (stderr and a `reload`
 * decision-log record with event `rejected` and the code). Each applied reload is a `reload`
 * record with the policy's SHA-256, and the servers then re-check their open connections.
 */
import { createHash } from 'node:crypto'
import type { ReloadRecord } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { assertInteger, InvalidArgumentError, isPeerguardError, type PeerInfo, PeerguardError } from '@peerguard/interface'
import { parseCertificate, type TrustStore, verifyPeerChainSync } from '@peerguard/pki'
import { loadPolicy, MAX_POLICY_BYTES, type Policy } from '@peerguard/policy'
import { readCertificates, readLimited } from './common.js'
import { CrlRefresher } from './crl-refresher.js'
import { type FileWatch, watchFiles } from './file-watch.js'
import { planTrustUpdate, type TrustUpdate } from './trust-update.js'

/** Where reload records go: a `@peerguard/decision-log` DecisionLog fits. */
export interface ReloadSink {
  append(record: ReloadRecord): Promise<unknown>
}

/** What an applied change touched; given to every `onChange` listener. */
export interface LiveChange {
  /** `policy`, `trust`, `crl`, `certificate`; `time` when a policy time window may have opened or closed. */
  readonly what: readonly string[]
  /** True when the roots or CRLs in force changed (or a CRL went stale): verify peers again. */
  readonly trust: boolean
}

function changeOf(what: readonly string[]): LiveChange {
  return { what, trust: what.includes('trust') || what.includes('crl') }
}

export interface LiveConfigOptions {
  /** This node's identity: a reloaded certificate must be issued for its key. */
  identity: KeyPair
  /** The certificate chain file (PEM leaf first, or one DER certificate). */
  certPath: string
  /** The trust root file or directory. */
  trustPath: string
  /** CRL files given on the command line. Default none. */
  crlPaths?: readonly string[]
  /** The policy file. Default none (the command has no policy). */
  policyPath?: string
  /** Build a fresh trust store from the files, exactly as at start-up (roots, CRLs, requireCrl). */
  loadTrust: () => Promise<TrustStore>
  /** Decision log for `reload` records. Default none. */
  log?: ReloadSink
  /** One line for the operator per event (stderr): `peerguard: …`. */
  report: (line: string) => void
  /** Stat-poll period of the file watch, ms. Default 1000. */
  pollMs?: number
  /** Fetch CRLs from the distribution points this often, ms; 0 never. Default 300000 (5 min). */
  crlRefreshMs?: number
  /** Look for CRLs due for renewal (and stale ones) this often, ms. Default 60000. */
  crlCheckMs?: number
  /**
   * While the policy in force has time or weekday windows, ask the servers to decide their open
   * connections again this often (aligned to its multiples), so a connection admitted inside a
   * window does not outlive it. Default 60000 (windows have minute resolution).
   */
  timeCheckMs?: number
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function sameChain(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((d, i) => Buffer.from(d).equals(b[i] as Uint8Array))
}

function codeOf(err: unknown): { code: string; reason: string } {
  return {
    code: isPeerguardError(err) ? err.code : 'internal',
    reason: err instanceof Error ? err.message : String(err)
  }
}

/** A policy file read and compiled, with the SHA-256 of its bytes. */
interface LoadedPolicy {
  readonly policy: Policy
  readonly sha256: string
}

async function readPolicy(path: string): Promise<LoadedPolicy> {
  const bytes = await readLimited(path, 'policy file', MAX_POLICY_BYTES)
  return { policy: loadPolicy({ text: bytes.toString('utf8'), file: path }), sha256: sha256Hex(bytes) }
}

/**
 * The configuration a running node uses, kept current. Servers get `trust` (its contents are
 * swapped in place), `chain` (updated in place; the channel copies it per handshake), `policy`
 * (always decides with the policy in force) and `checkPeer` (their `connectionCheck`).
 */
export class LiveConfig {
  readonly trust: TrustStore
  readonly chain: Uint8Array[]
  /** Decides with the policy in force; undefined when the command has no policy. */
  readonly policy: Pick<Policy, 'decide'> | undefined
  readonly #o: LiveConfigOptions
  #policy: LoadedPolicy | undefined
  #listeners: Array<(change: LiveChange) => unknown> = []
  #running: Promise<void> | undefined
  #again: string | undefined
  #lastRejected = new Map<string, string>()
  #watch: FileWatch | undefined
  #timeTimer: NodeJS.Timeout | undefined
  #closed = false
  readonly #crls: CrlRefresher

  /** @internal use createLiveConfig. */
  constructor(options: LiveConfigOptions, trust: TrustStore, chain: Uint8Array[], policy: LoadedPolicy | undefined) {
    this.#o = options
    this.trust = trust
    this.chain = chain
    this.#policy = policy
    this.policy =
      policy === undefined ? undefined : { decide: (request) => (this.#policy as LoadedPolicy).policy.decide(request) }
    this.#crls = new CrlRefresher({
      trust,
      chain,
      report: options.report,
      ...(options.crlRefreshMs === undefined ? {} : { refreshMs: options.crlRefreshMs }),
      ...(options.crlCheckMs === undefined ? {} : { checkMs: options.crlCheckMs }),
      onApplied: (what, reason) => this.#applied(what, reason),
      onRejected: (what, err) => this.#rejected(what, err, true),
      onStale: () => this.#notify(changeOf(['crl']))
    })
  }

  /** SHA-256 (hex) of the policy file in force, when there is one. */
  get policySha256(): string | undefined {
    return this.#policy?.sha256
  }

  /** Call `listener` after every applied change (the servers' `recheck`); awaited in order. */
  onChange(listener: (change: LiveChange) => unknown): void {
    this.#listeners.push(listener)
  }

  /**
   * Is this peer still trusted? Its certificate is verified again against the trust store in force
   * (revocation, validity, chain to a root; the intermediates the peer presented at its handshake,
   * else this node's own). Peers
   * without a certificate (plain mode, pinned) are not this check's business.
   */
  readonly checkPeer = (peer: PeerInfo): { code: string; reason: string } | undefined => {
    if (peer.certificate === undefined) return undefined
    this.#crls.notePeer(peer.certificate)
    try {
      // The verified path ends with the root the store trusts; the peer's intermediates sit between.
      const presented = peer.chain !== undefined && peer.chain.length > 1 ? peer.chain.slice(1, -1) : this.chain.slice(1)
      const v = verifyPeerChainSync([peer.certificate, ...presented], { trust: this.trust, purpose: 'clientAuth' })
      if (v.peerId !== peer.peerId)
        return {
          code: 'cert-peer-mismatch',
          reason: `the certificate names ${v.peerId}, the channel authenticated ${peer.peerId}`
        }
      return undefined
    } catch (err) {
      return codeOf(err)
    }
  }

  /**
   * Start watching the files, refreshing CRLs from their distribution points, and warning about
   * CRLs due for renewal; writes the start-up `reload` record. Resolves once the watch is set up
   * (a change made after that is seen). SIGHUP: the command calls `reload`.
   */
  async start(): Promise<void> {
    const o = this.#o
    const paths = [o.certPath, o.trustPath, ...(o.crlPaths ?? []), ...(o.policyPath === undefined ? [] : [o.policyPath])]
    this.#watch = watchFiles({
      paths,
      onChange: () => void this.reload('file change'),
      ...(o.pollMs === undefined ? {} : { pollMs: o.pollMs })
    })
    await this.#append({
      kind: 'reload',
      event: 'applied',
      what: ['certificate', 'trust', 'crl', ...(o.policyPath === undefined ? [] : ['policy'])].join(','),
      code: 'ok',
      reason: 'configuration loaded at start-up',
      ...(this.policySha256 === undefined ? {} : { policySha256: this.policySha256 })
    })
    await this.#watch.ready
    // A file changed between loading and watching is picked up now (nothing happens if none did).
    await this.reload('start')
    o.report(`peerguard: watching ${paths.join(', ')} for changes; SIGHUP reloads them`)
    this.#crls.start()
    this.#scheduleTimeChecks()
  }

  /** Stop watching and refreshing. */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timeTimer)
    this.#watch?.close()
    this.#watch = undefined
    this.#crls.close()
  }

  /**
   * While the policy in force has a rule with a time or weekday window, notify the listeners
   * (`what: ['time']`) at each multiple of timeCheckMs: the servers decide open connections again.
   */
  #scheduleTimeChecks(): void {
    clearTimeout(this.#timeTimer)
    this.#timeTimer = undefined
    const rules = this.#policy?.policy.model.rules ?? []
    if (this.#closed || !rules.some((r) => r.when?.time !== undefined || r.when?.days !== undefined)) return
    const every = this.#o.timeCheckMs ?? 60_000
    this.#timeTimer = setTimeout(
      () => void this.#notify(changeOf(['time'])).finally(() => this.#scheduleTimeChecks()),
      every - (Date.now() % every) + 20
    )
    this.#timeTimer.unref()
  }

  /** Re-read every file now; resolves once the change (if any) is applied and the servers re-checked. */
  reload(trigger = 'request'): Promise<void> {
    if (this.#running !== undefined) {
      // one reload at a time; a request during one runs once more afterwards
      this.#again = this.#again === 'SIGHUP' ? 'SIGHUP' : trigger
      return this.#running
    }
    const run = async (): Promise<void> => {
      try {
        let t: string | undefined = trigger
        while (t !== undefined) {
          this.#again = undefined
          await this.#reloadOnce(t)
          t = this.#again
        }
      } finally {
        this.#running = undefined
      }
    }
    this.#running = run()
    return this.#running
  }

  async #reloadOnce(trigger: string): Promise<void> {
    const o = this.#o
    const forced = trigger === 'SIGHUP'
    const rejected: Array<[string, unknown]> = []
    let chain: Uint8Array[] | undefined
    let policy: LoadedPolicy | undefined
    let trust: TrustUpdate | undefined
    try {
      const next = await readCertificates(o.certPath)
      const leaf = parseCertificate(next[0] as Uint8Array)
      if (!Buffer.from(leaf.publicKey.raw).equals(Buffer.from(o.identity.publicKey)))
        throw new PeerguardError(
          'reload-certificate-mismatch',
          `${o.certPath}: the certificate was not issued for this node's identity key`
        )
      if (!sameChain(next, this.chain)) chain = next
      this.#lastRejected.delete('certificate')
    } catch (err) {
      rejected.push(['certificate', err])
    }
    if (o.policyPath !== undefined) {
      try {
        const loaded = await readPolicy(o.policyPath)
        if (loaded.sha256 !== this.#policy?.sha256) policy = loaded
        this.#lastRejected.delete('policy')
      } catch (err) {
        rejected.push(['policy', err])
      }
    }
    try {
      const candidate = await o.loadTrust()
      trust = planTrustUpdate(this.trust, candidate, { kept: this.#crls.kept, ownChain: chain ?? this.chain })
      this.#lastRejected.delete('trust')
    } catch (err) {
      rejected.push(['trust', err])
    }
    // The swap: one synchronous step, so no connection sees half of the new configuration.
    const what: string[] = []
    if (chain !== undefined) {
      this.chain.splice(0, this.chain.length, ...chain)
      what.push('certificate')
    }
    if (policy !== undefined) {
      this.#policy = policy
      what.push('policy')
      this.#scheduleTimeChecks()
    }
    if (trust !== undefined) {
      this.trust.replace({ roots: trust.roots, crls: trust.crls })
      what.push(...trust.what)
    }
    for (const [part, err] of rejected) await this.#rejected(part, err, forced)
    if (what.length > 0) await this.#applied(what, `reloaded on ${trigger}`)
    else if (forced && rejected.length === 0) o.report('peerguard: reload: nothing changed')
  }

  async #applied(what: readonly string[], reason: string): Promise<void> {
    const sha = this.policySha256
    this.#o.report(`peerguard: reloaded ${what.join(', ')}${sha === undefined ? '' : ` (policy sha256 ${sha.slice(0, 16)}…)`}`)
    // queued first, so the log still reads "reload applied" before the closes it causes; not
    // awaited before the re-check: a revoked peer is cut off without waiting for the log's fsync
    const logged = this.#append({
      kind: 'reload',
      event: 'applied',
      what: what.join(','),
      code: 'ok',
      reason,
      ...(sha === undefined ? {} : { policySha256: sha })
    })
    await this.#notify(changeOf(what))
    await logged
  }

  /** Report a rejected part once per distinct error (every time when `always`, e.g. on SIGHUP). */
  async #rejected(what: string, err: unknown, always: boolean): Promise<void> {
    const { code, reason } = codeOf(err)
    const key = `${code}\n${reason}`
    if (!always && this.#lastRejected.get(what) === key) return
    this.#lastRejected.set(what, key)
    this.#o.report(`peerguard: warning: reload: new ${what} rejected (${code}): ${reason}; keeping the ${what} in force`)
    const sha = this.policySha256
    await this.#append({
      kind: 'reload',
      event: 'rejected',
      what,
      code,
      reason,
      ...(sha === undefined ? {} : { policySha256: sha })
    })
  }

  async #notify(change: LiveChange): Promise<void> {
    for (const l of this.#listeners) {
      try {
        await l(change)
      } catch (err) {
        this.#o.report(`peerguard: warning: re-checking connections failed: ${codeOf(err).reason}`)
      }
    }
  }

  async #append(record: ReloadRecord): Promise<void> {
    await this.#o.log?.append(record).catch((err: unknown) => {
      this.#o.report(`peerguard: warning: the decision log cannot be written: ${codeOf(err).reason}`)
    })
  }
}

/** Load the node's configuration (certificate, trust, policy) and return it ready to `start()`. */
export async function createLiveConfig(options: LiveConfigOptions): Promise<LiveConfig> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  for (const k of ['certPath', 'trustPath'] as const) {
    if (typeof options[k] !== 'string' || options[k].length === 0)
      throw new InvalidArgumentError(`options.${k}: expected a non-empty path`)
  }
  if (typeof options.loadTrust !== 'function') throw new InvalidArgumentError('options.loadTrust: expected a function')
  if (typeof options.report !== 'function') throw new InvalidArgumentError('options.report: expected a function')
  assertInteger('options.timeCheckMs', options.timeCheckMs ?? 60_000, 50, 3_600_000)
  const chain = await readCertificates(options.certPath)
  const leaf = parseCertificate(chain[0] as Uint8Array)
  if (!Buffer.from(leaf.publicKey.raw).equals(Buffer.from(options.identity.publicKey)))
    throw new InvalidArgumentError(`${options.certPath}: the certificate was not issued for the key of this identity`)
  const trust = await options.loadTrust()
  const policy = options.policyPath === undefined ? undefined : await readPolicy(options.policyPath)
  return new LiveConfig(options, trust, chain, policy)
}
