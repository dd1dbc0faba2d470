import type { FlowKey } from '@peerguard/interface'
import { classifyTcp, classifyUdp, UnknownStreamApp } from './classify.js'
import type { AuditContext, ExpectedFtpData } from './context.js'
import { FtpDataApp, FtpLoginTracker } from './detectors/ftp-data.js'
import { FindingCollector } from './findings.js'
import { Flow, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from './flow.js'
import { type DecodedPacketHandler, IPPROTO_TCP, IPPROTO_UDP, macString, PacketDecoder } from './packet-decoder.js'
import { MAX_OPERATIONS_PER_FLOW, type WireOperation } from './operations.js'
import { ParseErrors } from './parse-errors.js'
import { type StreamReceiver, TcpStream } from './tcp-stream.js'

/** One finished flow as it appears in the report. Side `src` sent the first packet seen. */
export interface FlowSummary {
  id: number
  proto: string
  src: string
  srcPort: number
  dst: string
  dstPort: number
  /** Which side opened the connection (SYN), or is taken for the client. */
  client: 'src' | 'dst'
  start: number
  end: number
  firstFrame: number
  lastFrame: number
  packets: { fwd: number; rev: number }
  /** Frame bytes on the wire, as tshark's conversation tables count them. */
  bytes: { fwd: number; rev: number }
  /** Transport payload bytes. */
  payloadBytes: { fwd: number; rev: number }
  tcpState?: string
  /** Application protocol recognised by content ('' when none). */
  protocol: string
  encrypted?: boolean
}

/** A finished flow with payload, and what the application parsers learnt (for policy checks). */
export interface ClassifiedFlow {
  key: FlowKey
  protocol: string
  encrypted: boolean
  /** Carries file-share traffic (SMB, NFS, FTP, HTTP file transfer, BitTorrent, peerguard share). */
  share: boolean
  /** Resources touched, when the protocol names them (`share:docs`, `file:a.txt`). */
  resources: string[]
  /** File operations decoded from cleartext traffic (path and policy verb), the first 64. */
  operations: WireOperation[]
  /** Operations beyond those kept. */
  operationsDropped: number
  frames: number[]
  /** Seconds since the epoch. */
  start: number
  end: number
}

export interface HostSummary {
  addr: string
  macs: string[]
  names: { name: string; via: string }[]
  frames: number
  bytes: number
  flows: number
  protocols: string[]
  firstFrame: number
}

/** Live flows held before the least recently active are finished early (evicted). */
export const DEFAULT_MAX_LIVE_FLOWS = 50_000
/** Flows listed one by one in the report (and kept for the policy checks); the rest are counted. */
export const DEFAULT_MAX_REPORT_FLOWS = 20_000
/** Hosts tracked; traffic of further hosts is counted in the flow totals only. */
export const MAX_HOSTS = 50_000

export interface EngineOptions {
  /** Bytes of each flow direction handed to the application parsers. @default 8 MiB */
  flowByteBudget?: number
  /**
   * Live flows held at once (bounded memory). Beyond it, closed and idle flows and then the least
   * recently active are finished early and counted as `evicted`. @default 50000
   */
  maxLiveFlows?: number
  /**
   * Flows listed one by one in the report, and flows kept for the policy checks; the rest are
   * only counted (`omitted`, `unchecked`). @default 20000
   */
  maxReportFlows?: number
  findings?: FindingCollector
}

interface HostStats {
  addr: string
  macs: string[]
  names: Map<string, string> | undefined
  frames: number
  bytes: number
  flows: number
  protocols: string[]
  firstFrame: number
}

/**
 * One direction of a flow's TCP stream and the receiver of its reassembled bytes in one object:
 * a data packet touches one object here, not a stream and a receiver.
 */
class FlowTcpStream extends TcpStream implements StreamReceiver {
  constructor(
    readonly engine: TrafficEngine,
    readonly flow: Flow,
    readonly dir: 0 | 1
  ) {
    super()
  }
  bytes(buf: Buffer, off: number, len: number, frame: number): void {
    this.engine.appData(this.flow, this.dir, buf, off, len, frame)
  }
  gap(n: number): void {
    const app = this.flow.app
    if (app !== undefined) app.gap((this.dir === 0) === this.flow.clientIsA, n)
  }
}

function mix(addr: number, port: number): number {
  let h = Math.imul(addr ^ (port * 0x9e3779b1), 0x85ebca6b)
  h ^= h >>> 13
  return Math.imul(h, 0xc2b2ae35)
}

function strHash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

/**
 * The flow table and dispatcher: accounts every IP packet to its 5-tuple flow (both directions,
 * tshark-compatible frame and byte counts, TCP state, port reuse), reassembles TCP for the
 * application parsers while a flow is being inspected, and finishes flows into summaries.
 */
export class TrafficEngine implements DecodedPacketHandler, AuditContext {
  readonly errors = new ParseErrors()
  readonly decoder: PacketDecoder
  readonly findings: FindingCollector
  readonly flowByteBudget: number
  readonly flows: FlowSummary[] = []
  flowCount = 0
  flowsOmitted = 0
  evicted = 0
  /** Finished flows by transport, and by recognised protocol (all flows, listed or not). */
  tcpFlows = 0
  udpFlows = 0
  readonly protocolCounts: Record<string, number> = {}
  /** Flows with payload not kept for the policy checks (beyond maxReportFlows). */
  unchecked = 0
  /** Hosts beyond MAX_HOSTS (not listed). */
  hostsOmitted = 0
  readonly #buckets = new Map<number, Flow>()
  #live = 0
  #nextId = 1
  readonly #maxLive: number
  readonly #maxReport: number
  /** Finished Flow objects ready for reuse (see Flow), at most #poolMax. */
  readonly #pool: Flow[] = []
  readonly #poolMax: number
  readonly #hosts = new Map<string, HostStats>()
  readonly #arp = new Map<string, string>()
  readonly #ftpData = new Map<string, ExpectedFtpData>()
  readonly #ftpLogins = new FtpLoginTracker()
  readonly #pendingNames: { addr: string; name: string; via: string }[] = []
  /** Finished flows with their application facts (for policy/inventory findings). */
  readonly classified: ClassifiedFlow[] = []
  #sinceSweep = 0

  constructor(options: EngineOptions = {}) {
    this.decoder = new PacketDecoder(this, this.errors)
    this.findings = options.findings ?? new FindingCollector()
    this.flowByteBudget = options.flowByteBudget ?? 8 * 1024 * 1024
    this.#maxLive = options.maxLiveFlows ?? DEFAULT_MAX_LIVE_FLOWS
    this.#maxReport = options.maxReportFlows ?? DEFAULT_MAX_REPORT_FLOWS
    // An eviction round finishes a fifth of the table at once: room to recycle all of them.
    this.#poolMax = Math.min(65_536, Math.ceil(this.#maxLive / 4) + 16)
  }

  get liveFlows(): number {
    return this.#live
  }

  arp(ip: string, mac: string): void {
    if (this.#arp.size < 100_000) this.#arp.set(ip, mac)
  }

  ip(d: PacketDecoder): void {
    const proto = d.proto
    const v4 = d.ipVersion === 4
    const sNum = v4 ? d.src4 : strHash(d.src6)
    const dNum = v4 ? d.dst4 : strHash(d.dst6)
    const sp = d.srcPort
    const dp = d.dstPort
    // 30 bits: a small integer (Smi) key, which the Map neither boxes nor compares through a pointer.
    const h = (mix(sNum, sp) + mix(dNum, dp) + proto) & 0x3fffffff
    let f = this.#buckets.get(h)
    let dir = 0
    while (f !== undefined) {
      if (f.proto === proto) {
        if (f.aNum === sNum && f.aPort === sp && f.bNum === dNum && f.bPort === dp && f.aStr === d.src6 && f.bStr === d.dst6)
          break
        if (f.bNum === sNum && f.bPort === sp && f.aNum === dNum && f.aPort === dp && f.bStr === d.src6 && f.aStr === d.dst6) {
          dir = 1
          break
        }
      }
      f = f.chain
    }
    const flags = d.tcpFlags
    if (f !== undefined && proto === IPPROTO_TCP && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      // Port reuse: a fresh SYN (new initial sequence number) on a finished or different connection.
      const isn = dir === 0 ? f.isnA : f.isnB
      const closed = ((f.flagsAB | f.flagsBA) & TCP_RST) !== 0 || (f.flagsAB & f.flagsBA & TCP_FIN) !== 0
      if ((isn !== -1 && isn !== d.seq) || (isn === -1 && closed)) {
        this.#finalize(f)
        f = undefined
        dir = 0
      }
    }
    if (f === undefined) {
      f = this.#create(d, h, sNum, dNum)
      dir = 0
    }
    f.lastFrame = d.frame
    f.end = d.ts
    if (dir === 0) {
      f.pktsAB++
      f.bytesAB += d.wireLen
      f.payloadAB += d.payWireLen
      f.flagsAB |= flags
    } else {
      f.pktsBA++
      f.bytesBA += d.wireLen
      f.payloadBA += d.payWireLen
      f.flagsBA |= flags
      if (f.pktsBA === 1 && d.macOff >= 0) f.macB = macString(d.macBuf, d.macOff)
    }
    if (proto === IPPROTO_TCP) {
      if (flags & TCP_SYN) {
        if (dir === 0) {
          if (f.isnA === -1) f.isnA = d.seq
        } else if (f.isnB === -1) f.isnB = d.seq
        if (!(flags & TCP_ACK)) f.clientIsA = dir === 0
        else if (f.isnA === -1 || f.isnB === -1) f.clientIsA = dir !== 0
      }
      if (f.inspect && (d.payWireLen > 0 || flags & TCP_SYN)) this.#tcp(f, dir as 0 | 1, d)
    } else if (proto === IPPROTO_UDP) {
      if (f.inspect && d.payLen > 0) this.#udp(f, dir, d)
    }
    if (++this.#sinceSweep >= 65536) {
      this.#sinceSweep = 0
      if (this.#live > this.#maxLive) this.#evict(d.ts)
    }
  }

  /** Flows in the table (not yet finished). */
  get live(): number {
    return this.#live
  }

  #create(d: PacketDecoder, h: number, sNum: number, dNum: number): Flow {
    const id = this.#nextId++
    const f =
      this.#pool.pop()?.init(id, d.proto, h, sNum, d.src6, d.srcPort, dNum, d.dst6, d.dstPort, d.frame, d.ts) ??
      new Flow(id, d.proto, h, sNum, d.src6, d.srcPort, dNum, d.dst6, d.dstPort, d.frame, d.ts)
    if (d.macOff >= 0) f.macA = macString(d.macBuf, d.macOff)
    // Without a SYN, take the side on the lower (service) port for the server.
    if (d.proto === IPPROTO_TCP && !(d.tcpFlags & TCP_SYN) && d.srcPort < d.dstPort && d.srcPort < 49152) f.clientIsA = false
    if (d.proto !== IPPROTO_TCP && d.proto !== IPPROTO_UDP) f.inspect = false
    f.chain = this.#buckets.get(h)
    this.#buckets.set(h, f)
    // Bounded memory: never more than maxLiveFlows in the table (the new flow itself stays).
    if (++this.#live > this.#maxLive) this.#evict(d.ts, f)
    // A data connection an FTP control channel announced.
    if (this.#ftpData.size > 0 && (d.proto === IPPROTO_TCP || d.proto === IPPROTO_UDP)) {
      const dst = d.ipVersion === 4 ? `${d.dst4 >>> 24}.${(d.dst4 >>> 16) & 255}.${(d.dst4 >>> 8) & 255}.${d.dst4 & 255}` : d.dst6
      const exp = this.#ftpData.get(`${dst}|${d.dstPort}`)
      if (exp !== undefined) {
        this.#ftpData.delete(`${dst}|${d.dstPort}`)
        f.app = new FtpDataApp(this, f, exp)
      }
    }
    return f
  }

  #tcp(f: Flow, dir: 0 | 1, d: PacketDecoder): void {
    let s = dir === 0 ? f.streamA : f.streamB
    if (s === undefined) {
      s = new FlowTcpStream(this, f, dir)
      if (dir === 0) f.streamA = s
      else f.streamB = s
    }
    if (d.tcpFlags & TCP_SYN) s.syn(d.seq)
    if (d.payWireLen > 0) {
      // Data on a SYN (TCP Fast Open) starts one after the SYN's own sequence number.
      const seq = d.tcpFlags & TCP_SYN ? (d.seq + 1) >>> 0 : d.seq
      s.segment(seq, d.buf, d.payOff, d.payLen, d.payWireLen, d.frame, s)
      if (s.delivered > this.flowByteBudget) {
        this.errors.add('flow-byte-budget-reached', d.frame)
        this.#stopInspecting(f)
      }
    }
  }

  /** Reassembled bytes for the flow's application parser (classifying it first). */
  appData(f: Flow, dir: 0 | 1, buf: Buffer, off: number, len: number, frame: number): void {
    if (!f.inspect) return
    const fromClient = (dir === 0) === f.clientIsA
    let app = f.app
    if (app === undefined) {
      app = classifyTcp(this, f, fromClient, buf, off, len)
      if (app === undefined) {
        if (f.firstChunk === undefined) {
          // Keep the first bytes and give the other direction its chance to be recognised.
          f.firstChunk = Buffer.from(buf.subarray(off, off + Math.min(len, 2048)))
          f.firstChunkFromClient = fromClient
          f.firstChunkFrame = frame
          return
        }
        app = new UnknownStreamApp(this, f)
      }
      f.app = app
      const first = f.firstChunk
      if (first !== undefined) {
        f.firstChunk = undefined
        app.data(f.firstChunkFromClient, first, 0, first.length, f.firstChunkFrame)
      }
    }
    app.data(fromClient, buf, off, len, frame)
    if (app.done) this.#stopInspecting(f)
  }

  #udp(f: Flow, dir: number, d: PacketDecoder): void {
    const fromClient = (dir === 0) === f.clientIsA
    let app = f.app
    if (app === undefined) {
      app = classifyUdp(this, f, fromClient, d.buf, d.payOff, d.payLen, d.srcPort, d.dstPort)
      if (app === undefined) {
        f.inspect = false
        return
      }
      f.app = app
    }
    app.data(fromClient, d.buf, d.payOff, d.payLen, d.frame)
    if (app.done) f.inspect = false
  }

  #stopInspecting(f: Flow): void {
    f.inspect = false
    f.streamA?.release()
    f.streamB?.release()
    f.streamA = undefined
    f.streamB = undefined
    f.firstChunk = undefined
  }

  /**
   * Finish flows early until the table holds at most 80 % of maxLiveFlows: closed and idle (60 s)
   * flows first, then the least recently active. Each round frees at least a fifth of the table,
   * so the cost per flow stays O(log n). `keep` (the flow being created) is never evicted.
   */
  #evict(ts: number, keep?: Flow): void {
    const victims: Flow[] = []
    const rest: Flow[] = []
    for (const head of this.#buckets.values()) {
      for (let f: Flow | undefined = head; f !== undefined; f = f.chain) {
        if (f === keep) continue
        const closed = ((f.flagsAB | f.flagsBA) & TCP_RST) !== 0 || (f.flagsAB & f.flagsBA & TCP_FIN) !== 0
        if (closed || ts - f.end > 60) victims.push(f)
        else rest.push(f)
      }
    }
    const target = Math.floor(this.#maxLive * 0.8)
    if (this.#live - victims.length > target) {
      rest.sort((x, y) => x.end - y.end || x.lastFrame - y.lastFrame)
      victims.push(...rest.slice(0, this.#live - victims.length - target))
    }
    for (const f of victims) {
      if (!f.finished) {
        this.evicted++
        this.#finalize(f)
      }
    }
  }

  #unlink(f: Flow): void {
    let head = this.#buckets.get(f.hash)
    if (head === f) {
      if (f.chain === undefined) this.#buckets.delete(f.hash)
      else this.#buckets.set(f.hash, f.chain)
    } else {
      while (head !== undefined && head.chain !== f) head = head.chain
      if (head !== undefined) head.chain = f.chain
    }
    f.chain = undefined
    this.#live--
  }

  #finalize(f: Flow): void {
    if (f.finished) return
    f.finished = true
    this.#unlink(f)
    if (f.inspect) {
      if (f.streamA !== undefined) f.streamA.flush(f.streamA)
      if (f.streamB !== undefined) f.streamB.flush(f.streamB)
    }
    if (f.app === undefined && f.firstChunk !== undefined && f.proto === IPPROTO_TCP) {
      // A one-sided stream that never classified: let the generic scanner look at what we kept.
      const app = new UnknownStreamApp(this, f)
      app.data(f.firstChunkFromClient, f.firstChunk, 0, f.firstChunk.length, f.firstChunkFrame)
      f.app = app
    }
    f.firstChunk = undefined
    this.#stopInspecting(f)
    if (f.app !== undefined) {
      try {
        f.app.finish()
      } catch {
        this.errors.add(`${f.app.name}-finish-failed`, f.lastFrame)
      }
      if (f.protocol === '' && f.app.name !== 'unknown') f.protocol = f.app.name
    }
    this.flowCount++
    if (f.proto === IPPROTO_TCP) this.tcpFlows++
    else if (f.proto === IPPROTO_UDP) this.udpFlows++
    if (f.protocol !== '') this.protocolCounts[f.protocol] = (this.protocolCounts[f.protocol] ?? 0) + 1
    const aAddr = f.aAddr
    const bAddr = f.bAddr
    if (this.flows.length < this.#maxReport) this.flows.push(this.#summary(f, aAddr, bAddr))
    else this.flowsOmitted++
    // Kept for the policy checks: every TCP flow with payload (a hardened node's flows need a log
    // entry) and every share flow; a UDP flow that is not share traffic never matters to them.
    if ((f.proto === IPPROTO_TCP || (f.proto === IPPROTO_UDP && f.shareTraffic)) && (f.payloadAB > 0 || f.payloadBA > 0)) {
      if (this.classified.length < this.#maxReport) {
        this.classified.push({
          key: f.key(),
          protocol: f.protocol,
          encrypted: f.encrypted === true,
          share: f.shareTraffic,
          resources: f.resources ?? [],
          operations: f.operations ?? [],
          operationsDropped: f.operationsDropped,
          frames: [f.firstFrame],
          start: f.start,
          end: f.end
        })
      } else this.unchecked++
    }
    this.#hostAdd(aAddr, f.macA, f, f.pktsAB + f.pktsBA, f.bytesAB + f.bytesBA)
    if (bAddr !== aAddr) this.#hostAdd(bAddr, f.macB, f, f.pktsAB + f.pktsBA, f.bytesAB + f.bytesBA)
    // Recycle the object (see Flow): nothing refers to it any more.
    f.app = undefined
    f.resources = undefined
    f.operations = undefined
    if (this.#pool.length < this.#poolMax) this.#pool.push(f)
  }

  #summary(f: Flow, aAddr: string, bAddr: string): FlowSummary {
    return {
      id: f.id,
      proto: f.protoName,
      src: aAddr,
      srcPort: f.aPort,
      dst: bAddr,
      dstPort: f.bPort,
      client: f.clientIsA ? 'src' : 'dst',
      start: f.start,
      end: f.end,
      firstFrame: f.firstFrame,
      lastFrame: f.lastFrame,
      packets: { fwd: f.pktsAB, rev: f.pktsBA },
      bytes: { fwd: f.bytesAB, rev: f.bytesBA },
      payloadBytes: { fwd: f.payloadAB, rev: f.payloadBA },
      ...(f.proto === IPPROTO_TCP ? { tcpState: f.tcpState } : {}),
      protocol: f.protocol,
      ...(f.encrypted === undefined ? {} : { encrypted: f.encrypted })
    }
  }

  #hostAdd(addr: string, mac: string, f: Flow, frames: number, bytes: number): void {
    let h = this.#hosts.get(addr)
    if (h === undefined) {
      if (this.#hosts.size >= MAX_HOSTS) {
        this.hostsOmitted++
        return
      }
      h = { addr, macs: [], names: undefined, frames: 0, bytes: 0, flows: 0, protocols: [], firstFrame: f.firstFrame }
      this.#hosts.set(addr, h)
    }
    if (mac !== '' && mac !== '00:00:00:00:00:00' && h.macs.length < 8 && !h.macs.includes(mac)) h.macs.push(mac)
    h.frames += frames
    h.bytes += bytes
    h.flows++
    if (f.protocol !== '' && h.protocols.length < 32 && !h.protocols.includes(f.protocol)) h.protocols.push(f.protocol)
    if (f.firstFrame < h.firstFrame) h.firstFrame = f.firstFrame
  }

  hostName(addr: string, name: string, via: string): void {
    if (this.#pendingNames.length < 100_000) this.#pendingNames.push({ addr, name, via })
  }

  expectFtpData(addr: string, port: number, expected: ExpectedFtpData): void {
    if (this.#ftpData.size < 10_000) this.#ftpData.set(`${addr}|${port}`, expected)
  }

  ftpLogin(client: string, server: string, user: string, ok: boolean, frame: number, port = 21): void {
    this.#ftpLogins.login(client, server, user, ok, frame, port)
  }

  classify(flow: Flow, protocol: string, info: { encrypted: boolean; share?: boolean; resource?: string }): void {
    flow.protocol = protocol
    flow.encrypted = info.encrypted
    if (info.share === true) flow.shareTraffic = true
    if (info.resource !== undefined) {
      const list = (flow.resources ??= [])
      if (list.length < 16 && !list.includes(info.resource)) list.push(info.resource)
    }
  }

  operation(flow: Flow, op: Omit<WireOperation, 'time'>): void {
    const list = (flow.operations ??= [])
    if (list.length >= MAX_OPERATIONS_PER_FLOW) {
      flow.operationsDropped++
      return
    }
    const last = list[list.length - 1]
    // A client repeating one request (SMB create then read, HTTP range requests) is one operation.
    if (last !== undefined && last.verb === op.verb && last.path === op.path && last.share === op.share) return
    list.push({ ...op, time: this.decoder.ts })
  }

  /** Finish every live flow and the cross-flow detectors. */
  finish(): void {
    const live: Flow[] = []
    for (const head of this.#buckets.values()) for (let f: Flow | undefined = head; f !== undefined; f = f.chain) live.push(f)
    live.sort((x, y) => x.firstFrame - y.firstFrame)
    for (const f of live) this.#finalize(f)
    this.flows.sort((x, y) => x.firstFrame - y.firstFrame)
    this.#ftpLogins.finish(this.findings)
    for (const { addr, name, via } of this.#pendingNames) {
      const h = this.#hosts.get(addr)
      if (h === undefined || name === '') continue
      h.names ??= new Map()
      if (h.names.size < 32 && !h.names.has(name)) h.names.set(name, via)
    }
    for (const [ip, mac] of this.#arp) {
      const h = this.#hosts.get(ip)
      if (h !== undefined && h.macs.length < 8 && !h.macs.includes(mac)) h.macs.push(mac)
    }
  }

  hosts(): HostSummary[] {
    return [...this.#hosts.values()]
      .sort((a, b) => a.firstFrame - b.firstFrame)
      .map((h) => ({
        addr: h.addr,
        macs: [...h.macs],
        names: h.names === undefined ? [] : [...h.names].map(([name, via]) => ({ name, via })),
        frames: h.frames,
        bytes: h.bytes,
        flows: h.flows,
        protocols: [...h.protocols].sort(),
        firstFrame: h.firstFrame
      }))
  }
}
