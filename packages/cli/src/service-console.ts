/**
 * What the long-running services say on the console: one line per connection accepted and closed
 * (peer name, short peer ID, address, service, bytes, duration), per refusal (grouped and backed
 * off: console-refusals.ts), per reload (applied or rejected, policy hash), and start/stop. It
 * listens to the servers' events; it never changes what they do or what the decision log records.
 */
import type { ReloadRecord } from '@peerguard/decision-log'
import {
  type DecisionRecord,
  type DecisionSink,
  isPeerguardError,
  type Logger,
  type PeerInfo,
  hostOfAddress
} from '@peerguard/interface'
import type { ProxyServer, SplicedStats } from '@peerguard/proxy'
import type { DroppedEvent, OperationEvent, ShareServer } from '@peerguard/share'
import { type ConsoleLog, type LogFields, shortPeerId } from './console-log.js'
import { RefusalGroups, type RefusalGroupsOptions } from './console-refusals.js'
import type { ReloadSink } from './live-config.js'

/** What a console line says of a peer. */
type PeerLike = Pick<PeerInfo, 'peerId' | 'name' | 'address'>

/** `alice (12D3KooW…wxyz) from 127.0.0.1:5555` */
function who(peer: PeerLike): string {
  return `${peer.name ?? '?'} (${shortPeerId(peer.peerId)})${peer.address === undefined ? '' : ` from ${peer.address}`}`
}

