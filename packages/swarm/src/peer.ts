import { createHash } from 'node:crypto'
import { open, rename, stat, unlink } from 'node:fs/promises'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { RefusalSummarizer } from '@peerguard/decision-log'
import {
  type ChannelListener,
  type ChannelOptions,
  createListener,
  type KnownPeers,
  type NoiseChannel,
  secureOutbound
} from '@peerguard/channel'
import { type KeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import {
  assertInteger,
  assertString,
  type ConnectionCheck,
  type ConnectionRefusal,
  type DecisionSink,
  InvalidArgumentError,
  isPolicyDecider,
  type Logger,
  type PeerInfo,
  PeerguardError,
  type PolicyDecider,
  runConnectionCheck,
  silentLogger,
  logPeer
} from '@peerguard/interface'
import { checkCredentials, type TrustStore } from '@peerguard/pki'
import { appendDecision, decideSwarm, decisionRecord } from './access.js'
import { formatPeerAddress, parsePeerAddress } from './address.js'
import { Download, type FetchProgress, type FetchResult } from './download.js'
import { SwarmClosedError, SwarmDeniedError, SwarmFileMismatchError, SwarmPublisherDeniedError } from './errors.js'
import { createManifest, pieceLength, type SwarmManifest, verifyManifest } from './manifest.js'
import { RateLimiter } from './rate-limit.js'
import { ServeConnection } from './serve.js'
import { type ServingSession, sessionOutcome, sessionOf } from './session.js'
import { SwarmStore } from './store.js'
import { SWARM_PROTOCOL } from './wire.js'

export interface SwarmPeerOptions {
  /** This peer's Ed25519 identity. */
  identity: KeyPair
  /** This peer's certificate chain from the LAN CA, leaf first (DER). */
  chain: readonly Uint8Array[]
  /** Trust store (LAN CA root, CRLs): peers and manifest publishers must chain to it. */
  trust: TrustStore
  /** Where `fetch` puts a file when no `out` is given (as `<dir>/<swarm name>`). Default: the current directory. */
  dir?: string
  /**
   * Who may fetch (`get`) and seed or publish (`put`) each `swarm:<name>`. Default: none, and then
   * every peer certified by `trust` may do everything (the CA is the access list).
   */
  policy?: PolicyDecider
  /** Decision log (`@peerguard/decision-log` DecisionLog); every admission and refusal is appended. Default none. */
  log?: DecisionSink
  /** Most inbound (serving) connections at once. Default 64. */
  maxPeers?: number
  /** Cap on upload bandwidth for all serving connections, bytes per second. Default: none. */
  maxUploadBytesPerSecond?: number
  /** Blocks a fetch keeps in flight per peer. Default 8 (at most MAX_OUTSTANDING_REQUESTS). */
  requestsPerPeer?: number
  /** A fetch fails when no piece was verified for this long, milliseconds. Default 30000. */
  stallTimeoutMs?: number
  /** A fetch drops a peer that leaves its requests unanswered this long, milliseconds. Default 10000. */
  requestTimeoutMs?: number
  /** Channel handshake deadline, milliseconds. Default 10000. */
  handshakeTimeoutMs?: number
  /**
   * Fetch side: accept only peers with these IDs among those we connect to (pinning). Overrides
   * `knownPeers`. Default: none.
   */
  expectedPeerIds?: readonly string[]
  /**
   * Fetch side: hold each peer we connect to to its known-peers entry `swarm@<host>:<port>` (first
   * use recorded, a later change refused with `channel-known-peer-changed`). Default: none (any
   * peer the CA certified).
   */
  knownPeers?: { store: KnownPeers; trustOnFirstUse?: boolean }
  /**
   * Re-decides an authenticated peer after the node's trust changed (e.g. a new CRL): run when a
   * channel is accepted and over every serving connection by `recheck()`; a refusal closes it.
   * Default none.
   */
  connectionCheck?: ConnectionCheck
  logger?: Logger
}

export interface FetchOptions {
  /** Peers to fetch from (and announce to), `host:port` each. At least one. */
  peers: readonly string[]
  /** Where the verified file goes. A partial file `<out>.pgswarm-part` is resumed. Default: `<dir>/<swarm name>`. */
  out?: string
  /** Called after each verified piece. */
  onProgress?: (progress: FetchProgress) => void
  /** Called with each peer this fetch connected to, once its channel is up (who answered at which address). */
  onConnect?: (peer: PeerInfo) => void
}

export interface SeedOptions {
  /** Hash every piece before serving (refuses a file that does not match). Default true. */
  verify?: boolean
}

export interface PublishOptions {
  /** Swarm name; `swarm:<name>` in policies. */
  name: string
  /** Piece size, bytes. Default: 256 KiB, doubled until at most 16384 pieces. */
  pieceSize?: number
}

/** Suffix of the partial file of a fetch. */
export const PART_SUFFIX = '.pgswarm-part'
export const DEFAULT_MAX_PEERS = 64
export const DEFAULT_REQUESTS_PER_PEER = 8
export const DEFAULT_STALL_TIMEOUT_MS = 30_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/**
 * A member of peerguard swarms: publishes signed manifests, seeds files, fetches from several
 * peers at once while serving what it has verified. Create with `createSwarmPeer`.
 */
export class SwarmPeer {
  readonly peerId: string
  readonly #o: Required<Pick<SwarmPeerOptions, 'identity' | 'chain' | 'trust'>> & SwarmPeerOptions
  readonly #stores = new Map<string, SwarmStore>()
  readonly #serving = new Set<ServeConnection>()
  readonly #downloads = new Set<Download>()
  readonly #limiter: RateLimiter | undefined
  readonly #logger: Logger
  #listener: ChannelListener | undefined
  /** Counts recheck() calls; a handshake that overlapped one is checked again as it registers. */
  #recheckEpoch = 0
  /** The recheck epoch when each handshaking socket was accepted, by remote address. */
  readonly #handshaking = new Map<string, number>()
  /** Handshake failures (before authentication): counted per address and minute, not logged one by one. */
  #refusals: RefusalSummarizer | undefined
  #closed = false
  #bytesServed = 0
  /** Session outcome entries being written (close() waits for them). */
  readonly #outcomes = new Set<Promise<void>>()

  constructor(options: SwarmPeerOptions, peerId: string) {
    this.#o = options
    this.peerId = peerId
    this.#limiter = options.maxUploadBytesPerSecond === undefined ? undefined : new RateLimiter(options.maxUploadBytesPerSecond)
    this.#logger = options.logger ?? silentLogger
  }

  /** Bytes served to other peers so far. */
  get bytesServed(): number {
    return this.#bytesServed
  }

  /** The serving connections now: who, since when, bytes each way, what it is doing. */
  sessions(): ServingSession[] {
    return [...this.#serving].map(sessionOf)
  }

  /** Swarm IDs this peer serves (seeded, fetched or being fetched). */
  get swarms(): string[] {
    return [...this.#stores.keys()]
  }

  /** Hash `filePath` into a manifest signed by this peer (SWARM.md §2). Does not start seeding. */
  async publish(filePath: string, options: PublishOptions): Promise<SwarmManifest> {
    this.#open()
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected { name }')
    return createManifest(filePath, {
      name: options.name,
      identity: this.#o.identity,
      chain: this.#o.chain,
      publisher: this.peerId,
      ...(options.pieceSize === undefined ? {} : { pieceSize: options.pieceSize })
    })
  }

  /**
   * Verify a manifest for use: the publisher's chain and signature, and that the policy lets the
   * publisher publish (`put`) the swarm. Refusals are logged.
   */
  async checkManifest(manifest: SwarmManifest): Promise<void> {
    const publisher = await verifyManifest(manifest, { trust: this.#o.trust })
    const peer: PeerInfo = {
      peerId: publisher.peerId,
      publicKey: publisher.publicKey,
      name: publisher.name,
      groups: publisher.groups
    }
    const decision = decideSwarm(this.#o.policy, peer, 'put', manifest)
    await appendDecision(this.#o.log, { ...decisionRecord(peer, 'put', `swarm:${manifest.name}`, decision), verb: 'publish' })
    if (!decision.allowed) {
      throw new SwarmPublisherDeniedError(`${publisher.peerId} may not publish swarm:${manifest.name}: ${decision.reason}`, {
        details: { decision: decision.code, rule: decision.rule?.id }
      })
    }
  }

  /** Serve `filePath` as the swarm of `manifest` (after checking the manifest and, by default, every piece). */
  async seed(manifest: SwarmManifest, filePath: string, options: SeedOptions = {}): Promise<void> {
    this.#open()
    assertString('filePath', filePath, { nonEmpty: true })
    await this.checkManifest(manifest)
    const fh = await open(filePath, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new SwarmFileMismatchError(`${filePath}: cannot open (${err.code ?? err.message})`, { cause: err })
    })
    try {
      const st = await fh.stat()
      if (!st.isFile() || st.size !== manifest.size)
        throw new SwarmFileMismatchError(`${filePath}: expected a regular file of ${manifest.size} bytes`)
      const store = new SwarmStore(manifest, fh)
      if (options.verify === false) for (let i = 0; i < store.pieceCount; i++) store.add(i)
      else await verifyPieces(store)
      if (!store.complete)
        throw new SwarmFileMismatchError(`${filePath}: ${store.pieceCount - store.haveCount} pieces do not match the manifest`)
      this.#register(store)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /** Stop serving a swarm and close its file. */
  async unseed(swarmId: string): Promise<void> {
    const store = this.#stores.get(swarmId)
    if (store === undefined) return
    this.#stores.delete(swarmId)
    await store.fh.close().catch(() => {})
  }

  /**
   * Fetch the file of `manifest` from `peers` into `out` (SWARM.md §6), serving verified pieces to
   * others meanwhile (call `listen` first to be reachable). Resumes a partial file. Keeps serving
   * the finished file until `unseed` or `close`.
   */
  async fetch(manifest: SwarmManifest, options: FetchOptions): Promise<FetchResult> {
    this.#open()
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected { peers, out }')
    if (!Array.isArray(options.peers) || options.peers.length === 0)
      throw new InvalidArgumentError('options.peers: expected at least one HOST:PORT')
    for (const p of options.peers) parsePeerAddress(p)
    if (options.out !== undefined) assertString('options.out', options.out, { nonEmpty: true })
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
      throw new InvalidArgumentError('options.onProgress: expected a function')
    if (options.onConnect !== undefined && typeof options.onConnect !== 'function')
      throw new InvalidArgumentError('options.onConnect: expected a function')
    await this.checkManifest(manifest)
    const out = options.out ?? join(this.#o.dir ?? process.cwd(), manifest.name)
    if (this.#stores.has(manifest.swarmId))
      throw new PeerguardError('already-exists', `swarm ${manifest.swarmId} is already being served or fetched`)
    if (await exists(out)) throw new PeerguardError('already-exists', `${out} exists; refusing to overwrite it`)
    const partPath = `${out}${PART_SUFFIX}`
    const resuming = await exists(partPath)
    const fh = await open(partPath, resuming ? 'r+' : 'wx+', 0o644).catch((err: NodeJS.ErrnoException) => {
      throw new PeerguardError('io-error', `${partPath}: ${err.code ?? err.message}`, { cause: err })
    })
    const store = new SwarmStore(manifest, fh)
    let download: Download | undefined
    try {
      if (resuming) {
        const st = await fh.stat()
        if (st.size !== manifest.size) await fh.truncate(manifest.size)
        await verifyPieces(store, Math.min(st.size, manifest.size))
      } else await fh.truncate(manifest.size)
      const resumedPieces = store.haveCount
      this.#register(store)
      download = new Download({
        store,
        connect: async (address) => {
          const connected = await this.#connect(address)
          options.onConnect?.(connected.peer)
          return connected
        },
        admitServer: (peer) => this.#admit(peer, store, 'put'),
        recordCorrupt: async (peer, piece) => {
          await appendDecision(this.#o.log, {
            kind: 'operation',
            allowed: false,
            code: 'swarm-piece-corrupt',
            reason: `piece ${piece} does not match its SHA-256; peer dropped`,
            peer: logPeer(peer),
            action: 'read',
            verb: 'piece',
            resource: `swarm:${manifest.name}`
          })
        },
        requestsPerPeer: this.#o.requestsPerPeer ?? DEFAULT_REQUESTS_PER_PEER,
        stallTimeoutMs: this.#o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
        requestTimeoutMs: this.#o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        onProgress: options.onProgress
      })
      this.#downloads.add(download)
      download.start(options.peers)
      await download.done
      await fh.sync()
      const digest = await download.fileDigest()
      if (digest !== manifest.sha256) throw new SwarmFileMismatchError('the assembled file does not match the manifest SHA-256')
      await rename(partPath, out)
      return {
        path: out,
        size: manifest.size,
        sha256: digest,
        swarmId: manifest.swarmId,
        resumedPieces,
        piecesFrom: { ...download.piecesFrom },
        dropped: [...download.dropped]
      }
    } catch (err) {
      if (this.#stores.get(manifest.swarmId) === store) this.#stores.delete(manifest.swarmId)
      await fh.close().catch(() => {})
      // Nothing verified and nothing to resume: leave no empty partial file behind.
      if (!resuming && store.haveCount === 0) await unlink(partPath).catch(() => {})
      throw err
    } finally {
      if (download !== undefined) this.#downloads.delete(download)
    }
  }

  /** Accept peers on `host:port` (default 127.0.0.1, an ephemeral port). */
  async listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    this.#open()
    assertInteger('port', port, 0, 65535)
    assertString('host', host, { nonEmpty: true })
    if (this.#listener !== undefined) throw new PeerguardError('already-exists', 'this swarm peer is already listening')
    const listener = createListener(
      {
        identity: this.#o.identity,
        chain: this.#o.chain,
        trust: this.#o.trust,
        protocols: [SWARM_PROTOCOL],
        ...(this.#o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: this.#o.handshakeTimeoutMs })
      },
      (channel) => this.#accept(channel)
    )
    const refusals = this.#o.log === undefined ? undefined : new RefusalSummarizer(this.#o.log)
    this.#refusals = refusals
    listener.on('handshakeError', (err: PeerguardError, address: string) => {
      this.#logger.info('swarm connection refused', { address, code: err.code })
      refusals?.refused(address, err.code)
    })
    listener.server.on('connection', (socket: Socket) => {
      const host = socket.remoteAddress ?? ''
      const key = `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort}`
      this.#handshaking.set(key, this.#recheckEpoch)
      socket.once('close', () => this.#handshaking.delete(key))
    })
    this.#listener = listener
    return listener.listen(port, host)
  }

  /** The listening address, when listening. */
  get address(): AddressInfo | undefined {
    const a = this.#listener?.server.address()
    return a === null || typeof a === 'string' ? undefined : a
  }

  /**
   * Re-decide every connection now (after a reload of trust or policy): `connectionCheck` on the
   * peer, then the policy — `get` on the swarm a serving connection was admitted to, `put` (seed)
   * on the swarm a fetch of ours takes pieces from. Each refused connection is closed in this same
   * turn (a serving one gets an ERROR with the code; a seeder is dropped for good and its pieces go
   * to other peers), then the refusal is logged (`connection` record, event `refused`). Resolves to
   * the number of connections closed.
   * `{ trust: false }` (only the policy changed) skips `connectionCheck`.
   */
  async recheck(options: { trust?: boolean } = {}): Promise<number> {
    this.#recheckEpoch++
    const dropped: Array<{ conn: ServeConnection; refusal: ConnectionRefusal }> = []
    for (const conn of this.#serving) {
      const refusal = this.#recheckOne(conn.peer, conn.store, options.trust !== false)
      if (refusal !== undefined) dropped.push({ conn, refusal })
    }
    for (const { conn, refusal } of dropped) {
      this.#serving.delete(conn)
      conn.fail(refusal.code, refusal.reason)
    }
    // the peers our own fetches take pieces from: each must still be a peer allowed to seed
    const seeders = [...this.#downloads].flatMap((d) =>
      d.recheck((peer) => this.#recheckOne(peer, d.store, options.trust !== false, 'put'))
    )
    await Promise.all([
      ...dropped.map(({ conn, refusal }) => this.#logDropped(conn.peer, refusal)),
      ...seeders.map(({ peer, refusal }) => this.#logDropped(peer, refusal))
    ])
    return dropped.length + seeders.length
  }

  /** A serving connection (`get`) or a seeder of our fetch (`put`), decided again; a refusal or undefined. */
  #recheckOne(
    peer: PeerInfo,
    store: SwarmStore | undefined,
    trust: boolean,
    verb: 'get' | 'put' = 'get'
  ): ConnectionRefusal | undefined {
    const check = this.#o.connectionCheck
    const refusal = check === undefined || !trust ? undefined : runConnectionCheck(check, peer)
    if (refusal !== undefined || store === undefined) return refusal
    const decision = decideSwarm(this.#o.policy, peer, verb, store.manifest)
    return decision.allowed
      ? undefined
      : { code: decision.code, reason: `${verb === 'get' ? 'fetch' : 'seed'} swarm:${store.manifest.name}: ${decision.reason}` }
  }

  async #logDropped(peer: PeerInfo, refusal: ConnectionRefusal): Promise<void> {
    this.#logger.info('swarm connection closed after a re-check', { peer: peer.peerId, code: refusal.code })
    await appendDecision(this.#o.log, {
      kind: 'connection',
      event: 'refused',
      code: refusal.code,
      reason: `open connection closed: ${refusal.reason}`,
      peer: logPeer(peer),
      mode: 'hardened'
    }).catch(() => {})
  }

  #accept(channel: NoiseChannel): void {
    const peer: PeerInfo = channel.remotePeer
    if (this.#closed) {
      channel.destroy()
      return
    }
    // Trust may have changed while this peer was handshaking: decide again before serving it.
    const check = this.#o.connectionCheck
    const started = peer.address === undefined ? undefined : this.#handshaking.get(peer.address)
    const refusal = check === undefined || started === this.#recheckEpoch ? undefined : runConnectionCheck(check, peer)
    if (refusal !== undefined) {
      channel.destroy()
      void this.#logDropped(peer, refusal)
      return
    }
    const conn = new ServeConnection(channel, peer, {
      lookup: (id) => this.#stores.get(id),
      // an authenticated peer's refusal is a decision about it: its own entry (a swarm ID, no name)
      unknown: async (p, swarmId) => {
        await appendDecision(this.#o.log, {
          kind: 'operation',
          allowed: false,
          code: 'swarm-unknown',
          reason: `this peer does not serve swarm ${swarmId}`,
          peer: logPeer(p),
          action: 'read',
          verb: 'fetch',
          resource: `swarm:${swarmId}`
        })
      },
      admit: (p, store, onLogged, onAdmitted) => this.#admit(p, store, 'get', onLogged, onAdmitted),
      limiter: this.#limiter,
      onServed: (n) => {
        this.#bytesServed += n
      },
      onError: (err, p) => this.#logger.debug?.('swarm serve error', { peer: p.peerId, error: String(err) }),
      onClosed: (c) => this.#sessionEnded(c)
    })
    if (this.#serving.size >= (this.#o.maxPeers ?? DEFAULT_MAX_PEERS)) {
      conn.fail('swarm-too-many-peers', `this peer serves at most ${this.#o.maxPeers ?? DEFAULT_MAX_PEERS} peers`)
      return
    }
    this.#serving.add(conn)
    channel.once('close', () => this.#serving.delete(conn))
  }

  /**
   * One summary entry per admitted serving session, written when it closes (never one per piece:
   * the log grows with sessions, not with bytes). A failure to write is a warning: the session is over.
   */
  #sessionEnded(conn: ServeConnection): void {
    const record = sessionOutcome(conn)
    if (record === undefined || this.#o.log === undefined) return
    const write = appendDecision(this.#o.log, record).then(
      () => {},
      (err: unknown) => {
        this.#logger.warn('swarm: a session outcome could not be logged', { error: (err as Error).message })
      }
    )
    this.#outcomes.add(write)
    void write.finally(() => this.#outcomes.delete(write))
  }

  /** Policy check for a remote peer on a swarm, logged; a refusal code or undefined. */
  async #admit(
    peer: PeerInfo,
    store: SwarmStore,
    verb: 'get' | 'put',
    onLogged?: (seq: number) => void,
    onAdmitted?: () => void
  ): Promise<{ code: string; reason: string } | undefined> {
    const m = store.manifest
    const epoch = this.#recheckEpoch
    const decision = decideSwarm(this.#o.policy, peer, verb, m)
    const record = decisionRecord(peer, verb, `swarm:${m.name}`, decision)
    const written = await appendDecision(this.#o.log, { ...record, verb: verb === 'get' ? 'fetch' : 'seed' })
    const seq = (written as { seq?: unknown } | undefined)?.seq
    if (typeof seq === 'number') onLogged?.(seq)
    if (decision.allowed && epoch !== this.#recheckEpoch) {
      // a reload while the entry was written: recheck() skipped this connection (no swarm yet), so
      // decide again now, in the turn that admits it (trust and policy in force)
      const check = this.#o.connectionCheck
      const again = check === undefined ? undefined : runConnectionCheck(check, peer)
      const now = again === undefined ? decideSwarm(this.#o.policy, peer, verb, m) : undefined
      const refusal =
        again ??
        (now === undefined || now.allowed
          ? undefined
          : { code: now.code, reason: `${verb === 'get' ? 'fetch' : 'seed'} swarm:${m.name}: ${now.reason}` })
      if (refusal !== undefined) {
        await this.#logDropped(peer, refusal)
        return refusal
      }
    }
    if (decision.allowed) {
      // in the turn of the epoch check above: a recheck() from here on sees the admitted swarm
      onAdmitted?.()
      return undefined
    }
    const err = new SwarmDeniedError(`${verb === 'get' ? 'fetch' : 'seed'} swarm:${m.name}: ${decision.reason}`)
    return { code: err.code, reason: err.message }
  }

  async #connect(address: string): Promise<{ channel: NoiseChannel; peer: PeerInfo }> {
    if (this.#closed) throw new SwarmClosedError()
    const { host, port } = parsePeerAddress(address)
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port })
      const timer = setTimeout(() => {
        s.destroy()
        reject(new PeerguardError('io-error', `connect ${address}: timed out`))
      }, this.#o.handshakeTimeoutMs ?? 10_000)
      s.once('connect', () => {
        clearTimeout(timer)
        s.off('error', onError)
        resolve(s)
      })
      const onError = (err: Error): void => {
        clearTimeout(timer)
        reject(
          new PeerguardError('io-error', `connect ${address}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, {
            cause: err
          })
        )
      }
      s.once('error', onError)
    })
    socket.setNoDelay(true)
    const channel = await secureOutbound(socket, {
      identity: this.#o.identity,
      chain: this.#o.chain,
      trust: this.#o.trust,
      protocols: [SWARM_PROTOCOL],
      ...(this.#o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: this.#o.handshakeTimeoutMs }),
      ...this.#serverCheck(formatPeerAddress(host, port))
    })
    const peer = { ...channel.remotePeer, address: formatPeerAddress(host, port) }
    return { channel, peer }
  }

  /** How a peer we connect to is held beyond its certificate: pins, or its known-peers entry. */
  #serverCheck(address: string): Partial<ChannelOptions> {
    if (this.#o.expectedPeerIds !== undefined) return { expectedPeerId: this.#o.expectedPeerIds }
    const kp = this.#o.knownPeers
    if (kp === undefined) return {}
    return {
      knownPeers: {
        store: kp.store,
        name: `swarm@${address}`,
        certified: true,
        ...(kp.trustOnFirstUse === undefined ? {} : { trustOnFirstUse: kp.trustOnFirstUse })
      }
    }
  }

  #register(store: SwarmStore): void {
    if (this.#stores.has(store.manifest.swarmId))
      throw new PeerguardError('already-exists', `swarm ${store.manifest.swarmId} is already served`)
    this.#stores.set(store.manifest.swarmId, store)
  }

  #open(): void {
    if (this.#closed) throw new SwarmClosedError()
  }

  /** Stop listening, abort fetches, close connections and files. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const d of this.#downloads) d.abort(new SwarmClosedError())
    for (const c of this.#serving) c.close(false, { code: 'swarm-closed', reason: 'the serving peer stopped' })
    this.#serving.clear()
    await this.#listener?.close()
    await Promise.all([...this.#outcomes])
    await this.#refusals?.close()
    for (const s of this.#stores.values()) await s.fh.close().catch(() => {})
    this.#stores.clear()
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new PeerguardError('io-error', `${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err })
  }
}

/** Hash each piece in the store's file (up to `upTo` bytes) and mark the ones that match. */
async function verifyPieces(store: SwarmStore, upTo = store.manifest.size): Promise<void> {
  const m = store.manifest
  const buf = Buffer.allocUnsafe(m.pieceSize)
  for (let i = 0; i < store.pieceCount; i++) {
    const len = pieceLength(m, i)
    if (i * m.pieceSize + len > upTo) break
    const { bytesRead } = await store.fh.read(buf, 0, len, i * m.pieceSize)
    if (bytesRead !== len) break
    if (createHash('sha256').update(buf.subarray(0, len)).digest('hex') === m.pieces[i]) store.add(i)
  }
}

/** Create a swarm peer. Checks every option (InvalidArgumentError). */
export function createSwarmPeer(options: SwarmPeerOptions): SwarmPeer {
  checkCredentials(options, { chainRequired: 'enrol with the LAN CA', trustRequired: true })
  if (options.dir !== undefined) assertString('options.dir', options.dir, { nonEmpty: true })
  if (options.policy !== undefined && !isPolicyDecider(options.policy))
    throw new InvalidArgumentError('options.policy: expected a Policy (an object with decide())')
  if (
    options.log !== undefined &&
    (typeof options.log !== 'object' || options.log === null || typeof options.log.append !== 'function')
  )
    throw new InvalidArgumentError('options.log: expected a DecisionLog')
  if (options.maxPeers !== undefined) assertInteger('options.maxPeers', options.maxPeers, 1, 100_000)
  if (options.maxUploadBytesPerSecond !== undefined)
    assertInteger('options.maxUploadBytesPerSecond', options.maxUploadBytesPerSecond, 1024)
  if (options.requestsPerPeer !== undefined) assertInteger('options.requestsPerPeer', options.requestsPerPeer, 1, 64)
  if (options.requestTimeoutMs !== undefined) assertInteger('options.requestTimeoutMs', options.requestTimeoutMs, 100, 3600_000)
  if (options.stallTimeoutMs !== undefined) assertInteger('options.stallTimeoutMs', options.stallTimeoutMs, 100, 24 * 3600_000)
  if (options.handshakeTimeoutMs !== undefined)
    assertInteger('options.handshakeTimeoutMs', options.handshakeTimeoutMs, 1, 600_000)
  if (options.connectionCheck !== undefined && typeof options.connectionCheck !== 'function')
    throw new InvalidArgumentError('options.connectionCheck: expected a function')
  if (
    options.expectedPeerIds !== undefined &&
    (!Array.isArray(options.expectedPeerIds) || options.expectedPeerIds.some((p) => typeof p !== 'string'))
  )
    throw new InvalidArgumentError('options.expectedPeerIds: expected an array of peer IDs')
  if (options.knownPeers !== undefined && typeof options.knownPeers?.store?.check !== 'function')
    throw new InvalidArgumentError('options.knownPeers: expected { store: KnownPeers, trustOnFirstUse? }')
  let peerId: string
  try {
    peerId = peerIdOf(options.identity.publicKey)
  } catch (err) {
    throw new InvalidArgumentError(`options.identity.publicKey: ${(err as Error).message}`, { cause: err })
  }
  return new SwarmPeer(options, peerId)
}

function peerIdOf(publicKey: Uint8Array): string {
  return peerIdFromPublicKey(publicKey).toString()
}
