import { basename } from 'node:path'
import cliProgress from 'cli-progress'
import { type Command, Option } from 'commander'
import type { DecisionLog } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import {
  channelTransport,
  connectShare,
  createShareServer,
  parseShareAddress,
  plainTransport,
  policyAuthorizer,
  type Progress,
  type ShareClient,
  type ShareTransport
} from '@peerguard/share'
import type { CliIO } from '../io.js'
import {
  acceptanceOf,
  explainServerRefusal,
  loadServerAuth,
  reportServer,
  type ServerAuth,
  serverAuthOptions,
  serverEntryName,
  serverJson
} from '../server-auth.js'
import { LOG_SHIP_HELP, openNodeLog } from './audit-log.js'
import type { LiveConfig } from '../live-config.js'
import { openKey } from '../passphrase.js'
import { CRL_REFRESH_HELP, type LiveFlags, liveConfigFor, trapSignals } from '../serve-live.js'
import {
  checkTrust,
  collect,
  crlOptions,
  loadTrust,
  parseListen,
  readCertificates,
  recordTrustChoice,
  wantsJson
} from '../common.js'

interface CredentialOptions {
  identity?: string
  cert?: string
  trust?: string
  crl?: string[]
  allowMissingCrl?: boolean
  passphraseFile?: string
  passphraseCredential?: string
  expectPeer?: string
  knownPeers?: string
}

/** Hardened when --identity, --cert and --trust are all given; plain when none is. */
async function transportFrom(
  opts: CredentialOptions,
  io: CliIO,
  side: 'server' | 'client',
  server?: { auth: ServerAuth; name: string }
): Promise<ShareTransport> {
  const given = [opts.identity, opts.cert, opts.trust].filter((v) => v !== undefined).length
  if (given === 0) {
    if (side === 'client')
      io.err('peerguard: warning: plain mode: no authentication and no encryption (pass --identity, --cert and --trust)')
    return plainTransport()
  }
  if (given !== 3) {
    throw new PeerguardError('usage', 'hardened mode needs all of --identity, --cert and --trust', {
      details: { hint: 'give all three, or none of them for the plain (unprotected) mode' }
    })
  }
  const identity = await openKey(opts.identity as string, opts, io)
  const chain = await readCertificates(opts.cert as string)
  const { trust } = await loadTrust({ ...opts, trust: opts.trust as string }, io, { chain })
  const auth = server?.auth
  return channelTransport({
    identity,
    chain,
    trust,
    ...(auth?.expectedPeerIds === undefined ? {} : { expectedPeerId: auth.expectedPeerIds }),
    ...(auth?.knownPeers === undefined ? {} : { knownPeers: { store: auth.knownPeers, name: server?.name } })
  })
}

function credentialOptions(cmd: Command): Command {
  return serverAuthOptions(
    crlOptions(
      cmd
        .option('--identity <key>', 'your identity key file (hardened mode)')
        .option('--cert <cert>', 'your certificate chain, PEM (hardened mode)')
        .option('--trust <root>', 'the LAN CA root certificate (file or directory) to verify the server')
    )
  )
    .option('--passphrase-file <file>', 'passphrase of the identity key (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity key from systemd credential NAME')
}

/**
 * Connect, say who answered (stderr), run `fn`. Returns its value and, in hardened mode, the
 * server for `--json` output.
 */
async function withClient<T>(
  address: string,
  opts: CredentialOptions,
  io: CliIO,
  fn: (c: ShareClient) => Promise<T>
): Promise<{ value: T; server?: ReturnType<typeof serverJson> }> {
  const target = parseShareAddress(address) // a bad address is a usage error before any warning
  const hardened = opts.identity !== undefined || opts.cert !== undefined || opts.trust !== undefined
  const auth = hardened ? await loadServerAuth(opts) : undefined
  const name = serverEntryName('share', target.host, target.port)
  const transport = await transportFrom(opts, io, 'client', auth === undefined ? undefined : { auth, name })
  const how = auth === undefined ? undefined : acceptanceOf(auth)
  let client: ShareClient
  try {
    client = await connectShare(target, { transport })
  } catch (err) {
    throw auth === undefined ? err : explainServerRefusal(err, auth, address)
  }
  let server: ReturnType<typeof serverJson> | undefined
  if (auth !== undefined && how !== undefined && client.remotePeer !== undefined) {
    reportServer(io, auth, client.remotePeer, address, how(name))
    server = serverJson(client.remotePeer, address, how(name))
  }
  try {
    const value = await fn(client)
    return server === undefined ? { value } : { value, server }
  } finally {
    client.close()
  }
}

