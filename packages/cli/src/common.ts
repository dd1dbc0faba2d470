/**
 * What several commands need: reading the files a user names (with size limits and stable error
 * codes), passphrase files, certificates, trust stores and identities, and small option helpers.
 */
import { open, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import type { DecisionLog } from '@peerguard/decision-log'
import { type KeyPair, loadIdentity } from '@peerguard/identity'
import { type Clock, InvalidArgumentError, isPeerguardError, PeerguardError, wipe } from '@peerguard/interface'
import {
  CertificateMalformedError,
  type CrlInput,
  CrlMalformedError,
  createTrustStore,
  loadTrustStore,
  parseCertificate,
  pemDecodeAll,
  type TrustStore
} from '@peerguard/pki'
import type { CliIO } from './io.js'

/** A passphrase file longer than this is surely the wrong file. */
export const PASSPHRASE_FILE_MAX_BYTES = 64 * 1024
/** Certificates, CSRs and CRLs read from the command line are small; refuse huge files early. */
export const PKI_FILE_MAX_BYTES = 1024 * 1024

/** Read a file with a size limit, mapping errors to stable codes. */
export async function readLimited(path: string, what: string, max = PKI_FILE_MAX_BYTES): Promise<Buffer> {
  try {
    const handle = await open(path, 'r')
    try {
      const { size } = await handle.stat()
      if (size > max) throw new InvalidArgumentError(`${path}: ${what} is ${size} bytes; larger than ${max}`)
      return await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof PeerguardError) throw err
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${path}: no such ${what}`, { cause: err })
    if (e.code === 'EISDIR') throw new InvalidArgumentError(`${path}: is a directory, expected a ${what}`, { cause: err })
    throw new PeerguardError('io-error', `${path}: cannot read the ${what} (${e.code ?? e.message})`, { cause: err })
  }
}

/**
 * The passphrase is the first line of the file, without its line ending (LF or CR LF).
 * An empty first line is refused: it would encrypt with no secret at all.
 */
export async function readPassphraseFile(path: string): Promise<string> {
  const raw = await readLimited(path, 'passphrase file', PASSPHRASE_FILE_MAX_BYTES)
  try {
    let end = raw.indexOf(0x0a)
    if (end === -1) end = raw.length
    if (end > 0 && raw[end - 1] === 0x0d) end--
    if (end === 0) {
      throw new InvalidArgumentError(`${path}: the passphrase file is empty (its first line is the passphrase)`, {
        details: { hint: 'write the passphrase on the first line of the file' }
      })
    }
    return raw.toString('utf8', 0, end)
  } finally {
    wipe(raw)
  }
}

/** `{ passphrase }` from an optional `--passphrase-file`, ready to spread into keystore options. */
export async function passphraseOf(file: string | undefined): Promise<{ passphrase?: string }> {
  return file === undefined ? {} : { passphrase: await readPassphraseFile(file) }
}

/** The key pair of an identity key file. */
export async function readKey(path: string, passphraseFile: string | undefined): Promise<KeyPair> {
  return (await loadIdentity(path, await passphraseOf(passphraseFile))).keyPair
}

/** Every certificate in a file: DER (one) or PEM (one or more, leaf first). */
export async function readCertificates(path: string): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(await readLimited(path, 'certificate'))
  if (bytes[0] === 0x30) return [bytes]
  try {
    return pemDecodeAll(Buffer.from(bytes).toString('latin1'), 'CERTIFICATE')
  } catch (err) {
    throw new CertificateMalformedError(`${path}: not a PEM or DER certificate (${(err as Error).message})`, { cause: err })
  }
}

/** Every CRL in a file: DER (one) or PEM (one or more `X509 CRL` blocks). */
export async function readCrls(path: string): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(await readLimited(path, 'CRL'))
  if (bytes[0] === 0x30) return [bytes]
  let crls: Uint8Array[]
  try {
    crls = pemDecodeAll(Buffer.from(bytes).toString('latin1'), 'X509 CRL')
  } catch (err) {
    throw new CrlMalformedError(`${path}: not a PEM or DER CRL (${(err as Error).message})`, { cause: err })
  }
  if (crls.length === 0) throw new CrlMalformedError(`${path}: no PEM X509 CRL block and not DER`)
  return crls
}

/** The trust flags of every hardened command (`--trust`, `--crl`, `--allow-missing-crl`). */
export interface TrustFlags {
  /** A root certificate file (PEM/DER), or a directory of roots and CRLs. */
  trust: string
  /** CRL files (PEM or DER), repeatable. */
  crl?: string[]
  /** The explicit opt-out: accept peers of a CA without a CRL (revocation not checked for it). */
  allowMissingCrl?: boolean
}

export interface LoadTrustOptions {
  /** This node's own chain (leaf first): its intermediate CAs need a current CRL too. Default none. */
  chain?: readonly Uint8Array[]
  /** Print the CRLs in force and when each goes stale, one line each (long-running commands). Default false. */
  report?: boolean
  /** Check that every CA has a current CRL before starting. Default true. */
  check?: boolean
  clock?: Clock
  clockSkewMs?: number
}

/** A loaded trust store and what the command should say and log about it. */
export interface LoadedTrust {
  trust: TrustStore
  /** True when the admin passed --allow-missing-crl. */
  allowMissingCrl: boolean
  /** CAs whose peers are not checked for revocation (no CRL; only with --allow-missing-crl). */
  unchecked: string[]
}

const CRL_HINT =
  "pass the CA's CRL with --crl FILE or put it in the trust folder (sign one with `peerguard ca crl --ca DIR`); to run without revocation checks, knowingly, add --allow-missing-crl"

/**
 * A trust store from the flags, quietly (no checks, no output): roots from `--trust` (a file, or a
 * directory of roots and CRLs), CRLs from the directory and every `--crl` file, revocation required
 * unless `--allow-missing-crl`. What a long-running command builds again on every reload.
 */
export async function buildTrust(
  flags: TrustFlags,
  options: Pick<LoadTrustOptions, 'clock' | 'clockSkewMs'> = {}
): Promise<TrustStore> {
  const crls: CrlInput[] = []
  for (const file of flags.crl ?? []) for (const crl of await readCrls(file)) crls.push({ crl, source: file })
  const storeOptions = {
    requireCrl: flags.allowMissingCrl !== true,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.clockSkewMs === undefined ? {} : { clockSkewMs: options.clockSkewMs })
  }
  const info = await stat(flags.trust).catch(() => undefined)
  if (info?.isDirectory() === true) return loadTrustStore(flags.trust, { ...storeOptions, crls })
  return createTrustStore({ roots: await readCertificates(flags.trust), crls, ...storeOptions })
}

/**
 * The start-up side of `loadTrust` for a store built elsewhere: refuses, naming the CA, when a root
 * (or an intermediate of `chain`) has no CRL (unless the store was built with the opt-out), or a
 * stale or forged one; prints the opt-out warning; with `report`, the CRLs in force.
 */
export function checkTrust(trust: TrustStore, io: CliIO, options: LoadTrustOptions = {}): LoadedTrust {
  const intermediates = (options.chain ?? []).slice(1).filter((der) => parseCertificate(der).ca)
  if (options.check !== false) {
    try {
      trust.assertCrlsCurrent(intermediates)
    } catch (err) {
      if (isPeerguardError(err) && err.code === 'crl-missing')
        throw new PeerguardError('crl-missing', `${err.message}: refusing to start without revocation checks`, {
          cause: err,
          details: { ...err.details, hint: CRL_HINT }
        })
      throw err
    }
  }
  const unchecked = trust.crlsMissing(intermediates)
  if (!trust.requireCrl) {
    io.err(
      `peerguard: warning: --allow-missing-crl: revocation is NOT checked for peers of ${unchecked.length === 0 ? 'a CA without a CRL' : unchecked.join('; ')} (a revoked certificate is accepted)`
    )
  }
  if (options.report === true) reportCrls(trust, io)
  return { trust, allowMissingCrl: !trust.requireCrl, unchecked }
}

/**
 * The one way commands load their trust store (`buildTrust`, then `checkTrust`): revocation is
 * required unless `--allow-missing-crl`, every root (and each intermediate of `chain`) must have a
 * current CRL before anything starts, and a refusal names the CA whose CRL is missing, stale or
 * forged. The opt-out is printed as a warning; with `report`, each CRL in force and when it goes
 * stale, with a warning well before that.
 */
export async function loadTrust(flags: TrustFlags, io: CliIO, options: LoadTrustOptions = {}): Promise<LoadedTrust> {
  return checkTrust(await buildTrust(flags, options), io, options)
}

/** One line per CRL in force (issuer, number, source, stale when), and a warning for each due for renewal. */
export function reportCrls(trust: TrustStore, io: CliIO): void {
  const now = trust.clock.now()
  for (const s of trust.crlStatus()) {
    const left = s.nextUpdate.getTime() - now
    io.err(
      `peerguard: crl: ${s.issuer}${s.number === undefined ? '' : ` #${parseInt(s.number, 16)}`}${s.source === undefined ? '' : ` from ${s.source}`}: ${s.stale ? 'STALE since' : 'current until'} ${s.nextUpdate.toISOString()}${s.stale ? '' : ` (${formatDuration(left)} left)`}`
    )
  }
  for (const w of trust.crlWarnings()) {
    if (w.stale) continue
    io.err(
      `peerguard: warning: the CRL of ${w.issuer} goes stale at ${w.nextUpdate.toISOString()} (in ${formatDuration(w.nextUpdate.getTime() - now)}): sign a fresh one (peerguard ca crl --renew-before 2d) and reload`
    )
  }
}

/**
 * Record the admin's explicit opt-out in the decision log: a `reload` record (event `applied`,
 * what `trust`, code `crl-missing`) naming the flag and the CAs whose peers are not checked.
 */
export async function recordTrustChoice(log: DecisionLog | undefined, loaded: LoadedTrust): Promise<void> {
  if (log === undefined || !loaded.allowMissingCrl) return
  await log.append({
    kind: 'reload',
    event: 'applied',
    what: 'trust',
    code: 'crl-missing',
    reason: `started with --allow-missing-crl: revocation not checked for ${loaded.unchecked.length === 0 ? 'CAs without a CRL' : loaded.unchecked.join('; ')}`
  })
}

/** Commander options `--crl` and `--allow-missing-crl` (with `--trust`, added by the command). */
export function crlOptions(cmd: Command): Command {
  return cmd
    .option('--crl <file>', 'a CRL of a CA in --trust (PEM or DER); repeat for more', collect)
    .option(
      '--allow-missing-crl',
      'accept peers of a CA without a CRL (revocation NOT checked for them): an explicit opt-out, warned and logged'
    )
}

/** `90s`, `30m`, `12h`, `2d`, `1w` → milliseconds. */
export function parseDuration(name: string, value: string): number {
  const m = /^(\d{1,6})(s|m|h|d|w)$/.exec(value)
  if (m === null)
    throw new InvalidArgumentError(`${name}: expected a duration like 90s, 30m, 12h, 2d or 1w, got ${JSON.stringify(value)}`)
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w']
  return Number(m[1]) * unit
}

/** `6d 23h`, `5h 3m`, `4m 10s`, `42s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${s % 60}s`
  return `${s}s`
}

/** Refuse early when an output file exists, so a failed write never follows a state change. */
export async function assertWritable(path: string, force: boolean | undefined): Promise<void> {
  if (force === true) return
  const exists = await stat(path).then(
    () => true,
    () => false
  )
  if (exists) {
    throw new PeerguardError('already-exists', `${path}: already exists; refusing to overwrite it`, {
      details: { hint: 'choose another --out file, or pass --force to replace it' }
    })
  }
}

/** True when `--json` was given, before or after the command. */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true
}

/** Commander collector for repeatable options (`--group a --group b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** `HOST:PORT` or `[IPv6]:PORT` for a `--listen` option. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || port > 65535) throw new InvalidArgumentError(`--listen: expected HOST:PORT, got ${JSON.stringify(value)}`)
  return { host: (m[1] ?? m[2]) as string, port }
}
