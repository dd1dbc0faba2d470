import { type Command, Option } from 'commander'
import type { DecisionLog } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import { channelTransport, createShareServer, plainTransport, policyAuthorizer } from '@peerguard/share'
import type { CliIO } from '../io.js'
import { LOG_SHIP_HELP, openNodeLog } from './audit-log.js'
import type { LiveConfig } from '../live-config.js'
import { openKey } from '../passphrase.js'
import { CRL_REFRESH_HELP, type LiveFlags, liveConfigFor, trapSignals } from '../serve-live.js'
import { checkTrust, collect, parseListen, recordTrustChoice, wantsJson } from '../common.js'
import { type CredentialOptions, registerShareClientCommands } from './share-client.js'
import { consoleLogFor, loggedIO } from '../console-log.js'
import { ServiceConsole } from '../service-console.js'
import { recordServiceStart } from '../service-records.js'

/**
 * `peerguard share`: `serve` here (flag checks, server start-up, the serving loop); the client
 * subcommands (ls, get, put, rm, mv, mkdir) are in share-client.ts.
 */
export function registerShareCommands(program: Command, io: CliIO): void {
  const share = program
    .command('share')
    .description('serve a folder to LAN peers, or use one: hardened (certificates + policy) or plain')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard share serve ./office --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --policy office.yaml --listen 0.0.0.0:4455 --log decisions.jsonl
  $ peerguard share get 192.168.1.10:4455 public/notice.txt --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl`
    )

  share
    .command('serve')
    .description('serve DIR until interrupted (Ctrl-C); every decision goes to the decision log')
    .argument('<dir>', 'the folder to share')
    .option('--identity <key>', "this node's identity key file")
    .option('--cert <cert>', "this node's certificate chain, PEM")
    .option('--trust <root>', 'the LAN CA root certificate (file or directory) that peers must chain to')
    .option('--crl <file>', 'a CRL of a CA in --trust (PEM or DER); repeat for more', collect)
    .option(
      '--allow-missing-crl',
      'accept peers of a CA without a CRL (revocation NOT checked for them): an explicit opt-out, warned and logged'
    )
    .option('--policy <file>', 'the access policy (YAML or JSON)')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:4455')
    .option('--log <file>', 'decision log (JSON Lines, hash-chained, checkpoints signed with --identity)')
    .option('--log-ship <target>', LOG_SHIP_HELP)
    .option('--name <share>', 'share name in policy resources (share:<name>/…); default: the folder name')
    .option('--plain', 'serve without authentication or encryption (the unprotected baseline)')
    .option('--passphrase-file <file>', 'passphrase of the identity key (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity key from systemd credential NAME')
    .addOption(new Option('--max-ops <n>', 'concurrent operations per peer').default('8'))
    .option('--json', 'machine-readable output (JSON Lines events on stdout)')
    .option('--crl-refresh <seconds>', CRL_REFRESH_HELP)
    .addHelpText(
      'after',
      `
Runs until SIGINT or SIGTERM. Certificate, trust roots, CRLs and policy are watched and re-read on
change or SIGHUP: a bad new file keeps the one in force (logged as a rejected reload), and open
connections of peers no longer trusted are closed.

Example:
  $ peerguard share serve ./office --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --policy office.yaml --log decisions.jsonl
  $ peerguard share serve ./scratch --plain --listen 127.0.0.1:4456`
    )
    .action((dir, opts, cmd) => shareServe(io, dir, opts, cmd))

  registerShareClientCommands(share, io)
}

type ServeOptions = CredentialOptions & {
  policy?: string
  listen: string
  log?: string
  logShip?: string
  name?: string
  plain?: boolean
  maxOps: string
  crlRefresh?: string
}

/** The flags of `share serve` that must agree before anything is read: listen address, --max-ops, mode. */
function checkServeFlags(opts: ServeOptions): { listen: { host: string; port: number }; maxOps: number } {
  const listen = parseListen(opts.listen)
  const maxOps = Number(opts.maxOps)
  if (!Number.isSafeInteger(maxOps) || maxOps < 1) throw new InvalidArgumentError('--max-ops: expected a positive whole number')
  if (
    opts.plain !== true &&
    (opts.identity === undefined || opts.cert === undefined || opts.trust === undefined || opts.policy === undefined)
  ) {
    throw new PeerguardError('usage', 'a hardened share needs --identity, --cert, --trust and --policy', {
      details: { hint: 'or pass --plain to serve without authentication (not recommended)' }
    })
  }
  if (opts.plain === true && opts.policy !== undefined)
    throw new PeerguardError('usage', '--policy needs hardened mode: a plain share cannot tell peers apart')
  if (opts.log !== undefined && opts.identity === undefined)
    throw new PeerguardError('usage', '--log needs --identity: its key signs the log checkpoints')
  return { listen, maxOps }
}

/**
 * The share server of `share serve`, not yet listening: the decision log, and in hardened mode the
 * live configuration (refusing to start without a current CRL per CA). The log is closed on failure.
 */
async function createServeServer(
  io: CliIO,
  dir: string,
  opts: ServeOptions,
  maxOps: number,
  svc?: ServiceConsole
): Promise<{ server: ReturnType<typeof createShareServer>; log?: DecisionLog; live?: LiveConfig }> {
  const identity = opts.identity === undefined ? undefined : await openKey(opts.identity, opts, io)
  let log: DecisionLog | undefined
  let live: LiveConfig | undefined
  try {
    if (opts.log !== undefined) log = await openNodeLog(opts.log, identity as KeyPair, opts, io)
    // Hardened: certificate, trust, CRLs and policy stay current while serving (serve-live.ts).
    if (opts.plain !== true) {
      live = await liveConfigFor(opts as LiveFlags, identity as KeyPair, io, svc === undefined ? log : svc.reloads(log))
      // Revocation: refuse to start without a current CRL per CA (or say the opt-out), list the CRLs.
      await recordTrustChoice(log, checkTrust(live.trust, io, { chain: live.chain, report: true }))
    }
    const server = createShareServer({
      root: dir,
      ...(opts.name === undefined ? {} : { shareName: opts.name }),
      transport:
        live === undefined
          ? plainTransport()
          : channelTransport({ identity: identity as KeyPair, chain: live.chain, trust: live.trust }),
      ...(live?.policy === undefined ? {} : { authorize: policyAuthorizer(live.policy) }),
      ...(live === undefined ? {} : { connectionCheck: live.checkPeer }),
      ...(log === undefined ? {} : { log }),
      maxConcurrentPerPeer: maxOps
    })
    return { server, ...(log === undefined ? {} : { log }), ...(live === undefined ? {} : { live }) }
  } catch (err) {
    await log?.close()
    throw err
  }
}

/** `share serve`: serve DIR until SIGINT or SIGTERM, keeping certificate, trust, CRLs and policy current. */
async function shareServe(plainIO: CliIO, dir: string, opts: ServeOptions, cmd: Command): Promise<void> {
  const { listen, maxOps } = checkServeFlags(opts)
  // the console log (service-console.ts): connections, refusals, reloads; stderr lines go through it
  const svc = new ServiceConsole(consoleLogFor(plainIO, cmd.optsWithGlobals()))
  const io = loggedIO(plainIO, svc.log)
  const { server, log, live } = await createServeServer(io, dir, opts, maxOps, svc)
  svc.share(server)
  const signals = trapSignals(io, live)
  let recordStop: (() => Promise<void>) | undefined
  try {
    const addr = await server.listen(listen)
    svc.started(`share:${server.shareName}`, `serving ${dir} on ${addr.host}:${addr.port} (${server.mode})`)
    recordStop = await recordServiceStart(log, 'share serve', `share:${server.shareName}`, live)
    if (wantsJson(cmd))
      io.json({
        listening: addr,
        mode: server.mode,
        share: server.shareName,
        root: server.root,
        ...(opts.log === undefined ? {} : { log: opts.log })
      })
    else {
      io.out(
        `serving ${dir} as share "${server.shareName}" on ${addr.host}:${addr.port} (${server.mode})${opts.log === undefined ? '' : `, decision log ${opts.log}`}`
      )
      if (server.mode === 'plain')
        io.err('peerguard: warning: plain mode: anyone who can reach this port can read and write the folder')
    }
    live?.onChange((change) => server.recheck({ trust: change.trust }))
    await live?.start()
    await signals.stopped
  } finally {
    signals.dispose()
    live?.close()
    await server.close()
    await recordStop?.()
    await log?.close()
    svc.stopped('share closed', `share:${server.shareName}`)
  }
  if (!wantsJson(cmd)) io.out('share closed')
}