function peerFields(service: string, peer: PeerLike): LogFields {
  return {
    service,
    ...(peer.name === undefined ? {} : { peer: peer.name }),
    peerId: peer.peerId,
    ...(peer.address === undefined ? {} : { addr: peer.address })
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`

/** The console side of every service of one process. Call `close()` at stop (writes open refusal counts). */
export class ServiceConsole {
  readonly log: ConsoleLog
  readonly refusals: RefusalGroups

  constructor(log: ConsoleLog, options: RefusalGroupsOptions = {}) {
    this.log = log
    this.refusals = new RefusalGroups(log, options)
  }

  /** A service listens. */
  started(service: string, msg: string): void {
    this.log.event('info', 'start', msg, { service })
  }

  /** The process stops (after the services closed). */
  stopped(msg: string, service?: string): void {
    this.refusals.close()
    this.log.event('info', 'stop', msg, service === undefined ? {} : { service })
  }

  /** Write open refusal counts (without a stop line). */
  close(): void {
    this.refusals.close()
  }

  /** Lines for a share server's connections, refusals and (debug) operations. */
  share(server: ShareServer, service = `share:${server.shareName}`): void {
    server.on('connection', (peer: PeerInfo) => this.#connected(service, peer))
    server.on('closed', (e: { peer: PeerInfo; since: number; bytesIn?: number; bytesOut?: number }) =>
      this.#closed(service, e.peer, Date.now() - e.since, e.bytesIn, e.bytesOut)
    )
    server.on('refused', (e: { address: string; code: string; reason: string }) =>
      this.refusals.refused(`${service}\n${hostOfAddress(e.address)}`, {
        service,
        addr: e.address,
        group: hostOfAddress(e.address),
        code: e.code,
        reason: e.reason
      })
    )
    server.on('dropped', (e: DroppedEvent) => this.#dropped(service, e.peer, e.code, e.reason))
    server.on('operation', (e: OperationEvent) => {
      if (!this.log.enabled('debug')) return
      this.log.event('debug', 'operation', `${e.peer.name ?? shortPeerId(e.peer.peerId)} ${e.op} ${e.path}: ${e.code}`, {
        ...peerFields(service, e.peer),
        what: e.op,
        path: e.path,
        code: e.code
      })
    })
  }

  /** Lines for a proxy server's connections (with bytes) and refusals. */
  proxy(server: ProxyServer, service: string): void {
    const since = new Map<PeerInfo, number>()
    server.on('connection', (peer: PeerInfo) => {
      since.set(peer, Date.now())
      this.#connected(service, peer)
    })
    server.on('closed', (peer: PeerInfo, stats: SplicedStats) => {
      const t = since.get(peer)
      since.delete(peer)
      this.#closed(service, peer, t === undefined ? undefined : Date.now() - t, stats.aToB, stats.bToA)
    })
    server.on('refused', (err: unknown, peer: PeerInfo | undefined) => {
      const decision = isPeerguardError(err) ? err.details?.decision : undefined
      const code = typeof decision === 'string' ? decision : isPeerguardError(err) ? err.code : 'internal'
      const reason = err instanceof Error ? err.message : undefined
      const key = peer?.peerId ?? (peer?.address === undefined ? 'unauthenticated' : hostOfAddress(peer.address))
      this.refusals.refused(`${service}\n${key}`, {
        ...(peer === undefined ? { service } : peerFields(service, peer)),
        code,
        ...(reason === undefined ? {} : { reason })
      })
    })
    server.on('dropped', (peer: PeerInfo, refusal: { code: string; reason: string }) => {
      since.delete(peer)
      this.#dropped(service, peer, refusal.code, refusal.reason)
    })
  }

  /**
   * A Logger for a package without events (the swarm peer): its `… connection refused` messages
   * (address, code) are grouped like every refusal; the rest are library lines.
   */
  libraryLogger(service: string): Logger {
    const log = this.log
    const route =
      (level: 'debug' | 'info' | 'warn' | 'error') =>
      (message: string, fields: Record<string, unknown> = {}): void => {
        const { address, code } = fields
        if (/connection refused$/.test(message) && typeof code === 'string') {
          const addr = typeof address === 'string' ? address : 'unknown'
          this.refusals.refused(`${service}\n${hostOfAddress(addr)}`, { service, addr, group: hostOfAddress(addr), code })
          return
        }
        log[level](message, fields)
      }
    return { debug: route('debug'), info: route('info'), warn: route('warn'), error: route('error') }
  }

  /**
   * A decision sink for a package whose sessions have no events (the swarm peer): a `fetch`
   * admission is a connection line (a denial a grouped refusal), a session's outcome the closed
   * line with bytes and duration; every record is then passed on to `next` (its result returned).
   */
  decisions(service: string, next?: DecisionSink): DecisionSink {
    return {
      append: (record: DecisionRecord): unknown => {
        this.#decision(service, record)
        return next?.append(record)
      }
    }
  }

  #decision(service: string, record: DecisionRecord): void {
    if (record.kind !== 'operation' && record.kind !== 'outcome') return
    const p = record.peer
    if (p?.peerId === undefined) return
    const peer: PeerLike = {
      peerId: p.peerId,
      ...(p.name === undefined ? {} : { name: p.name }),
      ...(p.address === undefined ? {} : { address: p.address })
    }
    if (record.kind === 'operation' && record.verb === 'fetch') {
      if (record.allowed) this.#connected(service, peer)
      else
        this.refusals.refused(`${service}\n${p.peerId}`, {
          ...peerFields(service, peer),
          code: record.code,
          reason: record.reason
        })
    } else if (record.kind === 'outcome' && record.op === 'fetch')
      this.#closed(service, peer, record.durationMs, record.bytesIn, record.bytesOut)
  }

  /** A ReloadSink that writes each reload record as a console line, then passes it on to `next`. */
  reloads(next?: ReloadSink): ReloadSink {
    return {
      append: (record: ReloadRecord): Promise<unknown> => {
        const sha = record.policySha256
        const fields: LogFields = { what: record.what, code: record.code, ...(sha === undefined ? {} : { policySha256: sha }) }
        const what = record.what.split(',').join(', ')
        if (record.event === 'applied')
          this.log.event(
            'info',
            'reload',
            `${record.reason === 'configuration loaded at start-up' ? `loaded ${what}` : `reloaded ${what}`}${sha === undefined ? '' : ` (policy sha256 ${sha.slice(0, 16)}…)`}`,
            fields
          )
        else
          this.log.event(
            'warn',
            'reload',
            `reload: new ${record.what} rejected (${record.code}): ${record.reason}; keeping the ${record.what} in force`,
            { ...fields, reason: record.reason }
          )
        return next === undefined ? Promise.resolve() : next.append(record)
      }
    }
  }

  #connected(service: string, peer: PeerLike): void {
    this.log.event('info', 'connected', `accepted ${who(peer)}`, peerFields(service, peer))
  }

  #closed(service: string, peer: PeerLike, durationMs?: number, bytesIn?: number, bytesOut?: number): void {
    const bytes = bytesIn === undefined || bytesOut === undefined ? '' : `, ${bytesIn} bytes in, ${bytesOut} bytes out`
    this.log.event(
      'info',
      'closed',
      `closed ${who(peer)}${durationMs === undefined ? '' : ` after ${seconds(durationMs)}`}${bytes}`,
      {
        ...peerFields(service, peer),
        ...(durationMs === undefined ? {} : { durationMs }),
        ...(bytesIn === undefined ? {} : { bytesIn }),
        ...(bytesOut === undefined ? {} : { bytesOut })
      }
    )
  }

  #dropped(service: string, peer: PeerLike, code: string, reason: string): void {
    this.log.event('warn', 'dropped', `closed ${who(peer)}: ${code}: ${reason}`, { ...peerFields(service, peer), code, reason })
  }
}
