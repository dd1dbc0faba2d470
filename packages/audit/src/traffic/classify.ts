import type { AuditContext } from './context.js'
import { BittorrentApp, BittorrentUdpApp, isBittorrentHandshake, isDht, isLsd, isUtp, LsdApp } from './detectors/bittorrent.js'
import { MSE_SEARCH_BYTES, MseFollower } from './detectors/bittorrent-mse.js'
import { DiscoveryApp, discoveryProtocol } from './detectors/discovery.js'
import { EncryptedApp, isSsh, isTls } from './detectors/encrypted.js'
import { FtpApp, isFtpStart } from './detectors/ftp.js'
import { HttpApp, isHttpStart } from './detectors/http.js'
import { isLpdStart, LpdApp } from './detectors/lpd.js'
import { NTLMSSP_SIGNATURE, NtlmTracker } from './detectors/ntlm.js'
import { isPeerguardChannelInit, isPeerguardPlain, PeerguardChannelApp, PeerguardPlainApp } from './detectors/peerguard.js'
import { isRawPrintStart, RawPrintApp } from './detectors/pjl.js'
import { isRpcCall, isRpcTcpStart, RpcApp } from './detectors/rpc.js'
import { isRsyncdStart, RsyncApp } from './detectors/rsync.js'
import { isSmbStart, SmbApp } from './detectors/smb.js'
import { isTelnetStart, TelnetApp } from './detectors/telnet.js'
import { isTftpRequest, TftpApp } from './detectors/tftp.js'
import { entropy } from './detectors/text.js'
import type { Flow, FlowApp } from './flow.js'

/**
 * Recognise a TCP application protocol from the first bytes of one direction: by content, never
 * by port alone (an FTP server on port 2121 is still FTP). Each check looks at its first byte or
 * magic before anything else, so a packet of another protocol costs a few comparisons.
 */
export function classifyTcp(
  ctx: AuditContext,
  flow: Flow,
  fromClient: boolean,
  buf: Buffer,
  off: number,
  len: number
): FlowApp | undefined {
  if (isSmbStart(buf, off, len)) return new SmbApp(ctx, flow)
  if (isBittorrentHandshake(buf, off, len)) return new BittorrentApp(ctx, flow)
  if (isHttpStart(buf, off, len, fromClient)) return new HttpApp(ctx, flow)
  if (isFtpStart(buf, off, len, fromClient)) return new FtpApp(ctx, flow)
  if (fromClient && isRpcTcpStart(buf, off, len)) return new RpcApp(ctx, flow, true)
  if (isPeerguardPlain(buf, off, len)) return new PeerguardPlainApp(ctx, flow)
  if (fromClient && isPeerguardChannelInit(buf, off, len)) return new PeerguardChannelApp(ctx, flow)
  if (isTls(buf, off, len)) return new EncryptedApp(ctx, flow, 'tls')
  if (isSsh(buf, off, len)) return new EncryptedApp(ctx, flow, 'ssh')
  if (isRsyncdStart(buf, off, len)) return new RsyncApp(ctx, flow)
  if (isTelnetStart(buf, off, len)) return new TelnetApp(ctx, flow)
  if (isRawPrintStart(buf, off, len, fromClient, flow.server.port)) return new RawPrintApp(ctx, flow)
  if (isLpdStart(buf, off, len, fromClient)) return new LpdApp(ctx, flow)
  return undefined
}

/** Recognise a UDP protocol from one datagram (discovery protocols by their well-known ports). */
export function classifyUdp(
  ctx: AuditContext,
  flow: Flow,
  _fromClient: boolean,
  buf: Buffer,
  off: number,
  len: number,
  srcPort: number,
  dstPort: number
): FlowApp | undefined {
  const disc = discoveryProtocol(buf, off, len, srcPort, dstPort)
  if (disc !== undefined) return new DiscoveryApp(ctx, flow, disc)
  if (isLsd(buf, off, len)) return new LsdApp(ctx, flow)
  if (isRpcCall(buf, off, len)) return new RpcApp(ctx, flow, false)
  if (isTftpRequest(buf, off, len)) return new TftpApp(ctx, flow)
  if (isDht(buf, off, len) || isUtp(buf, off, len)) return new BittorrentUdpApp(ctx, flow)
  return undefined
}

/** Bytes per direction an unrecognised stream is scanned for NTLMSSP. */
const UNKNOWN_SCAN_BYTES = 64 * 1024
/** Bytes kept after an NTLMSSP signature for parsing the message. */
const NTLM_WINDOW_BYTES = 4096
/** BitTorrent's usual listening ports (BEP 3 6881-6889; Transmission 51413). */
const BT_PORTS = (p: number): boolean => (p >= 6881 && p <= 6999) || p === 51413

