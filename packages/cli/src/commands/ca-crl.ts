import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError, writeFileAtomic } from '@peerguard/interface'
import { CA_FILES, createTrustStore, openCaDirectory, type ParsedCrl, parseCrl, readCaDirectory } from '@peerguard/pki'
import { createCrlPublisher } from '../crl-publisher.js'
import { type CliIO, terminalJson } from '../io.js'
import { formatDuration, parseDuration, parseListen, passphraseOf, wantsJson } from '../common.js'
import { wantsDer } from './ca-issue.js'
import { untilStopSignal } from '../stop-signal.js'

/** A `.der` or `.cer` output gets DER; anything else PEM. */
function positiveInt(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new InvalidArgumentError(`${name}: expected a whole number ≥ 1, got ${JSON.stringify(value)}`)
    return Number.parseInt(value, 10)
  }
}

/**
 * Why the CRL in `file` is still good enough for `--renew-before` ('' when it must be re-signed): it
 * parses, verifies with this CA's key, lists every revocation of the database, and has more than
 * `beforeMs` left.
 */
async function stillCurrent(
  caDir: string,
  file: string,
  beforeMs: number,
  now: number
): Promise<{ crl: ParsedCrl; why: string } | undefined> {
  const bytes = await readFile(file).catch(() => undefined)
  if (bytes === undefined) return undefined
  let crl: ParsedCrl
  try {
    crl = parseCrl(bytes[0] === 0x30 ? new Uint8Array(bytes) : bytes.toString('latin1'))
  } catch {
    return undefined
  }
  const { certificate, database } = await readCaDirectory(caDir)
  try {
    createTrustStore({ roots: [certificate.der], requireCrl: false }).addCrl(crl.der)
  } catch {
    return undefined // another CA's, or damaged
  }
  const revoked = database.certificates.filter((c) => c.revokedAt !== undefined).map((c) => c.serial)
  if (revoked.some((s) => !crl.revoked.has(s))) return undefined
  if (crl.nextUpdate === undefined || crl.nextUpdate - now <= beforeMs) return undefined
  return { crl, why: `${formatDuration(crl.nextUpdate - now)} left, every revocation listed` }
}

