import { basename } from 'node:path'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type { DecisionLog } from '@peerguard/decision-log'
import { peerIdFromPublicKey } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import { createManifest, createSwarmPeer, encodeManifest, type SwarmPeer } from '@peerguard/swarm'
import { liveSwarmPeer, readManifest, startSwarmSeed } from '../node/swarm-seed.js'
import type { CliIO } from '../io.js'
import { consoleLogFor, loggedIO } from '../console-log.js'
import { ServiceConsole } from '../service-console.js'
import { recordServiceStart } from '../service-records.js'
import {
  acceptanceOf,
  loadServerAuth,
  reportServer,
  type ServerAuth,
  type ServerAuthFlags,
  KNOWN_PEERS_HELP,
  serverJson
} from '../server-auth.js'
import { LOG_SHIP_HELP, openNodeLog } from './audit-log.js'
import { resolvePeer } from './peers.js'
import type { LiveConfig } from '../live-config.js'
import { openKey, type PassphraseFlags } from '../passphrase.js'
import { CRL_REFRESH_HELP, type LiveFlags, liveConfigFor, trapSignals } from '../serve-live.js'
import {
  checkTrust,
  collect,
  crlOptions,
  loadTrust,
  parseListen,
  readCertificates,
  recordTrustChoice,
  type TrustFlags,
  wantsJson
} from '../common.js'

interface Credentials extends Partial<TrustFlags>, PassphraseFlags {
  identity?: string
  cert?: string
  policy?: string
  log?: string
  logShip?: string
}

function need(opts: Credentials, what: string): void {
  if (opts.identity === undefined || opts.cert === undefined || opts.trust === undefined) {
    throw new PeerguardError('usage', `${what} needs --identity, --cert and --trust`, {
      details: { hint: 'enrol with the LAN CA first: peerguard cert request / ca issue' }
    })
  }
}

/** A swarm peer from the flags; with `live` (swarm seed) its certificate, trust and policy stay current. */
async function peerFrom(
  opts: Credentials & { maxUpload?: string; crlRefresh?: string },
  io: CliIO,
  options: { live?: boolean; serverAuth?: ServerAuth; svc?: ServiceConsole; service?: string } = {}
): Promise<{ peer: SwarmPeer; log: DecisionLog | undefined; live: LiveConfig | undefined }> {
  let maxUpload: number | undefined
  if (opts.maxUpload !== undefined) {
    if (!/^\d+$/.test(opts.maxUpload) || Number(opts.maxUpload) < 1024)
      throw new InvalidArgumentError(
        `--max-upload: expected bytes per second (at least 1024), got ${JSON.stringify(opts.maxUpload)}`
      )
    maxUpload = Number(opts.maxUpload)
  }
  const identity = await openKey(opts.identity as string, opts, io)
  if (options.live === true) {
    const log = opts.log === undefined ? undefined : await openNodeLog(opts.log, identity, opts, io)
    try {
      const live = await liveConfigFor(opts as LiveFlags, identity, io, options.svc?.reloads(log) ?? log)
      // Revocation: refuse to start without a current CRL per CA (or say the opt-out), list the CRLs.
      await recordTrustChoice(log, checkTrust(live.trust, io, { chain: live.chain, report: true }))
      const peer = liveSwarmPeer({
        identity,
        live,
        log: options.svc === undefined ? log : options.svc.decisions(options.service ?? 'swarm', log),
        ...(maxUpload === undefined ? {} : { maxUpload }),
        ...(options.svc === undefined ? {} : { logger: options.svc.libraryLogger(options.service ?? 'swarm') })
      })
      return { peer, log, live }
    } catch (err) {
      await log?.close()
      throw err
    }
  }
  const chain = await readCertificates(opts.cert as string)
  const { trust } = await loadTrust({ ...opts, trust: opts.trust as string }, io, { chain })
  const policy = opts.policy === undefined ? undefined : loadPolicy({ path: opts.policy })
  const log = opts.log === undefined ? undefined : await openNodeLog(opts.log, identity, opts, io)
  const peer = createSwarmPeer({
    identity,
    chain,
    trust,
    ...(policy === undefined ? {} : { policy }),
    ...(log === undefined ? {} : { log }),
    ...(maxUpload === undefined ? {} : { maxUploadBytesPerSecond: maxUpload }),
    ...(options.serverAuth?.expectedPeerIds === undefined ? {} : { expectedPeerIds: options.serverAuth.expectedPeerIds }),
    ...(options.serverAuth?.knownPeers === undefined ? {} : { knownPeers: { store: options.serverAuth.knownPeers } })
  })
  return { peer, log, live: undefined }
}

