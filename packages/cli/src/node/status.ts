/**
 * What `peerguard node status` reports (the JSON of `--json`, the same over the control socket)
 * and its table for people.
 */
import type { PeerInfo } from '@peerguard/interface'
import type { TrustStore } from '@peerguard/pki'
import type { WorkspaceStatus } from './workspace-node.js'
import { visible } from '../console-log.js'

export interface PeerStatus {
  readonly name?: string
  readonly peerId: string
  readonly address?: string
  /** ISO 8601. */
  readonly since: string
  /** Operations running now (a proxied connection is one, a swarm session is one). */
  readonly operations: number
  /** What they are: `read docs/a.txt`, `connect service:web`, `fetch swarm:data (3 requests pending)`. */
  readonly current: readonly string[]
  /** Bytes received from and sent to the peer on this connection so far. */
  readonly bytesIn: number
  readonly bytesOut: number
}

export interface CrlStatus {
  readonly issuer: string
  /** ISO 8601. */
  readonly thisUpdate: string
  readonly nextUpdate?: string
  /** Past its nextUpdate: revocation information may be missing. */
  readonly stale: boolean
}

export interface ServiceStatus {
  readonly kind: 'share' | 'proxy' | 'swarm'
  readonly name: string
  readonly listening: string | undefined
  readonly root?: string
  readonly target?: string
  readonly mode?: string
  /** Swarm: the swarm ID (SHA-256 of its manifest); `root` is the file seeded. */
  readonly swarmId?: string
  /** Proxy: bytes carried by closed connections. Swarm: piece bytes served so far (`out`; `in` stays 0). */
  readonly bytes?: { in: number; out: number }
  readonly peers: readonly PeerStatus[]
}

export interface NodeStatus {
  readonly pid: number
  readonly config: string
  readonly since: string
  readonly policy: { file: string; sha256: string | undefined }
  readonly log?: string
  readonly crls: readonly CrlStatus[]
  readonly services: readonly ServiceStatus[]
  /** The workspace: its ID, the bundle version held, the peers heard of (`peerguard peers`). */
  readonly workspace?: WorkspaceStatus
}

export function peerStatus(
  peer: PeerInfo,
  since: number,
  bytes: { bytesIn: number; bytesOut: number },
  current: readonly string[]
): PeerStatus {
  return {
    ...(peer.name === undefined ? {} : { name: peer.name }),
    peerId: peer.peerId,
    ...(peer.address === undefined ? {} : { address: peer.address }),
    since: new Date(since).toISOString(),
    operations: current.length,
    current: [...current],
    bytesIn: bytes.bytesIn,
    bytesOut: bytes.bytesOut
  }
}

/** A byte count for people: 1536 -> `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`
}

export function trustStatus(trust: TrustStore, now = Date.now()): CrlStatus[] {
  return trust.crls.map((c) => ({
    issuer: c.issuer.text,
    thisUpdate: new Date(c.thisUpdate).toISOString(),
    ...(c.nextUpdate === undefined ? {} : { nextUpdate: new Date(c.nextUpdate).toISOString() }),
    stale: c.nextUpdate !== undefined && c.nextUpdate < now
  }))
}

/** The status as lines for a terminal. */
export function formatStatus(s: NodeStatus): string[] {
  const out = [
    `node pid ${s.pid} since ${s.since}, config ${s.config}`,
    `policy ${s.policy.file} sha256 ${s.policy.sha256 ?? '(none)'}`,
    ...(s.log === undefined ? [] : [`decision log ${s.log}`]),
    ...s.crls.map(
      (c) => `crl ${c.issuer}: this update ${c.thisUpdate}, next ${c.nextUpdate ?? '(none)'}${c.stale ? '  STALE' : ''}`
    )
  ]
  for (const v of s.services) {
    const what =
      v.kind === 'share'
        ? `share ${v.name} (${v.root})`
        : v.kind === 'swarm'
          ? `swarm ${v.name} (${v.root})`
          : `proxy ${v.name} -> ${v.target} (${v.mode})`
    out.push(`${what} on ${v.listening ?? '(not listening)'}: ${v.peers.length} peer${v.peers.length === 1 ? '' : 's'}`)
    for (const p of v.peers) {
      out.push(
        `  ${p.name ?? '-'}  ${p.peerId}  ${p.address ?? '-'}  since ${p.since}  in ${formatBytes(p.bytesIn)}  out ${formatBytes(p.bytesOut)}  ${p.operations} op${p.operations === 1 ? '' : 's'}`
      )
      for (const op of p.current) out.push(`    ${op}`)
    }
  }
  const ws = s.workspace
  if (ws !== undefined) {
    const up = ws.peers.filter((p) => p.up).length
    out.push(
      `workspace ${ws.workspaceId}: bundle version ${ws.bundleVersion}, ${up} member${up === 1 ? '' : 's'} up (peerguard peers)`
    )
  }
  // peer names, the paths peers asked for and announced names are theirs: no terminal controls
  return out.map(visible)
}
