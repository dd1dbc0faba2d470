import type { Command } from 'commander'
import { loadIdentity } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, PeerguardError, type PeerInfo, type SecureChannel } from '@peerguard/interface'
import {
  createProxyClient,
  createProxyServer,
  formatHostPort,
  loadProxyConfig,
  parseHostPort,
  type ProxyClient,
  type ProxyFiles,
  type ProxyServer
} from '@peerguard/proxy'
import { type CliIO, terminalJson } from '../io.js'
import { allowPolicy } from '../allow-policy.js'
import {
  acceptanceOf,
  explainServerRefusal,
  KNOWN_PEERS_HELP,
  loadServerAuth,
  reportServer,
  serverEntryName,
  serverJson
} from '../server-auth.js'
import { LOG_SHIP_HELP, openNodeLog } from './audit-log.js'
import { resolvePeer } from './peers.js'
import type { LiveConfig } from '../live-config.js'
import { CRL_REFRESH_HELP, liveConfigFor, type TrappedSignals, trapSignals } from '../serve-live.js'
import { checkTrust, recordTrustChoice, wantsJson } from '../common.js'
import { withPassphrase } from '../passphrase.js'
import { ConsoleLog, consoleLogFor, loggedIO } from '../console-log.js'
import { RefusalGroups } from '../console-refusals.js'
import { ServiceConsole } from '../service-console.js'
import { recordServiceStart } from '../service-records.js'

function intOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
      throw new InvalidArgumentError(`${name}: expected a whole number ${min}..${max}, got ${JSON.stringify(value)}`)
    return Number(value)
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

interface CommonOptions {
  listen: string
  identity: string
  cert: string
  trust: string
  crl?: string[]
  allowMissingCrl?: boolean
  passphraseFile?: string
  passphraseCredential?: string
  tls?: boolean
  idleTimeout?: number
  connectTimeout?: number
}

async function filesOf(o: CommonOptions, io: CliIO, policy?: string): Promise<ProxyFiles> {
  // The proxy opens the key itself (and again on reload): find the passphrase first, prompting if needed.
  const passphrase = await withPassphrase(o.identity, o, io, async (p) => {
    await loadIdentity(o.identity, p === undefined ? {} : { passphrase: p })
    return p
  })
  return {
    identity: o.identity,
    cert: o.cert,
    trust: o.trust,
    ...(o.crl === undefined ? {} : { crls: o.crl }),
    requireCrl: o.allowMissingCrl !== true,
    ...(policy === undefined ? {} : { policy }),
    ...(passphrase === undefined ? {} : { passphrase })
  }
}

/** Run until SIGINT/SIGTERM; SIGHUP reloads. Resolves after a clean shutdown. */
function runUntilSignal(io: CliIO, end: { reload(): Promise<void>; close(): Promise<void> }): Promise<void> {
  return new Promise((resolve) => {
    const onHup = (): void => {
      end.reload().then(
        () => io.err('peerguard: reloaded certificate, trust store and policy'),
        (err: Error) => io.err(`peerguard: warning: ${err.message}`)
      )
    }
    const onStop = (): void => {
      process.off('SIGHUP', onHup)
      process.off('SIGINT', onStop)
      process.off('SIGTERM', onStop)
      end.close().then(resolve, resolve)
    }
    process.on('SIGHUP', onHup)
    process.on('SIGINT', onStop)
    process.on('SIGTERM', onStop)
  })
}

interface ClientOptions extends CommonOptions {
  connect: string
  peer?: string
  expectPeer?: string
  knownPeers?: string
  allowRemote?: boolean
}

