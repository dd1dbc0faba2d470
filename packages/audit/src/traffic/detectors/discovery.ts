import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { decodeNetbiosName, parseDnsMessage, readName } from './dns-message.js'
import { addDistinct, clean } from './text.js'

export type DiscoveryProtocol = 'mdns' | 'llmnr' | 'nbns' | 'netbios-browser' | 'ssdp' | 'ws-discovery'

/** Which discovery protocol a UDP datagram speaks, from its ports and a content check. */
export function discoveryProtocol(
  buf: Buffer,
  off: number,
  len: number,
  srcPort: number,
  dstPort: number
): DiscoveryProtocol | undefined {
  const either = (p: number): boolean => srcPort === p || dstPort === p
  if (either(5353) && len >= 12) return 'mdns'
  if (either(5355) && len >= 12) return 'llmnr'
  if (either(137) && len >= 12) return 'nbns'
  if (either(138) && len >= 14 && buf[off]! >= 0x10 && buf[off]! <= 0x16) return 'netbios-browser'
  // WS-Discovery (SOAP over UDP 3702): Probe/Hello/ProbeMatch of WSD printers and scanners.
  if (either(3702) && len >= 16 && buf[off] === 0x3c) return 'ws-discovery'
  if (len >= 8) {
    const head = buf.toString('latin1', off, off + 12)
    if (
      (either(1900) || head.startsWith('M-SEARCH * ') || head.startsWith('NOTIFY * HT')) &&
      /^(M-SEARCH|NOTIFY|HTTP\/1\.1)/.test(head)
    )
      return 'ssdp'
  }
  return undefined
}

const LABEL: Record<DiscoveryProtocol, string> = {
  mdns: 'mDNS',
  llmnr: 'LLMNR',
  nbns: 'NBNS',
  'netbios-browser': 'NetBIOS browser',
  ssdp: 'SSDP',
  'ws-discovery': 'WS-Discovery'
}

/**
 * Discovery chatter (mDNS, LLMNR, NBNS, NetBIOS browser, SSDP): the names, services and device
 * descriptions a host announces or asks for. One `discovery-leak` finding per flow.
 */
export class DiscoveryApp implements FlowApp {
  readonly name: string
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #proto: DiscoveryProtocol
  readonly #names: string[] = []
  readonly #queries: string[] = []
  readonly #details: string[] = []
  #messages = 0
  #frames: number[] = []

  constructor(ctx: AuditContext, flow: Flow, proto: DiscoveryProtocol) {
    this.#ctx = ctx
    this.#flow = flow
    this.#proto = proto
    this.name = proto
  }

  data(_fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    this.#messages++
    noteFrame(this.#frames, frame)
    const sender = this.#flow.aAddr
    switch (this.#proto) {
      case 'mdns':
      case 'llmnr': {
        const f = parseDnsMessage(buf, off, off + len)
        if (f === undefined) {
          this.#ctx.errors.add(`${this.#proto}-malformed`, frame)
          return
        }
        // The root name ('', the owner of EDNS OPT records) names nothing: never evidence.
        for (const q of f.questions) if (q !== '') addDistinct(this.#queries, q, 64)
        for (const a of f.answers) if (a !== '') addDistinct(this.#names, a, 64)
        for (const t of f.targets) if (t !== '') addDistinct(this.#names, t, 64)
        for (const a of f.addresses) if (a.name !== '') this.#ctx.hostName(a.addr, a.name, this.#proto)
        break
      }
      case 'nbns': {
        const f = parseDnsMessage(buf, off, off + len)
        if (f === undefined) {
          this.#ctx.errors.add('nbns-malformed', frame)
          return
        }
        for (const n of [...f.questions, ...f.answers]) {
          const name = decodeNetbiosName(n)
          if (name !== undefined) {
            addDistinct(this.#names, name, 64)
            if (f.questions.length > 0 && !f.response) this.#ctx.hostName(sender, name, 'nbns')
          }
        }
        break
      }
      case 'netbios-browser': {
        // NetBIOS datagram (RFC 1002 4.4.1): 14-byte header, then source and destination names.
        const src = readName(buf, off + 14, off + len)
        if (src === undefined) {
          this.#ctx.errors.add('nbdgm-malformed', frame)
          return
        }
        const dst = readName(buf, src.next, off + len)
        const s = decodeNetbiosName(src.name)
        if (s !== undefined) {
          addDistinct(this.#names, s, 64)
          this.#ctx.hostName(sender, s, 'netbios-browser')
        }
        const d = dst === undefined ? undefined : decodeNetbiosName(dst.name)
        if (d !== undefined) addDistinct(this.#names, d, 64)
        const text = buf.toString('latin1', off, off + len)
        if (text.includes('\\MAILSLOT\\BROWSE') || text.includes('\\MAILSLOT\\LANMAN'))
          addDistinct(this.#details, 'browser announcement')
        break
      }
      case 'ssdp': {
        const text = buf.toString('latin1', off, off + Math.min(len, 4096))
        const first = text.split('\r\n', 1)[0] ?? ''
        addDistinct(this.#queries, clean(first, 80), 16)
        for (const m of text.matchAll(/^(SERVER|USER-AGENT|LOCATION|ST|NT|USN):\s*(.+?)\s*$/gim)) {
          addDistinct(this.#details, `${m[1]!.toUpperCase()}: ${clean(m[2]!, 200)}`, 64)
        }
        break
      }
      case 'ws-discovery': {
        const text = buf.toString('utf8', off, off + Math.min(len, 8192))
        const action = /<(?:[A-Za-z0-9_-]+:)?Action[^>]*>[^<]*\/([A-Za-z]+)<\//.exec(text)
        if (action !== null) addDistinct(this.#queries, action[1]!, 16)
        for (const tag of ['Types', 'XAddrs', 'Address']) {
          const m = new RegExp(`<(?:[A-Za-z0-9_-]+:)?${tag}[^>]*>([^<]{1,300})</`).exec(text)
          if (m !== null) addDistinct(this.#details, `${tag}: ${clean(m[1]!.trim(), 200)}`, 64)
        }
        break
      }
    }
    if (this.#messages > 10_000) this.done = true
  }

  gap(): void {}

  finish(): void {
    if (this.#messages === 0) return
    const flow = this.#flow.key()
    const what = [...this.#names, ...this.#queries].slice(0, 4).join(', ')
    this.#ctx.findings.add({
      code: 'discovery-leak',
      title: `${LABEL[this.#proto]} from ${flow.src}: ${what || `${this.#messages} messages`}`,
      flow,
      evidence: {
        protocol: this.#proto,
        names: this.#names,
        queries: this.#queries,
        details: this.#details,
        messages: this.#messages
      },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, this.#proto, { encrypted: false })
  }
}
