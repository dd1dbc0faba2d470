import type { FlowKey } from '@peerguard/interface'
import type { WireOperation } from './operations.js'
import { ipv4String } from './packet-decoder.js'
import type { StreamReceiver, TcpStream } from './tcp-stream.js'

/**
 * An application parser attached to a flow once its protocol is recognised. For TCP it receives
 * each direction's reassembled bytes; for UDP, one call per datagram.
 */
export interface FlowApp {
  /** Classification label shown in the report (`smb`, `ftp`, `http`, …). */
  readonly name: string
  /** Set when the app needs no more bytes from this flow. */
  readonly done: boolean
  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void
  /** TCP only: bytes missing from one direction. */
  gap(fromClient: boolean, bytes: number): void
  /** The flow ended (or the capture did): emit findings. Called once. */
  finish(): void
}

/** One direction's reassembly that receives its own in-order bytes. */
export type FlowStream = TcpStream & StreamReceiver

/** TCP flag bits (RFC 9293). */
export const TCP_FIN = 0x01
export const TCP_SYN = 0x02
export const TCP_RST = 0x04
export const TCP_ACK = 0x10

/**
 * A conversation keyed by its 5-tuple. Side A is the sender of the first packet seen.
 *
 * Flow objects are recycled (`init`) once finished, so a capture of millions of short flows does
 * not leave millions of dead objects for the garbage collector: the engine allocates at most
 * `maxLiveFlows` plus a small pool of them. Nothing may keep a Flow after it is finished — findings
 * and summaries copy what they need.
 */
export class Flow {
  // What every packet reads or writes comes first: V8 lays class fields out in declaration order,
  // so these share the object's first cache lines (the table holds thousands of flows).
  proto = 0
  /** IPv4 address as a number, or a hash of the IPv6 address. */
  aNum = 0
  /** IPv6 text ('' for IPv4). */
  aStr = ''
  aPort = 0
  bNum = 0
  bStr = ''
  bPort = 0
  /** Next flow in the same hash bucket. */
  chain: Flow | undefined
  lastFrame = 0
  pktsAB = 0
  bytesAB = 0
  payloadAB = 0
  /** OR of the TCP flags seen in each direction. */
  flagsAB = 0
  pktsBA = 0
  bytesBA = 0
  payloadBA = 0
  flagsBA = 0
  /** Initial sequence numbers from SYNs, -1 before. */
  isnA = -1
  isnB = -1
  /** True when A opened the connection (SYN) or is taken for the client. */
  clientIsA = true
  /** Still handing payload to parsers. */
  inspect = true
  /**
   * Reassembly of A → B and B → A, each its own receiver; absent until that direction carries
   * TCP payload (memory).
   */
  streamA: FlowStream | undefined
  streamB: FlowStream | undefined
  app: FlowApp | undefined
  end = 0
  id = 0
  hash = 0
  firstFrame = 0
  start = 0
  macA = ''
  macB = ''
  /** The first payload seen, kept (≤ 2 KiB) so a late classifier can replay it. */
  firstChunk: Buffer | undefined
  firstChunkFromClient = true
  firstChunkFrame = 0
  finished = false
  /** Application protocol recognised (`smb`, `ftp`, …), '' until classified. */
  protocol = ''
  /** Whether the application protocol protects the data (TLS, SMB3 encryption, Noise…). */
  encrypted: boolean | undefined
  /** Share-traffic resources touched, when known (`share:docs`), for policy findings; absent until one is. */
  resources: string[] | undefined
  /** File operations decoded from the flow (absent until one is), and how many more were dropped. */
  operations: WireOperation[] | undefined
  operationsDropped = 0
  /** The flow carries file-share traffic (policy findings consider it). */
  shareTraffic = false

  constructor(
    id: number,
    proto: number,
    hash: number,
    aNum: number,
    aStr: string,
    aPort: number,
    bNum: number,
    bStr: string,
    bPort: number,
    frame: number,
    ts: number
  ) {
    this.init(id, proto, hash, aNum, aStr, aPort, bNum, bStr, bPort, frame, ts)
  }

  /** (Re)start this object as a new flow: every field is set, nothing of an earlier flow stays. */
  init(
    id: number,
    proto: number,
    hash: number,
    aNum: number,
    aStr: string,
    aPort: number,
    bNum: number,
    bStr: string,
    bPort: number,
    frame: number,
    ts: number
  ): this {
    this.id = id
    this.proto = proto
    this.hash = hash
    this.aNum = aNum
    this.aStr = aStr
    this.aPort = aPort
    this.bNum = bNum
    this.bStr = bStr
    this.bPort = bPort
    this.chain = undefined
    this.firstFrame = frame
    this.lastFrame = frame
    this.start = ts
    this.end = ts
    this.pktsAB = 0
    this.bytesAB = 0
    this.pktsBA = 0
    this.bytesBA = 0
    this.payloadAB = 0
    this.payloadBA = 0
    this.flagsAB = 0
    this.flagsBA = 0
    this.isnA = -1
    this.isnB = -1
    this.clientIsA = true
    this.macA = ''
    this.macB = ''
    this.app = undefined
    this.inspect = true
    this.firstChunk = undefined
    this.firstChunkFromClient = true
    this.firstChunkFrame = 0
    this.streamA = undefined
    this.streamB = undefined
    this.finished = false
    this.protocol = ''
    this.encrypted = undefined
    this.resources = undefined
    this.operations = undefined
    this.operationsDropped = 0
    this.shareTraffic = false
    return this
  }

  get aAddr(): string {
    return this.aStr === '' ? ipv4String(this.aNum) : this.aStr
  }

  get bAddr(): string {
    return this.bStr === '' ? ipv4String(this.bNum) : this.bStr
  }

  get protoName(): string {
    return this.proto === 6
      ? 'tcp'
      : this.proto === 17
        ? 'udp'
        : this.proto === 1
          ? 'icmp'
          : this.proto === 58
            ? 'icmpv6'
            : this.proto === 300
              ? 'ip-fragment'
              : this.proto === 301
                ? 'ip-malformed'
                : `ip-${this.proto}`
  }

  /** Client and server addresses. */
  get client(): { addr: string; port: number; mac: string } {
    return this.clientIsA
      ? { addr: this.aAddr, port: this.aPort, mac: this.macA }
      : { addr: this.bAddr, port: this.bPort, mac: this.macB }
  }

  get server(): { addr: string; port: number; mac: string } {
    return this.clientIsA
      ? { addr: this.bAddr, port: this.bPort, mac: this.macB }
      : { addr: this.aAddr, port: this.aPort, mac: this.macA }
  }

  /** The 5-tuple, oriented client → server (TCP/UDP only). */
  key(): FlowKey {
    const c = this.client
    const s = this.server
    return { proto: this.proto === 6 ? 'tcp' : 'udp', src: c.addr, srcPort: c.port, dst: s.addr, dstPort: s.port }
  }

  /** TCP state in words: `syn-sent`, `established`, `closed`, `reset`, `mid-stream`. */
  get tcpState(): string {
    const all = this.flagsAB | this.flagsBA
    if (all & TCP_RST) return 'reset'
    if (this.flagsAB & TCP_FIN && this.flagsBA & TCP_FIN) return 'closed'
    if (all & TCP_FIN) return 'half-closed'
    if (this.isnA !== -1 && this.isnB !== -1) return 'established'
    if (this.isnA !== -1 || this.isnB !== -1) return 'syn-sent'
    return 'mid-stream'
  }
}