/** `ca crl` (sign, or renew before a deadline) and `ca publish` (serve CRLs over HTTP). */
export function registerCaCrlCommands(ca: Command, io: CliIO): void {
  ca.command('crl')
    .description('sign a CRL of every revoked certificate, with the next CRL number (kept as crl.pem in the CA directory)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--out <file>', 'also write the CRL here: PEM, or DER when it ends in .der/.cer')
    .option('--days <n>', 'nextUpdate: days until peers must fetch a newer CRL (default 7)', positiveInt('--days'))
    .option(
      '--renew-before <duration>',
      'only re-sign when the current CRL goes stale within DURATION (90s, 30m, 12h, 2d, 1w) or lacks a revocation'
    )
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Peers refuse every certificate of this CA once the CRL is past nextUpdate (crl-stale), so sign a
new one before then. With --renew-before the command is idempotent and cron-friendly: it exits 0
whether it re-signed or not, and says which. The newest CRL is always kept in the CA directory
(crl.pem), where \`peerguard ca publish\` serves it.

Example:
  $ peerguard ca crl --ca lan-ca --out crl.pem --days 7 --passphrase-file ca.pass
  # crontab: every hour, re-sign when less than 2 days are left
  0 * * * * peerguard ca crl --ca /srv/lan-ca --renew-before 2d --passphrase-file /srv/ca.pass`
    )
    .action(
      async (opts: { ca: string; out?: string; days?: number; renewBefore?: string; passphraseFile?: string }, cmd: Command) => {
        const inDir = join(opts.ca, CA_FILES.crl)
        if (opts.renewBefore !== undefined) {
          const beforeMs = parseDuration('--renew-before', opts.renewBefore)
          const days = opts.days ?? 7
          if (beforeMs >= days * 86_400_000)
            io.err(
              `peerguard: warning: --renew-before ${opts.renewBefore} is not shorter than the CRL lifetime (${days}d): every run re-signs`
            )
          const current = await stillCurrent(opts.ca, opts.out ?? inDir, beforeMs, Date.now())
          if (current !== undefined) {
            const nextUpdate = new Date(current.crl.nextUpdate as number).toISOString()
            const number = current.crl.number === undefined ? undefined : Number.parseInt(current.crl.number, 16)
            if (wantsJson(cmd)) io.json({ renewed: false, file: opts.out ?? inDir, number, nextUpdate, reason: current.why })
            else
              io.out(
                `kept CRL #${number ?? '?'} in ${opts.out ?? inDir}: current until ${nextUpdate} (${current.why}); nothing to do`
              )
            return
          }
        }
        const authority = await openCaDirectory(opts.ca, await passphraseOf(opts.passphraseFile))
        const crl = await authority.crl({
          ...(opts.days === undefined ? {} : { days: opts.days }),
          // Written inside the database transaction: a CRL that cannot be written is not counted.
          beforeCommit: async (c) => {
            if (opts.out !== undefined) await writeFileAtomic(opts.out, wantsDer(opts.out) ? c.der : c.pem, { mode: 0o644 })
            await writeFileAtomic(inDir, c.pem, { mode: 0o644 })
          }
        })
        const info = {
          renewed: true,
          file: opts.out ?? inDir,
          number: crl.number,
          thisUpdate: crl.thisUpdate.toISOString(),
          nextUpdate: crl.nextUpdate.toISOString(),
          revoked: crl.revoked
        }
        if (wantsJson(cmd)) io.json(info)
        else
          io.out(
            `wrote CRL #${crl.number} to ${opts.out === undefined ? inDir : `${opts.out} and ${inDir}`}: ${crl.revoked.length} revoked, next update ${info.nextUpdate}`
          )
      }
    )

  ca.command('publish')
    .description('serve the current CRL and CA certificate over HTTP (read only) for CRL distribution points')
    .requiredOption('--ca <dir>', 'a CA directory; repeat to publish several (each at /<dir name>.crl)', collectDirs)
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--json', 'machine-readable output (JSON lines on stdout)')
    .addHelpText(
      'after',
      `
Serves, for each CA directory DIR (no key or passphrase needed, nothing but public files):
  /<DIR>.crl  the newest CRL signed by \`peerguard ca crl\` (DER, application/pkix-crl)
  /<DIR>.crt  the CA certificate (DER), /<DIR>.pem the same in PEM
Files are re-read on every request, so a CRL re-signed by cron is served at once. GET and HEAD
only. Safe to expose on the LAN: CRLs and CA certificates are public and signed, so a peer
rejects anything altered in transit. Point certificates at it with \`ca init --crl-url\`.
Runs until SIGINT or SIGTERM.

Example:
  $ peerguard ca init --dir lan-ca --name "Home LAN CA" --crl-url http://ca.lan:8080/lan-ca.crl --passphrase-file ca.pass
  $ peerguard ca publish --ca lan-ca --listen 0.0.0.0:8080`
    )
    .action(async (opts: { ca: string[]; listen: string }, cmd: Command) => {
      const json = wantsJson(cmd)
      const listen = parseListen(opts.listen)
      for (const dir of opts.ca) await readCaDirectory(dir) // refuse what is not a CA directory
      const publisher = createCrlPublisher(opts.ca.map((dir) => ({ dir })))
      const bound = await publisher.listen(listen.host, listen.port)
      const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
      const base = `http://${host}:${bound.port}`
      for (const p of publisher.paths) {
        const crl = await readFile(join(p.dir, CA_FILES.crl), 'latin1').catch(() => undefined)
        if (json)
          io.out(terminalJson({ event: 'publishing', ca: p.dir, crl: `${base}${p.crl}`, certificate: `${base}${p.crt}` }, 0))
        else io.out(`publishing ${base}${p.crl} and ${base}${p.crt} (CA ${p.dir})`)
        if (crl === undefined)
          io.err(`peerguard: warning: ${p.dir} has no CRL yet: sign one with \`peerguard ca crl --ca ${p.dir}\``)
      }
      await untilStopSignal()
      await publisher.close()
      if (!json) io.err(`peerguard: stopped after ${publisher.served} requests`)
    })
}

function collectDirs(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