function progressBar(io: CliIO, json: boolean, label: string): { update(p: Progress): void; stop(): void } {
  if (!io.isTTY || json) return { update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {value}/{total} bytes {speed}`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic
  )
  const started = Date.now()
  let begun = false
  return {
    update(p) {
      if (!begun) {
        bar.start(p.total, 0, { speed: '' })
        begun = true
      }
      const secs = (Date.now() - started) / 1000
      bar.update(p.transferred, { speed: secs > 0 ? `${(p.transferred / secs / 1e6).toFixed(1)} MB/s` : '' })
    },
    stop() {
      if (begun) bar.stop()
    }
  }
}

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

  credentialOptions(
    share
      .command('ls')
      .description('list a folder of a share')
      .argument('<addr>', 'HOST:PORT')
      .argument('[path]', 'folder in the share', '')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share ls 127.0.0.1:4455 public --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareLs(io, addr, path, opts, cmd))

  credentialOptions(
    share
      .command('get')
      .description('download a file (resumable)')
      .argument('<addr>', 'HOST:PORT')
      .argument('<path>', 'file in the share')
      .argument('[local]', 'local file (default: the remote name in the current folder)')
      .option('--resume', 'continue an interrupted download (<local>.pgpart)')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share get 127.0.0.1:4455 public/notice.txt notice.txt --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, local, opts, cmd) => shareGet(io, addr, path, local, opts, cmd))

  credentialOptions(
    share
      .command('put')
      .description('upload a file (atomic: the server keeps the old content unless the whole upload verifies)')
      .argument('<addr>', 'HOST:PORT')
      .argument('<local>', 'local file')
      .argument('[path]', 'destination in the share (default: the local name)')
      .addOption(
        new Option('--mode <mode>', 'create (fail if it exists), overwrite or append')
          .choices(['create', 'overwrite', 'append'])
          .default('overwrite')
      )
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share put 127.0.0.1:4455 plan.txt docs/plan.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, local, path, opts, cmd) => sharePut(io, addr, local, path, opts, cmd))

  credentialOptions(
    share
      .command('rm')
      .description('delete a file or an empty folder')
      .argument('<addr>', 'HOST:PORT')
      .argument('<path>', 'path in the share')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share rm 127.0.0.1:4455 docs/old.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareRm(io, addr, path, opts, cmd))

  credentialOptions(
    share
      .command('mv')
      .description('rename or move inside the share')
      .argument('<addr>', 'HOST:PORT')
      .argument('<from>', 'path in the share')
      .argument('<to>', 'new path in the share')
      .option('--overwrite', 'replace an existing destination')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share mv 127.0.0.1:4455 docs/draft.txt docs/final.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, from, to, opts, cmd) => shareMv(io, addr, from, to, opts, cmd))

  credentialOptions(
    share
      .command('mkdir')
      .description('create a folder')
      .argument('<addr>', 'HOST:PORT')
      .argument('<path>', 'path in the share')
      .option('-p, --parents', 'create missing parents')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share mkdir 127.0.0.1:4455 docs/2026 --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareMkdir(io, addr, path, opts, cmd))
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
  maxOps: number
): Promise<{ server: ReturnType<typeof createShareServer>; log?: DecisionLog; live?: LiveConfig }> {
  const identity = opts.identity === undefined ? undefined : await openKey(opts.identity, opts, io)
  let log: DecisionLog | undefined
  let live: LiveConfig | undefined
  try {
    if (opts.log !== undefined) log = await openNodeLog(opts.log, identity as KeyPair, opts, io)
    // Hardened: certificate, trust, CRLs and policy stay current while serving (serve-live.ts).
    if (opts.plain !== true) {
      live = await liveConfigFor(opts as LiveFlags, identity as KeyPair, io, log)
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
async function shareServe(io: CliIO, dir: string, opts: ServeOptions, cmd: Command): Promise<void> {
  const { listen, maxOps } = checkServeFlags(opts)
  const { server, log, live } = await createServeServer(io, dir, opts, maxOps)
  const signals = trapSignals(io, live)
  try {
    const addr = await server.listen(listen)
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
    await log?.close()
  }
  if (!wantsJson(cmd)) io.out('share closed')
}

/** `share ls`: list a folder of a share. */
async function shareLs(io: CliIO, addr: string, path: string, opts: CredentialOptions, cmd: Command): Promise<void> {
  const {
    value: { entries, truncated },
    server
  } = await withClient(addr, opts, io, (c) => c.list(path))
  if (wantsJson(cmd)) return io.json({ path, entries, truncated, ...(server === undefined ? {} : { server }) })
  for (const e of entries)
    io.out(
      `${e.type === 'dir' ? 'd' : e.type === 'file' ? '-' : 'l'} ${String(e.size).padStart(12)}  ${new Date(e.mtimeMs).toISOString().slice(0, 19)}  ${e.name}${e.type === 'dir' ? '/' : ''}`
    )
  if (truncated) io.err('peerguard: warning: listing truncated at 10000 entries')
}

/** `share get`: download a file (resumable), with a progress bar on a terminal. */
async function shareGet(
  io: CliIO,
  addr: string,
  path: string,
  local: string | undefined,
  opts: CredentialOptions & { resume?: boolean },
  cmd: Command
): Promise<void> {
  const target = local ?? basename(path)
  const json = wantsJson(cmd)
  const bar = progressBar(io, json, basename(path))
  try {
    const { value: r, server } = await withClient(addr, opts, io, (c) =>
      c.download(path, target, { resume: opts.resume === true, onProgress: (p) => bar.update(p) })
    )
    bar.stop()
    if (json)
      io.json({
        path,
        local: target,
        size: r.size,
        ...(r.sha256 === undefined ? {} : { sha256: r.sha256 }),
        resumedFrom: r.resumedFrom,
        ...(server === undefined ? {} : { server })
      })
    else
      io.out(
        `${target}: ${r.size} bytes${r.sha256 === undefined ? ' (authenticated channel)' : `, sha256 ${r.sha256}`}${r.resumedFrom > 0 ? ` (resumed at ${r.resumedFrom})` : ''}`
      )
  } finally {
    bar.stop()
  }
}

/** `share put`: upload a file (atomic on the server). */
async function sharePut(
  io: CliIO,
  addr: string,
  local: string,
  path: string | undefined,
  opts: CredentialOptions & { mode: 'create' | 'overwrite' | 'append' },
  cmd: Command
): Promise<void> {
  const dest = path ?? basename(local)
  const json = wantsJson(cmd)
  const bar = progressBar(io, json, basename(local))
  try {
    const { value: r, server } = await withClient(addr, opts, io, (c) =>
      c.upload(local, dest, { mode: opts.mode, onProgress: (p) => bar.update(p) })
    )
    bar.stop()
    if (json) io.json({ path: dest, size: r.size, sha256: r.sha256, ...(server === undefined ? {} : { server }) })
    else io.out(`${dest}: ${r.size} bytes, sha256 ${r.sha256}`)
  } finally {
    bar.stop()
  }
}

/** `share rm`: delete a file or an empty folder. */
async function shareRm(io: CliIO, addr: string, path: string, opts: CredentialOptions, cmd: Command): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.delete(path))
  if (wantsJson(cmd)) io.json({ deleted: path, ...(server === undefined ? {} : { server }) })
  else io.out(`deleted ${path}`)
}

/** `share mv`: rename or move inside the share. */
async function shareMv(
  io: CliIO,
  addr: string,
  from: string,
  to: string,
  opts: CredentialOptions & { overwrite?: boolean },
  cmd: Command
): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.rename(from, to, { overwrite: opts.overwrite === true }))
  if (wantsJson(cmd)) io.json({ renamed: { from, to }, ...(server === undefined ? {} : { server }) })
  else io.out(`renamed ${from} -> ${to}`)
}

/** `share mkdir`: create a folder. */
async function shareMkdir(
  io: CliIO,
  addr: string,
  path: string,
  opts: CredentialOptions & { parents?: boolean },
  cmd: Command
): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.mkdir(path, { parents: opts.parents === true }))
  if (wantsJson(cmd)) io.json({ created: path, ...(server === undefined ? {} : { server }) })
  else io.out(`created ${path}`)
}