/**
 * One direction of an unrecognised stream, scanned for "NTLMSSP" without copying: only the
 * window after a signature (and the 7 bytes a signature may straddle) is kept.
 */
class NtlmScanner {
  seen = 0
  #tail: Buffer = Buffer.alloc(0)
  #window: Buffer[] = []
  #windowBytes = 0
  #windowFrames: { start: number; frame: number }[] = []
  readonly hits: { msg: Buffer; frames: { start: number; frame: number }[] }[] = []

  push(buf: Buffer, off: number, len: number, frame: number): void {
    const end = off + len
    this.seen += len
    if (this.#windowBytes > 0) {
      const take = Math.min(len, NTLM_WINDOW_BYTES - this.#windowBytes)
      this.#windowFrames.push({ start: this.#windowBytes, frame })
      this.#window.push(Buffer.from(buf.subarray(off, off + take)))
      this.#windowBytes += take
      if (this.#windowBytes >= NTLM_WINDOW_BYTES) this.#close()
      return
    }
    // A signature that straddles the previous chunk and this one.
    if (this.#tail.length > 0) {
      const joined = Buffer.concat([this.#tail, buf.subarray(off, Math.min(end, off + 8))])
      const at = joined.indexOf(NTLMSSP_SIGNATURE)
      if (at >= 0) {
        this.#open(Buffer.concat([joined.subarray(at), buf.subarray(Math.min(end, off + 8), end)]), frame)
        return
      }
    }
    const at = buf.subarray(0, end).indexOf(NTLMSSP_SIGNATURE, off)
    if (at >= 0) {
      this.#open(Buffer.from(buf.subarray(at, end)), frame)
      return
    }
    this.#tail = Buffer.from(buf.subarray(Math.max(off, end - 7), end))
  }

  #open(first: Buffer, frame: number): void {
    this.#window = [first]
    this.#windowBytes = first.length
    this.#windowFrames = [{ start: 0, frame }]
    this.#tail = Buffer.alloc(0)
    if (this.#windowBytes >= NTLM_WINDOW_BYTES) this.#close()
  }

  #close(): void {
    if (this.#windowBytes === 0) return
    if (this.hits.length < 16) this.hits.push({ msg: Buffer.concat(this.#window), frames: this.#windowFrames })
    this.#window = []
    this.#windowBytes = 0
  }

  finish(): void {
    this.#close()
  }
}

/** Name the carrier of an NTLM exchange in an unrecognised stream, from its first bytes. */
function carrierName(first: Buffer | undefined, port: number): string {
  if (first === undefined || first.length < 2) return `tcp/${port}`
  if (first[0] === 0x05 && (first[1] === 0 || first[1] === 1)) return 'dcerpc'
  if (first[0] === 0x30) return 'ldap'
  if (first[0] === 0x12 || first[0] === 0x10) return 'tds'
  if (first.toString('latin1', 0, 4) === 'EHLO' || first.toString('latin1', 0, 4) === 'HELO') return 'smtp'
  return `tcp/${port}`
}

/**
 * A stream no parser claimed: scanned for NTLMSSP AUTHENTICATE messages (LDAP, DCE/RPC, TDS, SMTP
 * carry them too) and fingerprinted for MSE/PE-obfuscated BitTorrent (high-entropy first payloads
 * of 96..608 bytes in both directions, no known magic), reported with a confidence. MSE/PE is
 * followed to the method it selected: when a plaintext BitTorrent handshake follows the MSE header
 * (crypto_select = plaintext), the rest of the stream goes to the BitTorrent parser and is
 * reported as `bittorrent-plaintext`.
 */
export class UnknownStreamApp implements FlowApp {
  name = 'unknown'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #scan: [NtlmScanner, NtlmScanner] = [new NtlmScanner(), new NtlmScanner()]
  readonly #first: [Buffer | undefined, Buffer | undefined] = [undefined, undefined]
  readonly #firstFrame: [number, number] = [0, 0]
  readonly #mse: [MseFollower, MseFollower] = [new MseFollower(), new MseFollower()]
  /** The BitTorrent parser, once a plaintext handshake followed an MSE header. */
  #bt: BittorrentApp | undefined
  readonly #btActive: [boolean, boolean] = [false, false]
  /**
   * A direction with nothing left to look for (NTLM scan and MSE search over, no BitTorrent): its
   * further bytes change nothing, so a packet of it returns at once.
   */
  #clientQuiet = false
  #serverQuiet = false

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (fromClient ? this.#clientQuiet : this.#serverQuiet) return
    const d = fromClient ? 0 : 1
    if (this.#btActive[d]) {
      this.#bt!.data(fromClient, buf, off, len, frame)
      return
    }
    if (this.#first[d] === undefined) {
      this.#first[d] = Buffer.from(buf.subarray(off, off + Math.min(len, 2048)))
      this.#firstFrame[d] = frame
    }
    const follower = this.#mse[d]
    if (follower.searching && (this.#bt !== undefined || this.#first[d]!.length >= 96)) {
      const at = follower.push(buf, off, len)
      if (at >= 0) {
        this.#bt ??= new BittorrentApp(this.#ctx, this.#flow, {
          headerBytes: () => ({ client: Math.max(0, this.#mse[0].handshakeAt), server: Math.max(0, this.#mse[1].handshakeAt) })
        })
        this.#btActive[d] = true
        const carried = follower.carry()
        if (carried.length > 0) this.#bt.data(fromClient, carried, 0, carried.length, frame)
        this.#bt.data(fromClient, buf, at, off + len - at, frame)
        return
      }
    }
    const s = this.#scan[d]
    if (s.seen < UNKNOWN_SCAN_BYTES) s.push(buf, off, len, frame)
    else if (!follower.searching) {
      // Both searches are over for good (each only ever stops) and the BitTorrent parser was not
      // started for this direction: nothing a later packet of it brings is looked at, and `done`
      // below changes only with the other direction's packets.
      if (fromClient) this.#clientQuiet = true
      else this.#serverQuiet = true
    }
    if (this.#bt === undefined && this.#scan[0].seen >= UNKNOWN_SCAN_BYTES && this.#scan[1].seen >= UNKNOWN_SCAN_BYTES)
      this.done = true
  }

  gap(fromClient: boolean, bytes: number): void {
    if (this.#btActive[fromClient ? 0 : 1]) this.#bt!.gap(fromClient, bytes)
  }

  finish(): void {
    if (this.#bt !== undefined) {
      this.name = 'bittorrent'
      this.#bt.finish()
      return
    }
    const flow = this.#flow.key()
    const server = this.#flow.server
    const ntlm = new NtlmTracker(carrierName(this.#first[0], server.port), this.#ctx, () => this.#flow.client.addr)
    for (const s of this.#scan) {
      s.finish()
      for (const h of s.hits) {
        ntlm.scan(h.msg, 0, h.msg.length, h.frames[0]?.frame ?? 0, (at) => {
          let frame = 0
          for (const c of h.frames) if (c.start <= at) frame = c.frame
          return frame
        })
      }
    }
    if (ntlm.count > 0) {
      this.name = ntlm.carrier
      ntlm.finish(flow)
      this.#ctx.classify(this.#flow, ntlm.carrier, { encrypted: false })
      return
    }
    const [c, s] = this.#first
    if (c === undefined || s === undefined) return
    const ec = entropy(c, 0, c.length)
    const es = entropy(s, 0, s.length)
    const sizeOk = (b: Buffer): boolean => b.length >= 96 && b.length <= 608 + 512
    // Random data of n bytes shows at most log2(n) bits/byte; require most of that.
    const high = (b: Buffer, e: number): boolean => e >= Math.min(7.0, Math.log2(b.length) - 1.2)
    if (sizeOk(c) && sizeOk(s) && high(c, ec) && high(s, es)) {
      let confidence = 0.5
      if (BT_PORTS(server.port)) confidence += 0.3
      if (c.length > 96 && s.length > 96) confidence += 0.1
      this.name = 'bittorrent-mse'
      this.#ctx.findings.add({
        code: 'bittorrent-encrypted',
        title: `likely MSE/PE-encrypted BitTorrent ${flow.src} → ${flow.dst}:${flow.dstPort} (confidence ${confidence.toFixed(1)})`,
        flow,
        evidence: {
          confidence: Number(confidence.toFixed(2)),
          // crypto_select holds for both directions: one that went past the longest MSE header
          // without a plaintext handshake means RC4 was selected.
          method: this.#mse[0].seen >= MSE_SEARCH_BYTES || this.#mse[1].seen >= MSE_SEARCH_BYTES ? 'rc4' : 'unknown',
          firstPayloadBytes: { client: c.length, server: s.length },
          entropyBitsPerByte: { client: Number(ec.toFixed(2)), server: Number(es.toFixed(2)) }
        },
        frames: [this.#firstFrame[0], this.#firstFrame[1]]
      })
      this.#ctx.classify(this.#flow, 'bittorrent-mse', { encrypted: true, share: true })
    }
  }
}
