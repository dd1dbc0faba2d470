/**
 * The service host of `peerguard node`: every share, proxy and swarm seed of one config under one
 * identity, one trust store (+ CRLs), one policy and one decision log, kept current by one
 * LiveConfig. The config file itself is watched too: an edit that only touches live keys applies,
 * anything else is refused (node-reload-refused) and the configuration in force stays.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DecisionLog } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { createProxyServer, type ProxyServer } from '@peerguard/proxy'
import { channelTransport, createShareServer, policyAuthorizer, type ShareServer } from '@peerguard/share'
import type { SwarmManifest, SwarmPeer } from '@peerguard/swarm'
import { BUNDLE_FILE } from '@peerguard/workspace'
import { openNodeLog } from '../commands/audit-log.js'
import { checkTrust, recordTrustChoice } from '../common.js'
import { openKey } from '../passphrase.js'
import { type FileWatch, watchFiles } from '../file-watch.js'
import type { CliIO } from '../io.js'
import type { LogLevel } from '../console-log.js'
import type { ServiceConsole } from '../service-console.js'
import type { LiveConfig } from '../live-config.js'
import { liveConfigFor } from '../serve-live.js'
import { loadNodeConfig, type NodeConfig, restartKeys } from './config.js'
import { type NodeStatus, peerStatus, trustStatus } from './status.js'
import { liveSwarmPeer, readManifest, startSwarmSeed } from './swarm-seed.js'
import { type NodeWorkspace, servicesOf, startNodeWorkspace } from './workspace-node.js'
import { type EnrollmentHost, startEnrollmentHost } from './enrollment-node.js'

interface HostedShare {
  readonly kind: 'share'
  readonly spec: NodeConfig['shares'][number]
  readonly server: ShareServer
}

interface HostedProxy {
  readonly kind: 'proxy'
  readonly spec: NodeConfig['proxies'][number]
  readonly server: ProxyServer
}

interface HostedSwarm {
  readonly kind: 'swarm'
  readonly spec: NodeConfig['swarms'][number]
  readonly server: SwarmPeer
  readonly manifest: SwarmManifest
}

type Hosted = HostedShare | HostedProxy | HostedSwarm

const serviceName = (s: Hosted): string =>
  s.kind === 'share' ? `share:${s.spec.name}` : s.kind === 'proxy' ? `proxy:${s.spec.service}` : `swarm:${s.manifest.name}`

/** What a reload did: the policy hash before and after, and what was refused. */
export interface NodeReloadResult {
  readonly policySha256Before?: string
  readonly policySha256: string | undefined
  readonly refused?: { code: string; reason: string }
}

function messageOf(err: unknown): { code: string; reason: string } {
  return { code: isPeerguardError(err) ? err.code : 'internal', reason: err instanceof Error ? err.message : String(err) }
}

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** A running node. Create with `startNode`; `stop()` drains and closes. */
export class NodeHost {
  readonly startedAt = Date.now()
  /** The node's workspace member, when the config has a `workspace:` section. */
  workspace: NodeWorkspace | undefined
  /** The enrollment service, when the config has an `enrollment:` section (this is the CA node). */
  enrollment: EnrollmentHost | undefined
  #config: NodeConfig
  readonly #io: CliIO
  readonly #live: LiveConfig
  readonly #log: DecisionLog | undefined
  readonly #services: Hosted[]
  #watch: FileWatch | undefined

  /** @internal use startNode. */
  constructor(config: NodeConfig, io: CliIO, live: LiveConfig, log: DecisionLog | undefined, services: Hosted[]) {
    this.#config = config
    this.#io = io
    this.#live = live
    this.#log = log
    this.#services = services
  }

  /** Told when a reload changed `log-level` (undefined: the key was removed). */
  onLogLevel: ((level: LogLevel | undefined) => void) | undefined

  get config(): NodeConfig {
    return this.#config
  }

