import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { MessageFramer } from '../message-framer.js'
import { decodeBencode } from './bencode.js'
import { addDistinct, clean } from './text.js'

/** "\x13BitTorrent protocol" (BEP 3 handshake prefix). */
export const BT_PROTOCOL = Buffer.from('\x13BitTorrent protocol', 'latin1')
const HANDSHAKE_BYTES = 68

export function isBittorrentHandshake(buf: Buffer, off: number, len: number): boolean {
  return len >= 20 && buf.compare(BT_PROTOCOL, 0, 20, off, off + 20) === 0
}

function peerIdText(id: Buffer): string {
  // Azureus-style ids start with "-XX1234-"; keep the printable client prefix only.
  const text = id.toString('latin1')
  const m = /^(-[A-Za-z~]{2}[0-9A-Za-z]{4}-|A2-\d+-\d+-\d+-)/.exec(text)
  if (m !== null) return m[0]
  // Other clients (aria2 "A2-1-36-0-", Shadow-style "M7-2-2--") put a printable prefix before random bytes.
  const p = /^[\x21-\x7e]{4,}/.exec(text)
  return p !== null ? p[0] : clean(text.replace(/[^\x20-\x7e]/g, '.'), 20)
}

class BtDirection {
  readonly #hs = Buffer.alloc(HANDSHAKE_BYTES)
  #have = 0
  readonly framer: MessageFramer
  constructor(
    readonly onHandshake: (hs: Buffer, frame: number) => void,
    onPiece: (frame: number) => void
  ) {
    this.framer = new MessageFramer(
      4,
      1,
      (h) => {
        const n = h.readUInt32BE(0)
        return n > 4 * 1024 * 1024 ? -1 : n
      },
      (_h, body, len, frame) => {
        if (len > 0 && body[0] === 7) onPiece(frame)
      }
    )
  }
  push(buf: Buffer, off: number, len: number, frame: number): void {
    if (this.#have < HANDSHAKE_BYTES) {
      const take = Math.min(HANDSHAKE_BYTES - this.#have, len)
      buf.copy(this.#hs, this.#have, off, off + take)
      this.#have += take
      off += take
      len -= take
      if (this.#have === HANDSHAKE_BYTES) this.onHandshake(this.#hs, frame)
      if (len === 0) return
    }
    this.framer.push(buf, off, len, frame)
  }
}

/**
 * BitTorrent peer wire in clear (BEP 3): the handshake's info-hash and peer id, and piece
 * messages counted per direction (the piece data is skipped, not copied).
 */
export class BittorrentApp implements FlowApp {
  readonly name = 'bittorrent'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  /** Set when the handshake followed an MSE/PE header that selected the plaintext method. */
  readonly #mse: { headerBytes: () => { client: number; server: number } } | undefined
  /** Each direction in a field of its own (no array between the app and it on every packet). */
  readonly #fromClient: BtDirection
  readonly #fromServer: BtDirection
  readonly #infoHashes: string[] = []
  readonly #peerIds: string[] = []
  #pieces = 0
  #frames: number[] = []
  #pieceFrames: number[] = []

  constructor(ctx: AuditContext, flow: Flow, mse?: { headerBytes: () => { client: number; server: number } }) {
    this.#ctx = ctx
    this.#flow = flow
    this.#mse = mse
    const hs = (h: Buffer, frame: number): void => {
      if (h.compare(BT_PROTOCOL, 0, 20, 0, 20) !== 0) {
        this.#ctx.errors.add('bittorrent-bad-handshake', frame)
        return
      }
      addDistinct(this.#infoHashes, h.toString('hex', 28, 48))
      addDistinct(this.#peerIds, peerIdText(h.subarray(48, 68)))
      noteFrame(this.#frames, frame)
    }
    const piece = (frame: number): void => {
      this.#pieces++
      noteFrame(this.#pieceFrames, frame)
    }
    this.#fromClient = new BtDirection(hs, piece)
    this.#fromServer = new BtDirection(hs, piece)
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).push(buf, off, len, frame)
  }

  gap(fromClient: boolean, bytes: number): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).framer.gap(bytes)
  }

  finish(): void {
    if (this.#infoHashes.length === 0) return
    const flow = this.#flow.key()
    const mse = this.#mse === undefined ? {} : { obfuscation: 'mse-plaintext', mseHeaderBytes: this.#mse.headerBytes() }
    this.#ctx.findings.add({
      code: 'bittorrent-plaintext',
      title: `BitTorrent in clear with ${flow.dst}:${flow.dstPort} (info-hash ${this.#infoHashes[0]}${this.#mse === undefined ? '' : ', after an MSE/PE handshake that chose plaintext'})`,
      flow,
      evidence: { transport: 'tcp', infoHashes: this.#infoHashes, peerIds: this.#peerIds, pieces: this.#pieces, ...mse },
      frames: [...this.#frames, ...this.#pieceFrames.slice(0, 8)]
    })
    this.#ctx.classify(this.#flow, 'bittorrent', { encrypted: false, share: true })
  }
}

/** uTP header (BEP 29): version 1, type 0..4, an extension byte 0..4. */
export function isUtp(buf: Buffer, off: number, len: number): boolean {
  if (len < 20) return false
  const b0 = buf[off]!
  return (b0 & 0x0f) === 1 && b0 >> 4 <= 4 && buf[off + 1]! <= 4
}

/** A bencoded KRPC message (BEP 5): a dictionary with `y` in q/r/e and a transaction id `t`. */
export function isDht(buf: Buffer, off: number, len: number): boolean {
  if (len < 8 || buf[off] !== 0x64) return false
  const v = decodeBencode(buf, off, off + len)
  if (!(v instanceof Map)) return false
  const y = v.get('y')
  return Buffer.isBuffer(y) && /^[qre]$/.test(y.toString('latin1')) && v.has('t')
}

/**
 * BitTorrent over UDP: uTP connections (with the plaintext handshake inside ST_DATA packets) and
 * DHT KRPC queries and replies, which often share one socket.
 */
export class BittorrentUdpApp implements FlowApp {
  readonly name = 'bittorrent-udp'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #infoHashes: string[] = []
  readonly #peerIds: string[] = []
  readonly #dhtQueries: string[] = []
  readonly #dhtHashes: string[] = []
  #dht = 0
  #utp = 0
  #dhtFrames: number[] = []
  #utpFrames: number[] = []
  #hsFrames: number[] = []

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(_fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (buf[off] === 0x64) {
      const v = decodeBencode(buf, off, off + len)
      if (!(v instanceof Map)) {
        this.#ctx.errors.add('dht-bad-bencode', frame)
        return
      }
      this.#dht++
      noteFrame(this.#dhtFrames, frame)
      const q = v.get('q')
      if (Buffer.isBuffer(q)) addDistinct(this.#dhtQueries, clean(q.toString('latin1'), 32))
      const a = v.get('a')
      if (a instanceof Map) {
        const ih = a.get('info_hash')
        if (Buffer.isBuffer(ih) && ih.length === 20) addDistinct(this.#dhtHashes, ih.toString('hex'))
      }
      return
    }
    if (!isUtp(buf, off, len)) return
    this.#utp++
    noteFrame(this.#utpFrames, frame)
    // Skip the extension chain: [next type, length, data…] after the 20-byte header.
    let ext = buf[off + 1]!
    let p = off + 20
    for (let n = 0; ext !== 0 && n < 8; n++) {
      if (p + 2 > off + len) return
      ext = buf[p]!
      p += 2 + buf[p + 1]!
    }
    const end = off + len
    if (buf[off]! >> 4 === 0 && end - p >= 68 && isBittorrentHandshake(buf, p, end - p)) {
      addDistinct(this.#infoHashes, buf.toString('hex', p + 28, p + 48))
      addDistinct(this.#peerIds, peerIdText(buf.subarray(p + 48, p + 68)))
      noteFrame(this.#hsFrames, frame)
    }
  }

  gap(): void {}

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    if (this.#infoHashes.length > 0) {
      add({
        code: 'bittorrent-plaintext',
        title: `BitTorrent over uTP in clear with ${flow.dst}:${flow.dstPort} (info-hash ${this.#infoHashes[0]})`,
        flow,
        evidence: { transport: 'utp', infoHashes: this.#infoHashes, peerIds: this.#peerIds, utpPackets: this.#utp },
        frames: [...this.#hsFrames, ...this.#utpFrames.slice(0, 4)]
      })
    }
    if (this.#dht > 0) {
      add({
        code: 'bittorrent-dht',
        title: `BitTorrent DHT traffic between ${flow.src} and ${flow.dst} (${this.#dht} messages)`,
        flow,
        evidence: { messages: this.#dht, queries: this.#dhtQueries, infoHashes: this.#dhtHashes },
        frames: this.#dhtFrames
      })
    }
    this.#ctx.classify(this.#flow, this.#infoHashes.length > 0 || this.#utp > 0 ? 'bittorrent-utp' : 'bittorrent-dht', {
      encrypted: false,
      share: this.#infoHashes.length > 0
    })
  }
}

/** BitTorrent Local Service Discovery (BEP 14): `BT-SEARCH * HTTP/1.1` multicast with info-hashes. */
export function isLsd(buf: Buffer, off: number, len: number): boolean {
  return len >= 20 && buf.toString('latin1', off, off + 20) === 'BT-SEARCH * HTTP/1.1'
}

export class LsdApp implements FlowApp {
  readonly name = 'bittorrent-lsd'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #hashes: string[] = []
  readonly #ports: string[] = []
  #frames: number[] = []

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(_fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    const text = buf.toString('latin1', off, off + Math.min(len, 4096))
    if (!text.startsWith('BT-SEARCH')) return
    noteFrame(this.#frames, frame)
    for (const m of text.matchAll(/^Infohash:\s*([0-9A-Fa-f]{40})\s*$/gim)) addDistinct(this.#hashes, m[1]!.toLowerCase())
    const port = /^Port:\s*(\d+)/im.exec(text)
    if (port !== null) addDistinct(this.#ports, port[1]!)
  }

  gap(): void {}

  finish(): void {
    if (this.#frames.length === 0) return
    const flow = this.#flow.key()
    this.#ctx.findings.add({
      code: 'bittorrent-lsd',
      title: `${flow.src} announces ${this.#hashes.length} info-hash(es) on the LAN (BitTorrent LSD)`,
      flow,
      evidence: { infoHashes: this.#hashes, ports: this.#ports },
      frames: this.#frames
    })
    this.#ctx.classify(this.#flow, 'bittorrent-lsd', { encrypted: false })
  }
}
