/**
 * What `share serve`, `swarm seed` and `proxy server` share to stay current while they run: the
 * LiveConfig built from their flags, the `--crl-refresh` option, and the wait for a stop signal
 * (SIGHUP reloads; it never stops a server).
 */
import { stat } from 'node:fs/promises'
import type { KeyPair } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { createTrustStore, loadTrustStore, pemDecodeAll, type TrustStore } from '@peerguard/pki'
import { readCertificates, readLimited } from './common.js'
import type { CliIO } from './io.js'
import { createLiveConfig, type LiveConfig, type ReloadSink } from './live-config.js'

/** Help text of `--crl-refresh`. */
export const CRL_REFRESH_HELP = "fetch CRLs from the certificates' distribution points every SECONDS (0 = never)"
/** Default of `--crl-refresh`, seconds. */
export const DEFAULT_CRL_REFRESH_SECONDS = 300

/** Parse `--crl-refresh SECONDS` (0..86400) to milliseconds. */
export function parseCrlRefresh(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CRL_REFRESH_SECONDS * 1000
  if (!/^\d+$/.test(value) || Number(value) > 86_400)
    throw new InvalidArgumentError(`--crl-refresh: expected whole seconds 0..86400, got ${JSON.stringify(value)}`)
  return Number(value) * 1000
}

/** CRLs of a file, PEM (one or more) or DER. */
async function readCrlFile(path: string): Promise<Array<{ crl: Uint8Array; source: string }>> {
  const bytes = new Uint8Array(await readLimited(path, 'CRL'))
  if (bytes[0] === 0x30) return [{ crl: bytes, source: path }]
  let ders: Uint8Array[]
  try {
    ders = pemDecodeAll(Buffer.from(bytes).toString('latin1'), 'X509 CRL')
  } catch (err) {
    throw new PeerguardError('crl-malformed', `${path}: not a PEM or DER CRL (${(err as Error).message})`, { cause: err })
  }
  if (ders.length === 0) throw new PeerguardError('crl-malformed', `${path}: no X509 CRL block`)
  return ders.map((crl) => ({ crl, source: path }))
}

/**
 * A fresh trust store from `--trust` (a root file, or a directory of roots and CRLs) plus the
 * `--crl` files: what a long-running command loads at start and again on every reload.
 */
export async function readTrustFiles(
  trust: string,
  crls: readonly string[] = [],
  options: { requireCrl?: boolean } = {}
): Promise<TrustStore> {
  const extra = (await Promise.all(crls.map(readCrlFile))).flat()
  const info = await stat(trust).catch(() => undefined)
  if (info?.isDirectory() === true) {
    const store = await loadTrustStore(trust, options)
    if (extra.length > 0) store.replace({ crls: [...store.crls.map((c) => c.der), ...extra] })
    return store
  }
  return createTrustStore({ roots: await readCertificates(trust), crls: extra, ...options })
}

/** The flags a long-running hardened command has. */
export interface LiveFlags {
  cert: string
  trust: string
  crl?: readonly string[]
  /** `--allow-missing-crl`: the admin's explicit opt-out of required CRLs (common.ts checkTrust warns and logs it). */
  allowMissingCrl?: boolean
  policy?: string
  crlRefresh?: string
}

/**
 * The LiveConfig of a long-running command (not started: call `start()` once the server
 * listens). Diagnostics go to stderr; reload records to `log`.
 */
export function liveConfigFor(flags: LiveFlags, identity: KeyPair, io: CliIO, log?: ReloadSink): Promise<LiveConfig> {
  const crls = flags.crl ?? []
  return createLiveConfig({
    identity,
    certPath: flags.cert,
    trustPath: flags.trust,
    crlPaths: crls,
    ...(flags.policy === undefined ? {} : { policyPath: flags.policy }),
    loadTrust: () => readTrustFiles(flags.trust, crls, { requireCrl: flags.allowMissingCrl !== true }),
    ...(log === undefined ? {} : { log }),
    report: (line) => io.err(line),
    crlRefreshMs: parseCrlRefresh(flags.crlRefresh)
  })
}

/** Signals of a running server: `stopped` resolves on SIGINT or SIGTERM; `dispose` stops listening. */
export interface TrappedSignals {
  readonly stopped: Promise<void>
  dispose(): void
}

/**
 * Take over SIGINT, SIGTERM and SIGHUP before the server starts (so no early signal takes the
 * default action). SIGHUP reloads `live` (certificate, trust, CRLs, policy) and never stops the
 * server; without a LiveConfig (plain mode) it only says there is nothing to reload.
 */
export function trapSignals(io: CliIO, live: LiveConfig | undefined): TrappedSignals {
  let resolve: () => void = () => {}
  const stopped = new Promise<void>((r) => {
    resolve = r
  })
  const onHup = (): void => {
    if (live === undefined) io.err('peerguard: SIGHUP: nothing to reload in plain mode')
    else void live.reload('SIGHUP')
  }
  const onStop = (): void => resolve()
  process.on('SIGHUP', onHup)
  process.on('SIGINT', onStop)
  process.on('SIGTERM', onStop)
  return {
    stopped,
    dispose() {
      process.off('SIGHUP', onHup)
      process.off('SIGINT', onStop)
      process.off('SIGTERM', onStop)
    }
  }
}
