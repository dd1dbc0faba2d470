/**
 * The node's member of its workspace (`workspace:` in the node config): runs a
 * `@peerguard/workspace` Workspace with the node's identity, chain and live trust store,
 * announces the node's shares, proxies and swarms, and applies each new bundle through the
 * node's live reload — the bundle's CRLs replace the node's first `crl:` file and its policy the
 * `policy:` file (atomic writes), then the files reload exactly as on SIGHUP: validated first,
 * swapped in one step. If the node does not take them (a reload rejected them), the bundle is
 * refused, the version held stays, and the configuration in force stays.
 *
 * The admin's `peerguard workspace publish` drops a bundle into `<bundle-dir>/publish.pgwb`;
 * the node takes it from there (watched) like a bundle fetched from a peer.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { KeyPair } from '@peerguard/identity'
import { type DecisionSink, isPeerguardError, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { compareCrls, parseCrl, pemEncode, sameCrlIssuer } from '@peerguard/pki'
import { type AnnouncedService, type Bundle, Workspace, type WorkspacePeer } from '@peerguard/workspace'
import { type FileWatch, watchFiles } from '../file-watch.js'
import type { CliIO } from '../io.js'
import type { LiveConfig } from '../live-config.js'
import type { WorkspaceConfig } from './workspace-config.js'

/** Where `peerguard workspace publish` leaves a bundle for the admin's node. */
export const PUBLISH_FILE = 'publish.pgwb'

/** What `peerguard node status` and `peerguard peers` show of the workspace. */
export interface WorkspaceStatus {
  readonly workspaceId: string
  readonly bundleVersion: number
  readonly service: string
  readonly peers: ReadonlyArray<WorkspacePeer & { readonly up: boolean }>
}

export interface NodeWorkspaceOptions {
  readonly config: WorkspaceConfig
  /** The node config's CRL files and policy file: where a bundle is written. */
  readonly crl: readonly string[]
  readonly policy: string
  readonly identity: KeyPair
  readonly live: LiveConfig
  readonly io: CliIO
  readonly services: readonly AnnouncedService[]
  /** The node's decision log: the bundle service's fetches and refusals go on the record. */
  readonly decisionLog?: DecisionSink | undefined
}

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

/** Write a verified bundle into the node's files, reload, and check the node took it. */
async function applyToNode(o: NodeWorkspaceOptions, bundle: Bundle): Promise<void> {
  if (bundle.crls.length > 0) {
    const crlPath = o.crl[0]
    if (crlPath === undefined)
      throw new PeerguardError('workspace-bundle-content', "the node config names no `crl:` file to hold the bundle's CRLs")
    // never write a CRL older than the one in force for its CA: the stored bundle is applied again
    // at every start, and a newer CRL installed since (by hand, fetched) must outlive the restart
    const crls = bundle.crls.map((der) => {
      const want = parseCrl(der)
      return o.live.trust.crls.find((c) => sameCrlIssuer(c, want) && compareCrls(c, want) > 0)?.der ?? der
    })
    await writeFileAtomic(crlPath, crls.map((d) => pemEncode(d, 'X509 CRL')).join(''), { mode: 0o644 })
  }
  const policy = o.config.applyPolicy ? bundle.policy : undefined
  if (policy !== undefined) await writeFileAtomic(o.policy, policy, { mode: 0o644 })
  await o.live.reload('workspace bundle')
  for (const der of bundle.crls) {
    const want = parseCrl(der)
    const inForce = o.live.trust.crls.some(
      (c) => Buffer.from(c.issuer.raw).equals(Buffer.from(want.issuer.raw)) && c.thisUpdate >= want.thisUpdate
    )
    if (!inForce)
      throw new PeerguardError('workspace-bundle-content', `the node did not take the bundle's CRL from ${want.issuer.text}`)
  }
  if (policy !== undefined && o.live.policySha256 !== sha256Hex(policy))
    throw new PeerguardError('workspace-bundle-content', "the node kept its policy in force: the bundle's policy was rejected")
}

/** A running node workspace; `close()` stops announcing and serving. */
export class NodeWorkspace {
  readonly workspace: Workspace
  readonly #watch: FileWatch
  readonly #dir: string

  /** @internal use startNodeWorkspace. */
  constructor(workspace: Workspace, watch: FileWatch, dir: string) {
    this.workspace = workspace
    this.#watch = watch
    this.#dir = dir
  }

  status(): WorkspaceStatus {
    const up = new Set(this.workspace.members().map((m) => m.peerId))
    return {
      workspaceId: this.workspace.workspaceId,
      bundleVersion: this.workspace.bundleVersion,
      service: String(this.workspace.servicePort),
      peers: this.workspace.peers().map((p) => ({ ...p, up: up.has(p.peerId) }))
    }
  }