/** `peerguard proxy server` and `peerguard proxy client`: put any TCP service behind peerguard. */
export function registerProxyCommands(program: Command, io: CliIO): void {
  const plainIO = io // `proxy server` sends its stderr lines through its console log
  const proxy = program
    .command('proxy')
    .description('put any TCP service behind peerguard: authenticated, encrypted, policy-checked tunnels')
    .addHelpText(
      'after',
      `
Example:
  $ peerguard proxy server --listen 0.0.0.0:7631 --target 127.0.0.1:631 --service printer --action print \\
      --identity nas.key --cert nas.pem --trust ca.pem --crl ca.crl --policy office.yaml --log decisions.log
  $ peerguard proxy client --listen 127.0.0.1:631 --connect nas.lan:7631 \\
      --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --peer <NAS-PEER-ID>`
    )

  proxy
    .command('server')
    .description('accept peerguard channels, check the policy for service:<name>, forward to a TCP target')
    .requiredOption('--listen <host:port>', 'address to accept peers on')
    .requiredOption('--target <host:port>', 'the TCP service to forward to')
    .requiredOption('--service <name>', 'service name; the policy resource is service:<name>')
    .requiredOption('--identity <file>', "this node's identity key file")
    .requiredOption('--cert <file>', "this node's certificate (PEM, leaf first)")
    .requiredOption('--trust <file|dir>', 'trusted root certificate(s): a PEM file or a directory')
    .option('--policy <file>', 'policy file deciding who may reach the service (or --allow-group/--allow-peer)')
    .option('--allow-group <group>', 'instead of --policy: admit peers in this group (certificate OU); repeatable', collect)
    .option('--allow-peer <peer-id>', 'instead of --policy: admit the peer with this ID; repeatable', collect)
    .option('--crl <file>', 'a CRL to honour (repeatable)', collect)
    .option(
      '--allow-missing-crl',
      'accept peers of a CA without a CRL (revocation NOT checked for them): an explicit opt-out, warned and logged'
    )
    .option('--log <file>', 'append every accept/refuse decision to this decision log')
    .option('--log-ship <target>', LOG_SHIP_HELP)
    .option('--action <verb>', 'policy action asked for each connection', 'get')
    .option('--tls', 'speak TLS 1.3 (for TLS-only clients such as openssl s_client) instead of the Noise channel')
    .option('--passphrase-file <file>', 'passphrase of an encrypted identity file (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity from systemd credential NAME')
    .option('--max-connections <n>', 'most connections at once', intOption('--max-connections', 1, 1_000_000))
    .option('--max-per-peer <n>', 'most connections per peer', intOption('--max-per-peer', 1, 1_000_000))
    .option('--idle-timeout <seconds>', 'close connections idle this long (0 = never)', intOption('--idle-timeout', 0, 86_400))
    .option('--connect-timeout <seconds>', 'deadline to reach the target', intOption('--connect-timeout', 1, 600))
    .option('--crl-refresh <seconds>', CRL_REFRESH_HELP)
    .option(
      '--proxy-protocol',
      "send a PROXY protocol v2 header to the target: the peer's address, peer ID, certificate name and groups"
    )
    .option('--json', 'machine-readable output (JSON lines on stdout)')
    .addHelpText(
      'after',
      `
Runs until SIGINT or SIGTERM. Certificate, trust store, CRLs and policy are watched and re-read on
change or SIGHUP (a bad file keeps the previous configuration); established connections of peers
no longer trusted or allowed by the new policy are closed, the others keep running.

--allow-group and --allow-peer stand for a one-rule policy: allow --action on service:<name> to
peers in any of the groups or with any of the peer IDs, deny everyone else. They cannot be
combined with --policy (write the rule into the policy file instead).

Example:
  $ peerguard proxy server --listen 0.0.0.0:7631 --target 127.0.0.1:631 --service printer --action print \\
      --identity nas.key --cert nas.pem --trust ca.pem --crl ca.crl --policy office.yaml --log decisions.log
  $ peerguard proxy server --tls --listen 0.0.0.0:7632 --target 127.0.0.1:8080 --service web \\
      --identity nas.key --cert nas.pem --trust ca.pem --crl ca.crl --allow-group family`
    )
    .action(
      async (
        o: CommonOptions & {
          target: string
          service: string
          policy?: string
          allowGroup?: string[]
          allowPeer?: string[]
          log?: string
          logShip?: string
          action: string
          maxConnections?: number
          maxPerPeer?: number
          crlRefresh?: string
          proxyProtocol?: boolean
        },
        cmd: Command
      ) => {
        const json = wantsJson(cmd)
        // the console log (service-console.ts): connections, refusals, reloads; stderr lines go through it
        const svc = new ServiceConsole(consoleLogFor(plainIO, cmd.optsWithGlobals()))
        const io = loggedIO(plainIO, svc.log)
        const listen = parseHostPort(o.listen, '--listen')
        const target = parseHostPort(o.target, '--target')
        const allowFlags = o.allowGroup !== undefined || o.allowPeer !== undefined
        if (allowFlags && o.policy !== undefined)
          throw new PeerguardError('usage', 'give --policy or --allow-group/--allow-peer, not both', {
            details: { hint: 'write the rule into the policy file instead' }
          })
        // The flags compile to an in-memory policy; checked before any file is read.
        const flagPolicy =
          o.policy === undefined
            ? allowPolicy({ groups: o.allowGroup ?? [], peers: o.allowPeer ?? [], service: o.service, action: o.action })
            : undefined
        const files = await filesOf(o, io, o.policy)
        const config = await loadProxyConfig(files)
        const log = o.log === undefined ? undefined : await openNodeLog(o.log, config.identity, o, io)
        let server: ProxyServer
        let live: LiveConfig
        let signals: TrappedSignals | undefined
        let recordStop: (() => Promise<void>) | undefined
        try {
          // Certificate, trust, CRLs and policy stay current while serving (serve-live.ts).
          live = await liveConfigFor(o, config.identity, io, svc.reloads(log))
          // Revocation: refuse to start without a current CRL per CA (or say the opt-out), list the CRLs.
          await recordTrustChoice(log, checkTrust(live.trust, io, { chain: live.chain, report: true }))
          server = createProxyServer({
            listen,
            target,
            service: o.service,
            action: o.action,
            config: {
              identity: config.identity,
              chain: live.chain,
              trust: live.trust,
              ...(flagPolicy !== undefined ? { policy: flagPolicy } : live.policy === undefined ? {} : { policy: live.policy })
            },
            connectionCheck: live.checkPeer,
            tls: o.tls === true,
            proxyProtocol: o.proxyProtocol === true,
            ...(log === undefined ? {} : { decisionLog: log }),
            ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections }),
            ...(o.maxPerPeer === undefined ? {} : { maxConnectionsPerPeer: o.maxPerPeer }),
            ...(o.idleTimeout === undefined ? {} : { idleTimeoutMs: o.idleTimeout * 1000 }),
            ...(o.connectTimeout === undefined ? {} : { connectTimeoutMs: o.connectTimeout * 1000 })
          })
          signals = trapSignals(io, live)
          svc.proxy(server, `proxy:${o.service}`)
          const bound = await server.listen()
          const address = formatHostPort({ host: bound.address, port: bound.port })
          svc.started(
            `proxy:${o.service}`,
            `listening on ${address}, forwarding to ${formatHostPort(target)} (${o.tls === true ? 'TLS 1.3' : 'Noise'})`
          )
          recordStop = await recordServiceStart(log, 'proxy server', `proxy:${o.service}`, live)
          if (json)
            io.out(
              terminalJson(
                {
                  event: 'listening',
                  address,
                  target: formatHostPort(target),
                  resource: server.resource,
                  mode: o.tls === true ? 'tls' : 'noise'
                },
                0
              )
            )
          else
            io.out(
              `listening on ${address}, forwarding service:${o.service} to ${formatHostPort(target)} (${o.tls === true ? 'TLS 1.3' : 'Noise'})`
            )
        } catch (err) {
          signals?.dispose()
          await log?.close()
          throw err
        }
        // --json: the events on stdout as before; the console log (stderr) has them for people
        // --json: refusals on stdout are grouped like the console's (the first per peer in full, then one
        // refused-summary per window), so a client retrying in a loop cannot flood stdout either
        const stdoutRefusals = json ? new RefusalGroups(new ConsoleLog({ write: (l) => io.out(l) })) : undefined
        if (stdoutRefusals !== undefined) {
          server.on('connection', (peer: PeerInfo) => {
            // The same keys as the refusal lines (and the console log): peerId, peer (the name), addr.
            io.out(terminalJson({ event: 'accepted', peerId: peer.peerId, peer: peer.name, addr: peer.address }, 0))
          })
          server.on('refused', (err: Error, peer: PeerInfo | undefined) => {
            const decision = isPeerguardError(err) ? err.details?.decision : undefined
            const code = typeof decision === 'string' ? decision : isPeerguardError(err) ? err.code : 'internal'
            stdoutRefusals.refused(peer?.peerId ?? 'unauthenticated', {
              code,
              ...(peer === undefined ? {} : { peerId: peer.peerId }),
              ...(peer?.name === undefined ? {} : { peer: peer.name }),
              ...(peer?.address === undefined ? {} : { addr: peer.address }),
              reason: err.message
            })
          })
          server.on('dropped', (peer: PeerInfo, refusal: { code: string; reason: string }) => {
            io.out(terminalJson({ event: 'dropped', code: refusal.code, peerId: peer.peerId, reason: refusal.reason }, 0))
          })
        }
        try {
          live.onChange((change) => server.recheck({ trust: change.trust }))
          await live.start()
          await signals.stopped
        } finally {
          signals.dispose()
          live.close()
          await server.close()
          await recordStop?.()
          await log?.close()
          stdoutRefusals?.close()
          svc.stopped('proxy closed', `proxy:${o.service}`)
        }
      }
    )

  proxy
    .command('client')
    .description('listen for plain local TCP and carry each connection to a peerguard proxy server')
    .requiredOption('--listen <host:port>', 'local address for applications (loopback unless --allow-remote)')
    .requiredOption(
      '--connect <host:port>',
      "the peerguard proxy server: HOST:PORT, or a workspace member's PEER[/SERVICE] (name or peer ID; the local node resolves it; pinned)"
    )
    .requiredOption('--identity <file>', "this peer's identity key file")
    .requiredOption('--cert <file>', "this peer's certificate (PEM, leaf first)")
    .requiredOption('--trust <file|dir>', 'trusted root certificate(s): a PEM file or a directory')
    .option('--peer <peer-id>', 'refuse the server unless it has this peer ID (pinning; same as --expect-peer)')
    .option('--expect-peer <peer-id>', 'refuse the server unless it has this peer ID (overrides --known-peers)')
    .option('--known-peers <file>', KNOWN_PEERS_HELP)
    .option('--crl <file>', 'a CRL to honour (repeatable)', collect)
    .option(
      '--allow-missing-crl',
      'accept peers of a CA without a CRL (revocation NOT checked for them): an explicit opt-out, warned and logged'
    )
    .option('--tls', 'speak TLS 1.3 to the server instead of the Noise channel')
    .option('--allow-remote', 'allow a non-loopback --listen address (anyone reaching it uses this identity)')
    .option('--passphrase-file <file>', 'passphrase of an encrypted identity file (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity from systemd credential NAME')
    .option('--idle-timeout <seconds>', 'close connections idle this long (0 = never)', intOption('--idle-timeout', 0, 86_400))
    .option('--connect-timeout <seconds>', 'deadline to reach the server', intOption('--connect-timeout', 1, 600))
    .option('--json', 'machine-readable output (JSON lines on stdout)')
    .addHelpText(
      'after',
      `
Runs until SIGINT or SIGTERM; SIGHUP re-reads certificate and trust store. The server is held
to --peer/--expect-peer, or else to its entry in the known-peers file (recorded on first use).

Example:
  $ peerguard proxy client --listen 127.0.0.1:631 --connect nas.lan:7631 \\
      --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl --peer <NAS-PEER-ID>`
    )
    .action(async (o: ClientOptions, cmd: Command) => {
      const json = wantsJson(cmd)
      const listen = parseHostPort(o.listen, '--listen')
      // a workspace member's name or peer ID (peers.ts) becomes the address of its proxy, its peer ID pinned
      const resolved = await resolvePeer(o.connect, 'proxy')
      const remote = parseHostPort(resolved.address, '--connect')
      if (o.peer !== undefined && o.expectPeer !== undefined && o.peer !== o.expectPeer)
        throw new InvalidArgumentError('--peer and --expect-peer name different peers; give one')
      const serverAuth = await loadServerAuth({
        expectPeer: o.expectPeer ?? o.peer ?? resolved.peerId,
        pinFlag: o.expectPeer === undefined ? '--peer' : '--expect-peer',
        knownPeers: o.knownPeers
      })
      const serverName = serverEntryName('proxy', remote.host, remote.port)
      const how = acceptanceOf(serverAuth)
      const files = await filesOf(o, io)
      const config = await loadProxyConfig(files)
      const client: ProxyClient = createProxyClient({
        listen,
        connect: remote,
        config,
        loadConfig: () => loadProxyConfig(files),
        tls: o.tls === true,
        allowRemoteClients: o.allowRemote === true,
        ...(serverAuth.expectedPeerIds === undefined ? {} : { expectedPeerId: serverAuth.expectedPeerIds[0] }),
        ...(serverAuth.knownPeers === undefined ? {} : { knownPeers: { store: serverAuth.knownPeers, name: serverName } }),
        ...(o.idleTimeout === undefined ? {} : { idleTimeoutMs: o.idleTimeout * 1000 }),
        ...(o.connectTimeout === undefined ? {} : { connectTimeoutMs: o.connectTimeout * 1000 })
      })
      // Revocation: refuse to start without a current CRL per CA (or say the opt-out), list the CRLs.
      checkTrust(config.trust, io, { chain: [...config.chain], report: true })
      const bound = await client.listen()
      const address = formatHostPort({ host: bound.address, port: bound.port })
      if (json)
        io.out(
          terminalJson({ event: 'listening', address, server: formatHostPort(remote), mode: o.tls === true ? 'tls' : 'noise' }, 0)
        )
      else
        io.out(
          `listening on ${address}, carrying connections to ${formatHostPort(remote)} (${o.tls === true ? 'TLS 1.3' : 'Noise'})`
        )
      const answered = new Set<string>()
      client.on('connection', (channel: SecureChannel) => {
        const p = channel.remotePeer
        if (answered.has(p.peerId)) return
        answered.add(p.peerId)
        const accepted = answered.size === 1 ? how(serverName) : 'known'
        if (json) io.out(terminalJson({ event: 'server', ...serverJson(p, formatHostPort(remote), accepted) }, 0))
        else reportServer(io, serverAuth, p, formatHostPort(remote), accepted)
      })
      client.on('refused', (refusal: Error) => {
        const err = explainServerRefusal(refusal, serverAuth, formatHostPort(remote)) as Error
        const code = isPeerguardError(err) ? err.code : 'internal'
        const decision = isPeerguardError(err) ? err.details?.decision : undefined
        const hint = isPeerguardError(err) ? err.details?.hint : undefined
        if (json)
          io.out(
            terminalJson({ event: 'refused', code, ...(decision === undefined ? {} : { decision }), reason: err.message }, 0)
          )
        else {
          io.err(`peerguard: warning: connection refused (${code}): ${err.message}`)
          if (typeof hint === 'string') io.err(`peerguard: hint: ${hint}`)
        }
      })
      await runUntilSignal(io, { reload: () => client.reload(), close: () => client.close() })
    })
}
