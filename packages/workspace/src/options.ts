/**
 * The Workspace's options, checked at the boundary (`workspace-config-invalid`, one exact message
 * per fault) and filled with defaults.
 */
import { isIPv4 } from 'node:net'
import type { KeyPair } from '@peerguard/identity'
import { type Clock, type DecisionSink, isDecisionSink, PeerguardError, systemClock } from '@peerguard/interface'
import type { TrustStore } from '@peerguard/pki'
import type { AnnouncedService } from './announcement.js'
import type { Bundle } from './bundle.js'

/** A unicast announcement target (a peer's UDP address), for LANs without multicast and for tests. */
export interface UdpTarget {
  readonly host: string
  readonly port: number
}

export interface WorkspaceOptions {
  /** This member's identity and certificate chain (leaf first). */
  identity: KeyPair
  chain: Uint8Array[]
  /** The trust store in force (the node's live one): channels and members are checked against it. */
  trust: TrustStore
  /** The workspace root (DER). Default: the trust store's root, when it holds exactly one. */
  root?: Uint8Array
  /** Where the newest applied bundle is kept (`bundle.pgwb`). Default: memory only. */
  bundleDir?: string
  /** IPv4 multicast group and port to announce on and listen to (TTL 1). Default: none. */
  multicast?: { group: string; port: number; interface?: string }
  /** UDP address to bind. Default 0.0.0.0 on the multicast port, else 127.0.0.1 on an ephemeral port. */
  udp?: { host?: string; port?: number }
  /** Unicast announcement targets, besides the multicast group. Default none. */
  peers?: readonly UdpTarget[]
  /** TCP address of the workspace service (the bundle fetch). Default 127.0.0.1, ephemeral port. */
  service?: { host?: string; port?: number }
  /** What this member announces besides its bundle version and fetch port. */
  advertise?: { addresses?: readonly string[]; services?: readonly AnnouncedService[] }
  /** Mean time between announcements, ms (±25 % jitter). Default 5000. */
  announceIntervalMs?: number
  /** A peer not heard from for this long is down. Default 3 × announceIntervalMs. */
  peerTimeoutMs?: number
  /** Accepted difference between a sender's clock and ours, ms. Default 60000. */
  maxClockSkewMs?: number
  /** Random delay before fetching an announced newer bundle, ms (spreads the load). Default 150. */
  fetchJitterMs?: number
  /** Datagrams accepted per source address: per second and burst. Default 20/s, burst 40. */
  rateLimit?: { perSecond: number; burst: number }
  /**
   * Apply a verified bundle (CRLs, policy) to what the node enforces; throw to refuse it (the
   * version held then stays). Default: add its CRLs to `trust` (a bundle's policy needs a hook).
   */
  apply?: (bundle: Bundle) => Promise<void>
  /**
   * Where the bundle service writes its decisions (`DecisionLog` of `@peerguard/decision-log`):
   * each member's fetch accepted (before it is answered: a fetch whose acceptance cannot be
   * written is refused) and its outcome; handshakes refused, summarised per address and minute.
   */
  decisionLog?: DecisionSink
  clock?: Clock
}

export interface ResolvedWorkspaceOptions {
  readonly announceIntervalMs: number
  readonly peerTimeoutMs: number
  readonly maxClockSkewMs: number
  readonly fetchJitterMs: number
  readonly rateLimit: { perSecond: number; burst: number }
  readonly clock: Clock
}

const invalid = (message: string): PeerguardError => new PeerguardError('workspace-config-invalid', message)

function int(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw invalid(`${name}: expected an integer ${min}..${max}`)
}

function port(name: string, v: unknown, min = 0): void {
  int(name, v, min, 65535)
}

/** Check `options` (exact messages) and fill in the defaults. */
export function resolveWorkspaceOptions(options: WorkspaceOptions): ResolvedWorkspaceOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options: expected an object')
  const id = options.identity
  if (
    typeof id !== 'object' ||
    id === null ||
    !(id.publicKey instanceof Uint8Array) ||
    id.publicKey.length !== 32 ||
    !(id.secretKey instanceof Uint8Array) ||
    id.secretKey.length !== 64
  )
    throw invalid('identity: expected an Ed25519 key pair (@peerguard/identity KeyPair)')
  if (!Array.isArray(options.chain) || options.chain.length === 0 || !options.chain.every((c) => c instanceof Uint8Array))
    throw invalid('chain: expected the certificate chain, leaf first (DER)')
  const trust = options.trust as { roots?: unknown; addCrl?: unknown } | null | undefined
  if (typeof trust !== 'object' || trust === null || !Array.isArray(trust.roots) || typeof trust.addCrl !== 'function')
    throw invalid('trust: expected a TrustStore (@peerguard/pki)')
  if (options.root !== undefined && !(options.root instanceof Uint8Array))
    throw invalid('root: expected the root certificate (DER)')
  const m = options.multicast
  if (m !== undefined) {
    if (typeof m !== 'object' || m === null || typeof m.group !== 'string' || !isIPv4(m.group))
      throw invalid('multicast.group: expected an IPv4 multicast address (224.0.0.0/4)')
    const first = Number(m.group.split('.')[0])
    if (first < 224 || first > 239) throw invalid('multicast.group: expected an IPv4 multicast address (224.0.0.0/4)')
    port('multicast.port', m.port, 1)
    if (m.interface !== undefined && (typeof m.interface !== 'string' || !isIPv4(m.interface)))
      throw invalid('multicast.interface: expected the IPv4 address of an interface')
  }
  if (options.udp?.port !== undefined) port('udp.port', options.udp.port)
  if (options.service?.port !== undefined) port('service.port', options.service.port)
  for (const t of options.peers ?? []) {
    if (typeof t !== 'object' || t === null || typeof t.host !== 'string' || t.host === '')
      throw invalid('peers: each target must be { host, port }')
    port('peers.port', t.port, 1)
  }
  const announceIntervalMs = options.announceIntervalMs ?? 5000
  int('announceIntervalMs', announceIntervalMs, 50, 3_600_000)
  const peerTimeoutMs = options.peerTimeoutMs ?? 3 * announceIntervalMs
  int('peerTimeoutMs', peerTimeoutMs, announceIntervalMs, 24 * 3_600_000)
  const maxClockSkewMs = options.maxClockSkewMs ?? 60_000
  int('maxClockSkewMs', maxClockSkewMs, 1000, 24 * 3_600_000)
  const fetchJitterMs = options.fetchJitterMs ?? 150
  int('fetchJitterMs', fetchJitterMs, 0, 60_000)
  const rateLimit = options.rateLimit ?? { perSecond: 20, burst: 40 }
  int('rateLimit.perSecond', rateLimit.perSecond, 1, 100_000)
  int('rateLimit.burst', rateLimit.burst, 1, 100_000)
  if (options.apply !== undefined && typeof options.apply !== 'function') throw invalid('apply: expected a function')
  if (options.decisionLog !== undefined && !isDecisionSink(options.decisionLog))
    throw invalid('decisionLog: expected a decision log (an object with append)')
  return {
    announceIntervalMs,
    peerTimeoutMs,
    maxClockSkewMs,
    fetchJitterMs,
    rateLimit,
    clock: options.clock ?? systemClock
  }
}
