/**
 * Who this member has heard from, and what it knows of them: each sender's last announcement
 * (replay state, services, addresses, bundle version), the certificate chain learned over a
 * channel, and the resulting state — `member` (chain verifies against the trust store now),
 * `revoked`, or `unverified` (no chain yet, or one that does not chain to the root). Bounded: the
 * least recently seen non-members go first, members only when nothing else is left.
 */
import { equalBytes, type PeerInfo, isPeerguardError } from '@peerguard/interface'
import { type TrustStore, verifyPeerChainSync } from '@peerguard/pki'
import type { AnnouncedService, Announcement } from './announcement.js'
import { AnnouncementError } from './errors.js'
import { peerIdFromPublicKey } from '@peerguard/identity'

export type PeerState = 'member' | 'unverified' | 'revoked'

/** One peer as `peers()` reports it. */
export interface WorkspacePeer {
  readonly peerId: string
  /** From the verified certificate; undefined until verified. */
  readonly name: string | undefined
  readonly groups: readonly string[]
  readonly state: PeerState
  /** Why the peer is not a member: `workspace-peer-unverified`, `cert-revoked`, … */
  readonly code: string | undefined
  /** ms since the epoch of the last accepted announcement (0: only met over a channel). */
  readonly lastSeen: number
  /** Source address of its announcements. */
  readonly host: string | undefined
  readonly fetchPort: number
  /** What it offers, as announced; empty unless the peer is a member. */
  readonly addresses: readonly string[]
  readonly services: readonly AnnouncedService[]
  readonly bundleVersion: number
}

export interface PeerEntry {
  readonly publicKey: Uint8Array
  readonly peerId: string
  name: string | undefined
  groups: readonly string[]
  state: PeerState
  code: string | undefined
  lastSeen: number
  host: string | undefined
  fetchPort: number
  addresses: readonly string[]
  services: readonly AnnouncedService[]
  bundleVersion: number
  stamp: readonly [number, number] | undefined
  chain: readonly Uint8Array[] | undefined
}

export const MAX_PEERS = 1024

const keyOf = (publicKey: Uint8Array): string => Buffer.from(publicKey).toString('hex')

export class PeerTable {
  readonly #entries = new Map<string, PeerEntry>()
  readonly #trust: TrustStore
  readonly #root: Uint8Array | undefined
  readonly #max: number

  /** `root`: the workspace root — a chain under another root of the trust store is not a member. */
  constructor(trust: TrustStore, root?: Uint8Array, max = MAX_PEERS) {
    this.#trust = trust
    this.#root = root
    this.#max = max
  }

  get(publicKey: Uint8Array): PeerEntry | undefined {
    return this.#entries.get(keyOf(publicKey))
  }

  all(): PeerEntry[] {
    return [...this.#entries.values()]
  }

  #entry(publicKey: Uint8Array): PeerEntry {
    const k = keyOf(publicKey)
    let e = this.#entries.get(k)
    if (e === undefined) {
      if (this.#entries.size >= this.#max) this.#evict()
      e = {
        publicKey: Uint8Array.from(publicKey),
        peerId: peerIdFromPublicKey(publicKey).toString(),
        name: undefined,
        groups: [],
        state: 'unverified',
        code: 'workspace-peer-unverified',
        lastSeen: 0,
        host: undefined,
        fetchPort: 0,
        addresses: [],
        services: [],
        bundleVersion: 0,
        stamp: undefined,
        chain: undefined
      }
      this.#entries.set(k, e)
    }
    return e
  }

  /**
   * Make room: the least recently seen peer that is not a member goes first (anyone holding the
   * root can announce fresh keys, so a flood of them must not push verified members out); a
   * member only when the table holds nothing else.
   */
  #evict(): void {
    let oldest: [string, PeerEntry] | undefined
    for (const kv of this.#entries) {
      if (oldest === undefined) oldest = kv
      else if ((kv[1].state === 'member') === (oldest[1].state === 'member')) {
        if (kv[1].lastSeen < oldest[1].lastSeen) oldest = kv
      } else if (oldest[1].state === 'member') oldest = kv
    }
    if (oldest !== undefined) this.#entries.delete(oldest[0])
  }

  /**
   * Take an opened announcement: refuse it as replayed when it is outside the clock window or not
   * newer than the sender's last one; otherwise record it and return the entry (state as known).
   */
  noteAnnouncement(a: Announcement, host: string, now: number, maxSkewMs: number): PeerEntry {
    if (Math.abs(a.timestampMs - now) > maxSkewMs)
      throw new AnnouncementError('workspace-announce-replayed', 'announcement: timestamp outside the accepted window')
    const known = this.get(a.publicKey)
    const last = known?.stamp
    if (last !== undefined && (a.timestampMs < last[0] || (a.timestampMs === last[0] && a.seq <= last[1])))
      throw new AnnouncementError('workspace-announce-replayed', 'announcement: not newer than the last one from this sender')
    const e = this.#entry(a.publicKey)
    e.stamp = [a.timestampMs, a.seq]
    e.lastSeen = now
    e.host = host
    e.fetchPort = a.fetchPort
    e.addresses = a.addresses
    e.services = a.services
    e.bundleVersion = a.bundleVersion
    if (e.state === 'member' || e.state === 'revoked') this.#classify(e)
    return e
  }

  /** A chain a channel handshake verified for `peer`: remember it and classify the peer. */
  noteChannelPeer(peer: PeerInfo): PeerEntry | undefined {
    if (peer.chain === undefined || peer.chain.length === 0) return undefined
    const e = this.#entry(peer.publicKey)
    e.chain = peer.chain.map((d) => Uint8Array.from(d))
    this.#classify(e)
    return e
  }

  /** Verify every known chain again (after the CRLs or roots changed). */
  recheck(): PeerEntry[] {
    const changed: PeerEntry[] = []
    for (const e of this.#entries.values()) {
      const before = e.state
      this.#classify(e)
      if (e.state !== before) changed.push(e)
    }
    return changed
  }

  #classify(e: PeerEntry): void {
    if (e.chain === undefined) {
      e.state = 'unverified'
      e.code = 'workspace-peer-unverified'
      return
    }
    try {
      const v = verifyPeerChainSync(e.chain, { trust: this.#trust })
      if (v.peerId !== e.peerId) throw new AnnouncementError('workspace-peer-unverified', 'chain: names another peer')
      const anchor = v.chain[v.chain.length - 1]
      if (this.#root !== undefined && (anchor === undefined || !equalBytes(anchor, this.#root)))
        throw new AnnouncementError('workspace-peer-unverified', 'chain: under another root than the workspace root')
      e.state = 'member'
      e.code = undefined
      e.name = v.name
      e.groups = v.groups
    } catch (err) {
      const code = isPeerguardError(err) ? err.code : 'internal'
      e.state = code === 'cert-revoked' ? 'revoked' : 'unverified'
      e.code = code
    }
  }

  /** What `peers()` reports for an entry: what a non-member claims to offer is not passed on. */
  static view(e: PeerEntry): WorkspacePeer {
    const member = e.state === 'member'
    return {
      peerId: e.peerId,
      name: e.name,
      groups: [...e.groups],
      state: e.state,
      code: e.code,
      lastSeen: e.lastSeen,
      host: e.host,
      fetchPort: e.fetchPort,
      addresses: member ? [...e.addresses] : [],
      services: member ? e.services.map((s) => ({ ...s })) : [],
      bundleVersion: e.bundleVersion
    }
  }
}
