/**
 * A running workspace member: announces itself (multicast and/or unicast UDP), listens to the
 * others, keeps the peer table, serves its bundle over a peerguard channel and pulls newer ones.
 *
 * Events: `peer` (WorkspacePeer) when a peer's state changes, `bundle` (Bundle) when a bundle is
 * applied, `refused` ({ code, message, from }) for every announcement or bundle refused.
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import { type ChannelListener, createListener } from '@peerguard/channel'
import { equalBytes, isPeerguardError, type PeerInfo, PeerguardError } from '@peerguard/interface'
import type { TrustStore } from '@peerguard/pki'
import { type AnnouncedService, MAX_ADDRESSES, MAX_SERVICES, openAnnouncement, sealAnnouncement } from './announcement.js'
import { type Bundle, verifyBundle } from './bundle.js'
import { readBundleFile, readFloorFile, saveBundleFile, saveFloorFile } from './bundle-file.js'
import { AnnouncementError } from './errors.js'
import { FETCH_PROTOCOL, fetchBundle, serveFetch } from './fetch.js'
import { FetchRecorder } from './fetch-recorder.js'
import { resolveWorkspaceOptions, type ResolvedWorkspaceOptions, type UdpTarget, type WorkspaceOptions } from './options.js'
import { type PeerEntry, PeerTable, type WorkspacePeer } from './peer-table.js'
import { PullScheduler } from './pull-scheduler.js'
import { SourceLimiter } from './rate-limit.js'
import { emptyStats, type Refusal, type WorkspaceStats } from './stats.js'
import { openUdp } from './udp.js'
import { announceKeyOf, workspaceIdHex, workspaceIdOf } from './workspace-id.js'

/** Retry a bundle version whose application failed no sooner than this. */
const APPLY_RETRY_MS = 30_000

function codeOf(err: unknown): string {
  return isPeerguardError(err) ? err.code : 'internal'
}

export class Workspace extends EventEmitter {
  readonly workspaceId: string
  readonly stats: WorkspaceStats = emptyStats()
  readonly #o: WorkspaceOptions
  readonly #r: ResolvedWorkspaceOptions
  readonly #root: Uint8Array
  readonly #id: Uint8Array
  readonly #key: Uint8Array
  readonly #table: PeerTable
  readonly #limiter: SourceLimiter
  readonly #targets: UdpTarget[]
  #services: readonly AnnouncedService[]
  #udp: Socket | undefined
  #listener: ChannelListener | undefined
  #servicePort = 0
  #held: { version: number; bytes: Uint8Array } | undefined
  /** Newest version applied before (bundle.floor): nothing older is taken, even with no bundle held. */
  #floor = 0
  #seq = 0
  #timer: NodeJS.Timeout | undefined
  #soon: NodeJS.Timeout | undefined
  #closed = false
  #applying: Promise<void> = Promise.resolve()
  readonly #pulls: PullScheduler
  readonly #failedVersions = new Map<number, number>()
  readonly #recorder: FetchRecorder | undefined