function credentialOptions(cmd: Command): Command {
  return crlOptions(
    cmd
      .option('--identity <key>', 'your identity key file')
      .option('--cert <cert>', 'your certificate chain from the LAN CA, PEM')
      .option('--trust <root>', 'the LAN CA root certificate (file or directory)')
  )
    .option('--policy <file>', 'access policy: who may fetch (get) and seed (put) swarm:<name>; default: every certified peer')
    .option('--log <file>', 'decision log (JSON Lines, checkpoints signed with --identity)')
    .option('--log-ship <target>', LOG_SHIP_HELP)
    .option('--passphrase-file <file>', 'passphrase of the identity key (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity key from systemd credential NAME')
    .option('--max-upload <bytes-per-second>', 'cap the upload bandwidth to other peers')
    .option('--json', 'machine-readable output (JSON on stdout)')
}

export function registerSwarmCommands(program: Command, io: CliIO): void {
  const plainIO = io // `swarm seed` sends its stderr lines through its console log
  const swarm = program
    .command('swarm')
    .description('torrent-like distribution among enrolled peers: signed manifests, encrypted channels, policy per swarm')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard swarm publish dataset.bin --identity alice.key --cert alice.pem --out dataset.pgswarm
  $ peerguard swarm seed dataset.pgswarm dataset.bin --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --listen 0.0.0.0:6881
  $ peerguard swarm fetch dataset.pgswarm --peer 192.168.1.10:6881 --out dataset.bin --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl`
    )

  swarm
    .command('publish')
    .description("hash FILE into a manifest signed with your identity (publishing is checked by each peer's policy)")
    .argument('<file>', 'the file to publish')
    .requiredOption('--out <manifest>', 'where to write the manifest')
    .option('--identity <key>', 'your identity key file')
    .option('--cert <cert>', 'your certificate chain from the LAN CA, PEM (goes into the manifest)')
    .option('--name <name>', 'swarm name (swarm:<name> in policies); default: the file name')
    .option('--piece-size <bytes>', 'piece size, a power of two (16384..16777216); default: 256 KiB or more')
    .option('--passphrase-file <file>', 'passphrase of the identity key (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity key from systemd credential NAME')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard swarm publish dataset.bin --identity alice.key --cert alice.pem --out dataset.pgswarm'
    )
    .action(async (file: string, opts: Credentials & { out: string; name?: string; pieceSize?: string }, cmd: Command) => {
      if (opts.identity === undefined || opts.cert === undefined)
        throw new PeerguardError('usage', 'swarm publish needs --identity and --cert')
      const identity = await openKey(opts.identity, opts, io)
      const chain = await readCertificates(opts.cert)
      let pieceSize: number | undefined
      if (opts.pieceSize !== undefined) {
        if (!/^\d+$/.test(opts.pieceSize))
          throw new InvalidArgumentError(`--piece-size: expected a whole number, got ${JSON.stringify(opts.pieceSize)}`)
        pieceSize = Number(opts.pieceSize)
      }
      const name =
        opts.name ??
        basename(file)
          .replace(/[^A-Za-z0-9._-]/g, '_')
          .replace(/^[._-]+/, '')
      const manifest = await createManifest(file, {
        name,
        identity,
        chain,
        publisher: peerIdFromPublicKey(identity.publicKey).toString(),
        ...(pieceSize === undefined ? {} : { pieceSize })
      })
      await writeFileAtomic(opts.out, encodeManifest(manifest), { mode: 0o644 })
      if (wantsJson(cmd))
        io.json({
          manifest: opts.out,
          name: manifest.name,
          swarmId: manifest.swarmId,
          size: manifest.size,
          pieces: manifest.pieces.length,
          pieceSize: manifest.pieceSize,
          sha256: manifest.sha256
        })
      else
        io.out(
          `${opts.out}: swarm "${manifest.name}" ${manifest.swarmId}, ${manifest.size} bytes in ${manifest.pieces.length} pieces`
        )
    })

  credentialOptions(
    swarm
      .command('seed')
      .description('serve FILE as the swarm of MANIFEST until interrupted (Ctrl-C)')
      .argument('<manifest>', 'the manifest file')
      .argument('<file>', 'the complete file')
      .option('--listen <host:port>', 'address to listen on', '127.0.0.1:6881')
      .option('--crl-refresh <seconds>', CRL_REFRESH_HELP)
  )
    .addHelpText(
      'after',
      '\nRuns until SIGINT or SIGTERM. Certificate, trust roots, CRLs and policy are watched and re-read on change or\nSIGHUP (a bad new file keeps the one in force); connections of peers no longer trusted or allowed are closed.\n\nExample:\n  $ peerguard swarm seed dataset.pgswarm dataset.bin --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --policy swarm.yaml --listen 0.0.0.0:6881'
    )
    .action(
      async (manifestPath: string, file: string, opts: Credentials & { listen: string; crlRefresh?: string }, cmd: Command) => {
        need(opts, 'swarm seed')
        const listen = parseListen(opts.listen)
        // the console log (service-console.ts): refusals, reloads, start/stop; stderr lines go through it
        const svc = new ServiceConsole(consoleLogFor(plainIO, cmd.optsWithGlobals()))
        const io = loggedIO(plainIO, svc.log)
        const manifest = await readManifest(manifestPath)
        const { peer, log, live } = await peerFrom(opts, io, { live: true, svc, service: `swarm:${manifest.name}` })
        const signals = trapSignals(io, live)
        let recordStop: (() => Promise<void>) | undefined
        try {
          const addr = await startSwarmSeed(peer, manifest, file, listen)
          svc.started(`swarm:${manifest.name}`, `seeding ${manifest.swarmId} on ${addr.address}:${addr.port}`)
          recordStop = await recordServiceStart(log, 'swarm seed', `swarm:${manifest.name}`, live)
          if (wantsJson(cmd)) io.json({ seeding: manifest.swarmId, name: manifest.name, listening: addr })
          else io.out(`seeding "${manifest.name}" (${manifest.swarmId}) on ${addr.address}:${addr.port}`)
          live?.onChange((change) => peer.recheck({ trust: change.trust }))
          await live?.start()
          await signals.stopped
        } finally {
          signals.dispose()
          live?.close()
          await peer.close()
          await recordStop?.()
          await log?.close()
          svc.stopped('seed closed', `swarm:${manifest.name}`)
        }
      }
    )

  credentialOptions(
    swarm
      .command('fetch')
      .description('download the file of MANIFEST from several peers at once, verifying every piece (resumable)')
      .argument('<manifest>', 'the manifest file')
      .option('--out <file>', 'where the verified file goes (<file>.pgswarm-part while in progress); default: the swarm name')
      .option(
        '--peer <host:port...>',
        "peers to fetch from (repeat or list): HOST:PORT, or a workspace member's name or peer ID (the local node resolves it; pinned)"
      )
      .option('--listen <host:port>', 'also serve verified pieces to other peers on this address')
  )
    .option('--expect-peer <peerId>', 'accept only peers with this peer ID (repeatable; overrides --known-peers)', collect)
    .option('--known-peers <file>', KNOWN_PEERS_HELP)
    .addHelpText(
      'after',
      '\nEach peer is held to --expect-peer, or else to its entry in the known-peers file (recorded on first use).\n\nExample:\n  $ peerguard swarm fetch dataset.pgswarm --peer 192.168.1.10:6881 --peer 192.168.1.11:6881 --out dataset.bin --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl'
    )
    .action(
      async (
        manifestPath: string,
        opts: Credentials & ServerAuthFlags & { out?: string; peer?: string[]; listen?: string },
        cmd: Command
      ) => {
        need(opts, 'swarm fetch')
        if (opts.peer === undefined || opts.peer.length === 0)
          throw new PeerguardError('usage', 'swarm fetch needs at least one --peer HOST:PORT')
        const listen = opts.listen === undefined ? undefined : parseListen(opts.listen)
        const manifest = await readManifest(manifestPath)
        const json = wantsJson(cmd)
        // a workspace member's name or peer ID (peers.ts) becomes the address of its seed of this swarm, its peer ID pinned
        const targets: Array<{ address: string; peerId?: string }> = []
        for (const p of opts.peer)
          targets.push(await resolvePeer(p.includes(':') || p.includes('/') ? p : `${p}/${manifest.name}`, 'swarm'))
        const named = targets.flatMap((t) => (t.peerId === undefined ? [] : [t.peerId]))
        if (named.length > 0 && named.length < targets.length && opts.expectPeer === undefined)
          throw new PeerguardError(
            'usage',
            '--peer: give workspace members (name or peer ID) or HOST:PORT addresses, not both (a member is pinned; add --expect-peer to mix)'
          )
        const pinned = named.length > 0 && opts.expectPeer === undefined
        const serverAuth = await loadServerAuth(pinned ? { ...opts, expectPeer: named } : opts)
        const how = acceptanceOf(serverAuth)
        const servers: Array<ReturnType<typeof serverJson>> = []
        const { peer, log } = await peerFrom(opts, io, { serverAuth })
        let bar: cliProgress.SingleBar | undefined
        const started = Date.now()
        try {
          if (listen !== undefined) await peer.listen(listen.port, listen.host)
          const result = await peer.fetch(manifest, {
            peers: targets.map((t) => t.address),
            out: opts.out ?? manifest.name,
            onConnect: (p) => {
              const address = p.address ?? '?'
              if (servers.some((s) => s.address === address && s.peerId === p.peerId)) return
              const accepted = how(`swarm@${address}`)
              reportServer(io, serverAuth, p, address, accepted)
              servers.push(serverJson(p, address, accepted))
            },
            onProgress: (p) => {
              if (!io.isTTY || json) return
              if (bar === undefined) {
                bar = new cliProgress.SingleBar(
                  { format: `${manifest.name} [{bar}] {percentage}% {value}/{total} pieces {speed}`, hideCursor: true },
                  cliProgress.Presets.shades_classic
                )
                bar.start(p.totalPieces, 0, { speed: '' })
              }
              const secs = (Date.now() - started) / 1000
              bar.update(p.pieces, { speed: secs > 0 ? `${(p.bytes / secs / 1e6).toFixed(1)} MB/s` : '' })
            }
          })
          bar?.stop()
          const dropped = result.dropped.map((d) => ({ ...d }))
          if (json)
            io.json({
              out: result.path,
              size: result.size,
              sha256: result.sha256,
              swarmId: result.swarmId,
              resumedPieces: result.resumedPieces,
              piecesFrom: result.piecesFrom,
              dropped,
              peers: servers
            })
          else {
            io.out(
              `${result.path}: ${result.size} bytes, sha256 ${result.sha256}${result.resumedPieces > 0 ? ` (${result.resumedPieces} pieces resumed)` : ''}`
            )
            for (const d of dropped) io.err(`peerguard: warning: dropped peer ${d.peerId ?? d.address}: ${d.code}: ${d.reason}`)
          }
        } finally {
          bar?.stop()
          await peer.close()
          await log?.close()
        }
      }
    )
}