  /** Watch the config file and the files it names; resolves once watching. */
  async watch(): Promise<void> {
    this.#live.onChange(async (change) => {
      for (const s of this.#services) await s.server.recheck({ trust: change.trust })
    })
    await this.#live.start()
    this.#watch = watchFiles({ paths: [this.#config.file], onChange: () => void this.reload('file change') })
    await this.#watch.ready
  }

  /**
   * Re-read the config file (refusing edits that need a restart) and every file it names.
   * Never fails open: a bad file keeps the one in force.
   */
  async reload(trigger = 'request'): Promise<NodeReloadResult> {
    const before = this.#live.policySha256
    let refused: { code: string; reason: string } | undefined
    try {
      const next = await loadNodeConfig(this.#config.file)
      const changed = restartKeys(this.#config, next)
      if (changed.length > 0) {
        refused = {
          code: 'node-reload-refused',
          reason: `${this.#config.file}: ${changed.map(kebab).join(', ')} changed: restart the node to apply (only drain-seconds, log-level and the contents of the certificate, trust, CRL and policy files reload live)`
        }
      } else {
        const previous = this.#config
        this.#config = next
        if (next.logLevel !== previous.logLevel) this.onLogLevel?.(next.logLevel)
      }
    } catch (err) {
      refused = messageOf(err)
    }
    if (refused !== undefined) {
      this.#io.err(
        `peerguard: warning: reload: config rejected (${refused.code}): ${refused.reason}; keeping the configuration in force`
      )
      await this.#log
        ?.append({ kind: 'reload', event: 'rejected', what: 'config', code: refused.code, reason: refused.reason })
        .catch(() => {})
    }
    await this.#live.reload(trigger === 'file change' ? trigger : 'SIGHUP')
    const after = this.#live.policySha256
    return {
      ...(before === undefined ? {} : { policySha256Before: before }),
      policySha256: after,
      ...(refused === undefined ? {} : { refused })
    }
  }

  /** Everything `peerguard node status` shows. */
  status(): NodeStatus {
    return {
      pid: process.pid,
      config: this.#config.file,
      since: new Date(this.startedAt).toISOString(),
      policy: { file: this.#config.policy, sha256: this.#live.policySha256 },
      ...(this.#config.log === undefined ? {} : { log: this.#config.log }),
      crls: trustStatus(this.#live.trust),
      ...(this.workspace === undefined ? {} : { workspace: this.workspace.status() }),
      services: this.#services.map((s) => {
        if (s.kind === 'share') {
          const a = s.server.address
          return {
            kind: 'share',
            name: s.spec.name,
            root: s.spec.path,
            listening: a === undefined ? undefined : `${a.host}:${a.port}`,
            peers: s.server.connections().map((c) => peerStatus(c.peer, c.since, c, c.current))
          }
        }
        if (s.kind === 'swarm') {
          const a = s.server.address
          return {
            kind: 'swarm',
            name: s.manifest.name,
            root: s.spec.file,
            swarmId: s.manifest.swarmId,
            listening: a === undefined ? undefined : `${a.address}:${a.port}`,
            bytes: { in: 0, out: s.server.bytesServed },
            peers: s.server.sessions().map((c) => peerStatus(c.peer, c.since, c, c.operations))
          }
        }
        const a = s.server.server.address()
        const stats = s.server.stats
        return {
          kind: 'proxy',
          name: s.spec.service,
          target: `${s.spec.target.host}:${s.spec.target.port}`,
          mode: s.spec.tls ? 'tls' : 'noise',
          listening: a === null || typeof a === 'string' ? undefined : `${a.address}:${a.port}`,
          bytes: { in: stats.bytesIn, out: stats.bytesOut },
          peers: s.server.connections().map((c) => peerStatus(c.peer, c.since, c, [`connect ${s.server.resource}`]))
        }
      })
    }
  }

  /**
   * SIGTERM: stop accepting everywhere, let running operations finish for up to `drain-seconds`,
   * then close every service and the log. Resolves to whether everything finished in time.
   */
  async stop(): Promise<boolean> {
    this.#watch?.close()
    await this.workspace?.close()
    await this.enrollment?.close()
    this.#live.close()
    const ms = this.#config.drainSeconds * 1000
    const drained = await Promise.all(
      this.#services.map(async (s) => {
        if (s.kind === 'share') return s.server.drain(ms)
        // a fetching peer resumes elsewhere: a seed stops at once (its sessions' outcomes logged)
        if (s.kind === 'swarm') return s.server.close().then(() => true)
        let timer: NodeJS.Timeout | undefined
        const done = await Promise.race([
          s.server.close({ drain: true }).then(() => true),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(false), ms)
          })
        ])
        clearTimeout(timer)
        return done
      })
    )
    await Promise.all(this.#services.map((s) => s.server.close()))
    const clean = drained.every(Boolean)
    await this.#log
      ?.append({
        kind: 'node',
        event: 'stop',
        code: 'ok',
        reason: clean
          ? 'node stopped; every operation finished'
          : 'node stopped; operations still running at the drain deadline were cut off',
        ...(this.#live.policySha256 === undefined ? {} : { policySha256: this.#live.policySha256 })
      })
      .catch(() => {})
    await this.#log?.close()
    return clean
  }
}