  /** @internal use Workspace.start. */
  constructor(options: WorkspaceOptions, root: Uint8Array) {
    super()
    this.#o = options
    this.#r = resolveWorkspaceOptions(options)
    this.#root = root
    this.#id = workspaceIdOf(root)
    this.#key = announceKeyOf(root)
    this.workspaceId = workspaceIdHex(root)
    this.#table = new PeerTable(options.trust, root)
    this.#limiter = new SourceLimiter(this.#r.rateLimit.perSecond, this.#r.rateLimit.burst)
    this.#targets = [...(options.peers ?? [])]
    this.#services = [...(options.advertise?.services ?? [])]
    this.#pulls = new PullScheduler(this.#r.fetchJitterMs, () => this.#r.clock.now())
    this.#recorder =
      options.decisionLog === undefined
        ? undefined
        : new FetchRecorder(options.decisionLog, (err) => this.#refuse('log-unavailable', (err as Error).message, 'decision log'))
  }

  /** Load the stored bundle, open the service and UDP sockets, announce, and keep announcing. */
  static async start(options: WorkspaceOptions): Promise<Workspace> {
    resolveWorkspaceOptions(options)
    const roots = options.trust.roots.map((r) => r.der)
    const root = options.root ?? (roots.length === 1 ? Uint8Array.from(roots[0] as Uint8Array) : undefined)
    if (root === undefined)
      throw new PeerguardError('workspace-config-invalid', 'root: the trust store holds several roots; name the workspace root')
    if (!roots.some((r) => equalBytes(r, root)))
      throw new PeerguardError('workspace-config-invalid', 'root: not a root of the trust store (members could not be verified)')
    const ws = new Workspace(options, root)
    try {
      await ws.#loadStored()
      await ws.#openService()
      await ws.#openUdp()
    } catch (err) {
      await ws.close()
      throw err
    }
    ws.announce()
    ws.#schedule()
    return ws
  }

  /** The trust store this member enforces (the one it was given). */
  get trust(): TrustStore {
    return this.#o.trust
  }

  /** Where the bundle is stored, when it is. */
  get bundleDir(): string | undefined {
    return this.#o.bundleDir
  }

  /** The bundle version held (0: none). */
  get bundleVersion(): number {
    return this.#held?.version ?? 0
  }

  /** The bundle held, as bytes (to hand to another tool or test). */
  get bundleBytes(): Uint8Array | undefined {
    return this.#held?.bytes
  }

  /** UDP address this member listens on (give it to others as a unicast target). */
  get udpAddress(): UdpTarget {
    const a = this.#udp?.address() as AddressInfo
    return { host: a.address === '0.0.0.0' ? '127.0.0.1' : a.address, port: a.port }
  }

  /** TCP port of the workspace service. */
  get servicePort(): number {
    return this.#servicePort
  }

  /** Every peer heard of, members or not. */
  peers(): WorkspacePeer[] {
    return this.#table.all().map((e) => PeerTable.view(e))
  }

  /** Verified, not revoked, and heard from within the peer timeout. */
  members(): WorkspacePeer[] {
    const now = this.#r.clock.now()
    return this.peers().filter((p) => p.state === 'member' && now - p.lastSeen <= this.#r.peerTimeoutMs)
  }

  /** Add a unicast announcement target. */
  addTarget(target: UdpTarget): void {
    if (!this.#targets.some((t) => t.host === target.host && t.port === target.port)) this.#targets.push(target)
  }

  /** Change what this member offers; announced at once. */
  setServices(services: readonly AnnouncedService[]): void {
    this.#services = [...services]
    this.announceSoon()
  }

  /** Verify the peer table again after the trust store changed outside the workspace. */
  recheck(): void {
    for (const e of this.#table.recheck()) this.emit('peer', PeerTable.view(e))
  }

  /** Take a bundle made here (the admin's `workspace publish`): verify, apply, store, announce. */
  publish(bytes: Uint8Array): Promise<Bundle> {
    return this.#accept(bytes)
  }

  /** Send one announcement now to the group and every unicast target. */
  announce(): void {
    const udp = this.#udp
    if (udp === undefined || this.#closed) return
    const datagram = this.#datagram()
    const send = (host: string, port: number): void => {
      this.stats.announcementsSent++
      this.stats.announcementBytesSent += datagram.length
      udp.send(datagram, port, host, () => {})
    }
    if (this.#o.multicast !== undefined) send(this.#o.multicast.group, this.#o.multicast.port)
    for (const t of this.#targets) send(t.host, t.port)
  }

  /** This member's announcement; services that do not fit one datagram are left out (the first ones stay). */
  #datagram(): Uint8Array {
    const services = this.#services.slice(0, MAX_SERVICES)
    for (;;) {
      try {
        return sealAnnouncement(
          {
            timestampMs: this.#r.clock.now(),
            seq: this.#seq++ % 0x100000000,
            bundleVersion: this.bundleVersion,
            fetchPort: this.#servicePort,
            addresses: [...(this.#o.advertise?.addresses ?? [])].slice(0, MAX_ADDRESSES),
            services
          },
          { identity: this.#o.identity, workspaceId: this.#id, key: this.#key }
        )
      } catch (err) {
        if (services.length === 0) throw err
        services.pop()
      }
    }
  }

  /** Announce within a few ms (several changes at once make one datagram). */
  announceSoon(): void {
    if (this.#soon !== undefined || this.#closed) return
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      this.announce()
    }, 5)
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    clearTimeout(this.#soon)
    const udp = this.#udp
    this.#udp = undefined
    if (udp !== undefined) await new Promise<void>((resolve) => udp.close(() => resolve()))
    await this.#listener?.close()
    this.#listener?.server.close()
    await this.#applying.catch(() => {})
    await this.#recorder?.close()
  }

  #schedule(): void {
    const jitter = 0.75 + Math.random() * 0.5
    this.#timer = setTimeout(
      () => {
        this.announce()
        this.#schedule()
      },
      Math.round(this.#r.announceIntervalMs * jitter)
    )
    this.#timer.unref()
  }

  #refuse(code: string, message: string, from: string): void {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1
    this.emit('refused', { code, message, from } satisfies Refusal)
  }

  async #loadStored(): Promise<void> {
    const dir = this.#o.bundleDir
    if (dir === undefined) return
    // a damaged floor fails the start: without it a lost bundle could be rolled back
    this.#floor = await readFloorFile(dir)
    const bytes = await readBundleFile(dir)
    if (bytes === undefined) return
    try {
      await this.#accept(bytes, { store: false })
    } catch (err) {
      this.#refuse(codeOf(err), `stored bundle: ${(err as Error).message}`, dir)
    }
  }

  async #openService(): Promise<void> {
    const listener = createListener({
      identity: this.#o.identity,
      chain: this.#o.chain,
      trust: this.#o.trust,
      protocols: [FETCH_PROTOCOL]
    })
    const recorder = this.#recorder
    listener.on('channel', (channel) => {
      this.#notePeer(channel.remotePeer)
      // the trust store may hold other roots: only a peer under the workspace root gets the bundle
      const anchor = channel.remotePeer.chain?.at(-1)
      if (anchor === undefined || !equalBytes(anchor, this.#root)) {
        channel.destroy()
        const reason = `${channel.remotePeer.peerId}: not under the workspace root; bundle fetch refused`
        this.#refuse('workspace-peer-unverified', reason, channel.remotePeer.address ?? 'unknown')
        void recorder?.notMember(channel.remotePeer, reason)
        return
      }
      if (recorder === undefined) {
        serveFetch(channel, () => this.#held).catch(() => channel.destroy())
        return
      }
      // fail closed: a fetch whose acceptance cannot be written is not answered
      recorder.accepted(channel.remotePeer).then(
        (open) =>
          serveFetch(channel, () => this.#held).then(
            (served) => recorder.outcome(open, served),
            (err: Error) => {
              channel.destroy()
              return recorder.outcome(open, err)
            }
          ),
        (err: Error) => {
          channel.destroy()
          this.#refuse(codeOf(err), `bundle fetch not answered: ${err.message}`, channel.remotePeer.address ?? 'unknown')
        }
      )
    })
    listener.on('handshakeError', (err: PeerguardError, address: string) => {
      this.#refuse(err.code, err.message, address)
      recorder?.refused(address, err.code)
    })
    this.#listener = listener
    const a = await listener.listen(this.#o.service?.port ?? 0, this.#o.service?.host ?? '127.0.0.1')
    this.#servicePort = a.port
  }

  async #openUdp(): Promise<void> {
    this.#udp = await openUdp(
      this.#o,
      (msg, rinfo) => this.#onDatagram(msg, rinfo),
      (err) => this.#refuse('io-error', err.message, 'udp')
    )
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const now = this.#r.clock.now()
    const from = `${rinfo.address}:${rinfo.port}`
    if (!this.#limiter.take(rinfo.address, now)) {
      this.#refuse('workspace-announce-rate-limited', 'announcement: rate limit', from)
      return
    }
    let entry: PeerEntry
    try {
      const a = openAnnouncement(new Uint8Array(msg), { workspaceId: this.#id, key: this.#key })
      if (equalBytes(a.publicKey, this.#o.identity.publicKey)) return // our own, looped back
      const known = this.#table.get(a.publicKey)
      const before = known?.state
      const wasUp = known !== undefined && now - known.lastSeen <= this.#r.peerTimeoutMs
      entry = this.#table.noteAnnouncement(a, rinfo.address, now, this.#r.maxClockSkewMs)
      this.stats.announcementsAccepted++
      if (entry.state === 'revoked')
        throw new AnnouncementError('workspace-announce-revoked', `announcement: ${entry.peerId} is revoked`)
      // `peer` when the state changes or the peer comes (back) up: members() changed
      if (before !== entry.state || !wasUp) this.emit('peer', PeerTable.view(entry))
    } catch (err) {
      this.#refuse(codeOf(err), (err as Error).message, from)
      return
    }
    const wantsBundle = entry.bundleVersion > this.bundleVersion && !this.#versionBlocked(entry.bundleVersion, now)
    if (entry.fetchPort !== 0 && (entry.state === 'unverified' || (entry.state === 'member' && wantsBundle)))
      this.#pulls.schedule(entry.peerId, () => this.#pull(entry))
  }

  #versionBlocked(version: number, now: number): boolean {
    const at = this.#failedVersions.get(version)
    return at !== undefined && now - at < APPLY_RETRY_MS
  }

  /** Fetch from a peer: learns its certificate (the channel verifies it) and a newer bundle, if any. */
  async #pull(entry: PeerEntry): Promise<boolean> {
    if (this.#closed || entry.host === undefined) return true
    const from = `${entry.host}:${entry.fetchPort}`
    if (entry.state === 'member' && entry.bundleVersion <= this.bundleVersion) return true // already caught up
    try {
      this.stats.fetches++
      const got = await fetchBundle({
        host: entry.host,
        port: entry.fetchPort,
        haveVersion: this.bundleVersion,
        channel: {
          identity: this.#o.identity,
          chain: this.#o.chain,
          trust: this.#o.trust,
          expectedPeerId: entry.peerId
        }
      })
      this.#notePeer(got.peer)
      const met = this.#table.get(got.peer.publicKey)
      if (met !== undefined && met.state !== 'member')
        this.#refuse(met.code ?? 'workspace-peer-unverified', `${entry.peerId}: not a member`, from)
      if (got.bundle !== undefined) {
        this.stats.fetchBytes += got.bundle.length
        await this.#accept(got.bundle).catch((err) => this.#refuse(codeOf(err), (err as Error).message, from))
      }
      return true
    } catch (err) {
      if (codeOf((err as { cause?: unknown }).cause).startsWith('cert-')) {
        // the peer's certificate does not verify: it stays out of the members
        this.#refuse('workspace-peer-unverified', `${entry.peerId}: ${(err as Error).message}`, from)
      } else this.#refuse(codeOf(err), (err as Error).message, from)
      return false
    }
  }

  #notePeer(peer: PeerInfo): void {
    const e = this.#table.get(peer.publicKey)
    const before = e?.state
    const now = this.#table.noteChannelPeer(peer)
    if (now !== undefined && now.state !== before) this.emit('peer', PeerTable.view(now))
  }

  /** Verify, apply, store and announce a bundle, one at a time. */
  #accept(bytes: Uint8Array, o: { store?: boolean } = {}): Promise<Bundle> {
    const run = this.#applying.then(async () => {
      // the floor's own version is taken again (the lost bundle, re-fetched), nothing older
      const bundle = verifyBundle(bytes, { root: this.#root, heldVersion: Math.max(this.bundleVersion, this.#floor - 1) })
      const dir = o.store === false ? undefined : this.#o.bundleDir
      const floor = this.#floor
      // the floor first: a crash while applying must not let the older stored bundle be re-applied
      if (dir !== undefined && bundle.version > floor) {
        await saveFloorFile(dir, bundle.version)
        this.#floor = bundle.version
      }
      try {
        if (this.#o.apply !== undefined) await this.#o.apply(bundle)
        else for (const crl of bundle.crls) this.#o.trust.addCrl(crl, { source: `workspace bundle ${bundle.version}` })
      } catch (err) {
        this.#failedVersions.set(bundle.version, this.#r.clock.now())
        if (dir !== undefined && this.#floor !== floor) {
          await saveFloorFile(dir, floor) // not applied: the version held stays the floor
          this.#floor = floor
        }
        throw err
      }
      if (dir !== undefined) await saveBundleFile(dir, bytes)
      this.#held = { version: bundle.version, bytes: Uint8Array.from(bytes) }
      this.recheck()
      this.emit('bundle', bundle)
      this.announceSoon()
      return bundle
    })
    this.#applying = run.then(
      () => {},
      () => {}
    )
    return run
  }
}