  /**
   * Take a bundle left by `peerguard workspace publish`, if there is one. The file is claimed
   * (renamed) before it is read: a bundle the admin publishes while this one is applied is a new
   * file, taken next — removing it by name afterwards deleted such a bundle unread.
   */
  async takePublished(io: CliIO): Promise<void> {
    const path = `${join(this.#dir, PUBLISH_FILE)}.${randomBytes(6).toString('hex')}.taking`
    try {
      await rename(join(this.#dir, PUBLISH_FILE), path)
    } catch {
      return
    }
    await this.#take(path, io)
  }

  /** At start: a bundle claimed by a node that stopped before it was applied is taken again. */
  async takeLeftovers(io: CliIO): Promise<void> {
    const names = await readdir(this.#dir).catch(() => [] as string[])
    for (const name of names.filter((n) => n.startsWith(`${PUBLISH_FILE}.`) && n.endsWith('.taking')).sort())
      await this.#take(join(this.#dir, name), io)
  }

  async #take(path: string, io: CliIO): Promise<void> {
    try {
      const b = await this.workspace.publish(new Uint8Array(await readFile(path)))
      io.err(`peerguard: workspace: published bundle version ${b.version}`)
    } catch (err) {
      const code = isPeerguardError(err) ? err.code : 'internal'
      io.err(`peerguard: warning: workspace: ${join(this.#dir, PUBLISH_FILE)} refused (${code}): ${(err as Error).message}`)
    }
    await rm(path, { force: true })
  }

  async close(): Promise<void> {
    this.#watch.close()
    await this.workspace.close()
  }
}

/** Join the workspace as the config says; resolves once announcing. */
export async function startNodeWorkspace(o: NodeWorkspaceOptions): Promise<NodeWorkspace> {
  const c = o.config
  await mkdir(c.bundleDir, { recursive: true, mode: 0o700 })
  const workspace = await Workspace.start({
    identity: o.identity,
    chain: o.live.chain,
    trust: o.live.trust,
    bundleDir: c.bundleDir,
    ...(c.multicast === undefined
      ? { udp: { host: '0.0.0.0', port: c.udpPort } }
      : {
          multicast: {
            group: c.multicast.host,
            port: c.multicast.port,
            ...(c.interface === undefined ? {} : { interface: c.interface })
          }
        }),
    peers: c.peers,
    service: c.listen,
    advertise: { services: o.services },
    announceIntervalMs: c.announceIntervalMs,
    apply: (bundle) => applyToNode(o, bundle),
    ...(o.decisionLog === undefined ? {} : { decisionLog: o.decisionLog })
  })
  workspace.on('bundle', (b: Bundle) => o.io.err(`peerguard: workspace: applied bundle version ${b.version}`))
  // bundle refusals each time; a revoked member (which keeps announcing) once per address
  const revokedSeen = new Set<string>()
  workspace.on('refused', (r: { code: string; message: string; from: string }) => {
    const revoked = r.code === 'workspace-announce-revoked'
    if (revoked && (revokedSeen.has(r.from) || revokedSeen.size > 1024)) return
    if (revoked) revokedSeen.add(r.from)
    if (revoked || r.code.startsWith('workspace-bundle'))
      o.io.err(`peerguard: warning: workspace: refused (${r.code}) from ${r.from}: ${r.message}`)
  })
  // trust or CRLs reloaded from files: members are checked again
  o.live.onChange((change) => {
    if (change.trust) workspace.recheck()
  })
  let node: NodeWorkspace | undefined
  const watch = watchFiles({ paths: [join(c.bundleDir, PUBLISH_FILE)], onChange: () => void node?.takePublished(o.io) })
  await watch.ready
  node = new NodeWorkspace(workspace, watch, c.bundleDir)
  await node.takeLeftovers(o.io)
  await node.takePublished(o.io)
  return node
}

/** What the node announces: each service that listens, by kind, name and port (names over 64 bytes are left out). */
export function servicesOf(status: {
  services: ReadonlyArray<{ kind: string; name: string; listening?: string | undefined }>
}): AnnouncedService[] {
  return status.services.flatMap((s) => {
    const port = Number(s.listening?.slice(s.listening.lastIndexOf(':') + 1) ?? 0)
    const kind = s.kind === 'share' || s.kind === 'proxy' || s.kind === 'swarm' ? s.kind : undefined
    const size = Buffer.byteLength(s.name)
    if (kind === undefined || size < 1 || size > 64 || !Number.isInteger(port) || port < 0 || port > 65535) return []
    return [{ kind, name: s.name, port }]
  })
}