/** Start every service of `config`; on any failure, what started is closed again. */
export async function startNode(config: NodeConfig, io: CliIO, svc?: ServiceConsole): Promise<NodeHost> {
  const identity: KeyPair = await openKey(config.identity, config, io)
  const log = config.log === undefined ? undefined : await openNodeLog(config.log, identity, config, io)
  const services: Hosted[] = []
  let live: LiveConfig | undefined
  try {
    live = await liveConfigFor(
      {
        cert: config.cert,
        trust: config.trust,
        crl: config.crl,
        allowMissingCrl: config.allowMissingCrl,
        policy: config.policy,
        crlRefresh: String(config.crlRefresh)
      },
      identity,
      io,
      svc === undefined ? log : svc.reloads(log)
    )
    await recordTrustChoice(log, checkTrust(live.trust, io, { chain: live.chain, report: true }))
    const policy = live.policy as NonNullable<LiveConfig['policy']>
    for (const spec of config.shares) {
      const server = createShareServer({
        root: spec.path,
        shareName: spec.name,
        transport: channelTransport({ identity, chain: live.chain, trust: live.trust }),
        authorize: policyAuthorizer(policy),
        connectionCheck: live.checkPeer,
        ...(log === undefined ? {} : { log }),
        maxConcurrentPerPeer: spec.maxOps
      })
      services.push({ kind: 'share', spec, server })
      svc?.share(server, `share:${spec.name}`)
      await server.listen(spec.listen)
    }
    for (const spec of config.proxies) {
      const server = createProxyServer({
        listen: `${spec.listen.host.includes(':') ? `[${spec.listen.host}]` : spec.listen.host}:${spec.listen.port}`,
        target: `${spec.target.host.includes(':') ? `[${spec.target.host}]` : spec.target.host}:${spec.target.port}`,
        service: spec.service,
        action: spec.action,
        config: { identity, chain: live.chain, trust: live.trust, policy },
        connectionCheck: live.checkPeer,
        tls: spec.tls,
        proxyProtocol: spec.proxyProtocol,
        ...(log === undefined ? {} : { decisionLog: log })
      })
      services.push({ kind: 'proxy', spec, server })
      svc?.proxy(server, `proxy:${spec.service}`)
      await server.listen()
    }
    for (const spec of config.swarms) {
      const manifest = await readManifest(spec.manifest)
      const server = liveSwarmPeer({
        identity,
        live,
        log: svc === undefined ? log : svc.decisions(`swarm:${manifest.name}`, log),
        ...(spec.maxUpload === undefined ? {} : { maxUpload: spec.maxUpload }),
        ...(svc === undefined ? {} : { logger: svc.libraryLogger(`swarm:${manifest.name}`) })
      })
      services.push({ kind: 'swarm', spec, server, manifest })
      await startSwarmSeed(server, manifest, spec.file, spec.listen)
    }
    // on the record once every service listens: the policy in force from here on
    await log?.append({
      kind: 'node',
      event: 'start',
      code: 'ok',
      reason: 'node started',
      ...(live.policySha256 === undefined ? {} : { policySha256: live.policySha256 }),
      services: services.map(serviceName)
    })
  } catch (err) {
    live?.close()
    await Promise.all(services.map((s) => s.server.close().catch(() => {})))
    await log?.close()
    throw err
  }
  const host = new NodeHost(config, io, live, log, services)
  if (config.workspace?.enable === true) {
    try {
      const c = { config: config.workspace, crl: config.crl, policy: config.policy, identity, live, io, decisionLog: log }
      host.workspace = await startNodeWorkspace({ ...c, services: servicesOf(host.status()) })
    } catch (err) {
      await host.stop().catch(() => {})
      throw err
    }
  }
  const enrollment = config.enrollment
  if (enrollment !== undefined) {
    try {
      const bundleFile = config.workspace === undefined ? undefined : join(config.workspace.bundleDir, BUNDLE_FILE)
      host.enrollment = await startEnrollmentHost({
        caDir: enrollment.ca,
        ...(enrollment.passphraseFile === undefined ? {} : { passphraseFile: enrollment.passphraseFile }),
        identity,
        chain: live.chain,
        listen: enrollment.listen,
        days: enrollment.days,
        policy: () => readFile(config.policy, 'utf8'),
        ...(bundleFile === undefined
          ? {}
          : {
              bundle: () =>
                readFile(bundleFile).then(
                  (b) => new Uint8Array(b),
                  () => undefined
                )
            }),
        ...(log === undefined ? {} : { log }),
        ...(svc === undefined ? {} : { refusals: svc.refusals }),
        io,
        json: false
      })
      io.err(`peerguard: enrollment service on ${host.enrollment.address} (CA ${enrollment.ca})`)
    } catch (err) {
      await host.stop().catch(() => {})
      throw err
    }
  }
  return host
}
