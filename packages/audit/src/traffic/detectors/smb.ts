import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { MessageFramer } from '../message-framer.js'
import { smbCreateVerb, smbShareName } from '../operations.js'
import { NtlmTracker } from './ntlm.js'
import { addDistinct, latin1, utf16 } from './text.js'

/** Bytes of each SMB message kept for parsing (headers, negotiate, session setup, tree connect). */
const SMB_PREFIX_BYTES = 16 * 1024

/** True when `buf[off]` starts a NetBIOS session message carrying SMB1/2/3 (or a session request). */
export function isSmbStart(buf: Buffer, off: number, len: number): boolean {
  if (len >= 8 && buf[off] === 0x00 && isSmbMagic(buf, off + 4)) return true
  // NetBIOS session request (RFC 1002 4.3.2), as used on port 139, with two encoded names.
  return len >= 72 && buf[off] === 0x81 && buf[off + 4] === 0x20 && ((buf[off + 2]! << 8) | buf[off + 3]!) === len - 4
}

function isSmbMagic(buf: Buffer, o: number): boolean {
  const m = buf[o]
  return (
    (m === 0xff || m === 0xfe || m === 0xfd || m === 0xfc) && buf[o + 1] === 0x53 && buf[o + 2] === 0x4d && buf[o + 3] === 0x42
  )
}

/** SMB2 commands that touch file data or metadata ([MS-SMB2] 2.2.1). */
const SMB2_DATA_COMMANDS = new Set([5, 6, 7, 8, 9, 0x0a, 0x0e, 0x0f, 0x10, 0x11])
/** SMB1 commands that touch file data ([MS-CIFS] 2.2.2.1). */
const SMB1_DATA_COMMANDS = new Set([0x0a, 0x0b, 0x2d, 0x2e, 0x2f, 0x32, 0xa2, 0x06, 0x07, 0x08, 0x09])
const SMB1_ANDX = new Set([0x73, 0x75, 0x2d, 0x2e, 0x2f, 0xa2, 0x24])
const STATUS_PENDING = 0x00000103
const SMB_ASCII = Buffer.from('SMB', 'latin1')

interface Tree {
  path: string
  /** disk, pipe, print, or unknown. */
  type: string
  encrypt: boolean
}

/**
 * SMB1/SMB2/SMB3 session parser: dialects offered and chosen, signing and encryption, sessions
 * (NTLM, guest, anonymous), tree connects and file names. Emits the `smb-*`, `ntlm-*` findings.
 */
export class SmbApp implements FlowApp {
  readonly name = 'smb'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  /** Each direction's framer in a field of its own (no array between the app and it on every packet). */
  readonly #fromClient: MessageFramer
  readonly #fromServer: MessageFramer
  readonly #ntlm: NtlmTracker
  #smb1Offered: string[] = []
  #smb1Chosen: string | undefined
  #smb1SecurityMode = -1
  #clientRequiresSigning = false
  #smb2Offered: string[] = []
  #smb2Dialect = -1
  #smb2SecurityMode = -1
  #smb2Caps = 0
  #negotiateFrames: number[] = []
  #smb1Frames: number[] = []
  readonly #trees = new Map<string, Tree>()
  readonly #pendingTrees = new Map<string, string>()
  #shares: string[] = []
  #files: string[] = []
  #signed = 0
  #unsigned = 0
  #unsignedFrames: number[] = []
  #plainData = 0
  #plainFrames: number[] = []
  #plainShares: string[] = []
  #encrypted = 0
  #encryptedFrames: number[] = []
  #guest = false
  #guestFrames: number[] = []
  #nativeOs = ''
  #resyncBytes = 0

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
    this.#ntlm = new NtlmTracker('smb', ctx, () => flow.client.addr)
    const lengthOf = (h: Buffer): number => {
      const type = h[0]!
      if (type === 0x00) return (h[1]! << 16) | (h[2]! << 8) | h[3]!
      if (type >= 0x81 && type <= 0x85) return ((h[1]! & 1) << 16) | (h[2]! << 8) | h[3]!
      return -1
    }
    const resync = (buf: Buffer, off: number, len: number): number => {
      // Look for "SMB" (native search), then check the protocol byte and the NBSS type before it.
      const end = off + len
      let at = buf.indexOf(SMB_ASCII, off + 5)
      while (at >= 0 && at + 3 <= end) {
        if (isSmbMagic(buf, at - 1) && buf[at - 5] === 0) return at - 5
        at = buf.indexOf(SMB_ASCII, at + 1)
      }
      this.#resyncBytes += len
      // A stream that stays out of sync for 1 MiB is not worth scanning further.
      if (this.#resyncBytes > 1024 * 1024) this.done = true
      return -1
    }
    this.#fromClient = new MessageFramer(
      4,
      SMB_PREFIX_BYTES,
      lengthOf,
      (h, b, _l, f, dmg) => this.#message(true, h, b, f, dmg),
      resync
    )
    this.#fromServer = new MessageFramer(
      4,
      SMB_PREFIX_BYTES,
      lengthOf,
      (h, b, _l, f, dmg) => this.#message(false, h, b, f, dmg),
      resync
    )
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).push(buf, off, len, frame)
  }

  gap(fromClient: boolean, bytes: number): void {
    ;(fromClient ? this.#fromClient : this.#fromServer).gap(bytes)
  }

  #message(fromClient: boolean, header: Buffer, body: Buffer, frame: number, damaged: boolean): void {
    if (header[0] !== 0x00 || body.length < 4) return
    try {
      const m = body[0]
      if (m === 0xff) this.#smb1(fromClient, body, frame)
      else if (m === 0xfe) this.#smb2(fromClient, body, frame)
      else if (m === 0xfd) {
        this.#encrypted++
        noteFrame(this.#encryptedFrames, frame)
      } else if (m !== 0xfc) this.#ctx.errors.add('smb-bad-protocol-id', frame)
    } catch {
      this.#ctx.errors.add(damaged ? 'smb-damaged-message' : 'smb-garbage', frame)
    }
  }

  #smb1(fromClient: boolean, b: Buffer, frame: number): void {
    if (b.length < 35) {
      this.#ctx.errors.add('smb1-truncated', frame)
      return
    }
    let cmd = b[4]!
    const flags2 = b.readUInt16LE(10)
    const unicode = (flags2 & 0x8000) !== 0
    const tid = b.readUInt16LE(24)
    const uid = b.readUInt16LE(28)
    const mid = b.readUInt16LE(30)
    const status = b.readUInt32LE(5)
    noteFrame(this.#smb1Frames, frame)
    if (cmd !== 0x72 && cmd !== 0x73 && uid !== 0) {
      if (flags2 & 0x0004) this.#signed++
      else if (status !== STATUS_PENDING) {
        this.#unsigned++
        noteFrame(this.#unsignedFrames, frame)
      }
    }
    let o = 32
    for (let hops = 0; hops < 8 && o < b.length; hops++) {
      const wc = b[o]!
      const words = o + 1
      const bcOff = words + 2 * wc
      if (bcOff + 2 > b.length) return
      const bc = b.readUInt16LE(bcOff)
      const bytes = bcOff + 2
      const bytesEnd = Math.min(b.length, bytes + bc)
      if (cmd === 0x72) this.#smb1Negotiate(fromClient, b, wc, words, bytes, bytesEnd, frame)
      else if (cmd === 0x73) {
        this.#ntlm.scan(b, bytes, bytesEnd, frame)
        if (!fromClient && wc >= 3 && status === 0 && b.readUInt16LE(words + 4) & 1) {
          this.#guest = true
          noteFrame(this.#guestFrames, frame)
        }
        if (!fromClient && this.#nativeOs === '' && wc >= 3) {
          const blobLen = wc === 4 ? b.readUInt16LE(words + 6) : 0
          let s = bytes + blobLen
          if (unicode && s % 2 === 1) s++
          this.#nativeOs = unicode ? utf16z(b, s, bytesEnd) : latin1z(b, s, bytesEnd)
        }
      } else if (cmd === 0x75) {
        if (fromClient && wc >= 4) {
          const pwLen = b.readUInt16LE(words + 6)
          let s = bytes + pwLen
          if (unicode && s % 2 === 1) s++
          const path = unicode ? utf16z(b, s, bytesEnd) : latin1z(b, s, bytesEnd)
          if (path !== '') this.#pendingTrees.set(`1:${mid}`, path)
        } else if (!fromClient) {
          const path = this.#pendingTrees.get(`1:${mid}`)
          if (path !== undefined && status === 0) {
            const service = latin1z(b, bytes, bytesEnd)
            const type = service.startsWith('A:')
              ? 'disk'
              : service.startsWith('IPC')
                ? 'pipe'
                : service.startsWith('LPT')
                  ? 'print'
                  : 'unknown'
            this.#addTree(`1:${tid}`, path, type, false)
          }
        }
      } else if (cmd === 0xa2 && fromClient && wc >= 24) {
        const nameLen = b.readUInt16LE(words + 5)
        let s = bytes
        if (unicode && s % 2 === 1) s++
        const name = unicode ? utf16(b, s, nameLen, 200) : latin1(b, s, nameLen, 200)
        if (name !== '' && name !== '\\' && this.#trees.get(`1:${tid}`)?.type !== 'pipe') addDistinct(this.#files, name)
        this.#create(`1:${tid}`, name, b.readUInt32LE(words + 15), b.readUInt32LE(words + 35), b.readUInt32LE(words + 39), frame)
      }
      if (SMB1_DATA_COMMANDS.has(cmd) && uid !== 0) this.#dataFrame(`1:${tid}`, frame)
      if (!SMB1_ANDX.has(cmd) || wc < 2) return
      const next = b[words]!
      const nextOff = b.readUInt16LE(words + 2)
      if (next === 0xff || nextOff <= o || nextOff >= b.length) return
      cmd = next
      o = nextOff
    }
  }

  #smb1Negotiate(
    fromClient: boolean,
    b: Buffer,
    wc: number,
    words: number,
    bytes: number,
    bytesEnd: number,
    frame: number
  ): void {
    noteFrame(this.#negotiateFrames, frame)
    if (fromClient) {
      const dialects: string[] = []
      let p = bytes
      while (p < bytesEnd && dialects.length < 64) {
        if (b[p] !== 0x02) break
        const z = b.indexOf(0, p + 1)
        const e = z < 0 || z > bytesEnd ? bytesEnd : z
        dialects.push(latin1(b, p + 1, e - p - 1, 64))
        p = e + 1
      }
      this.#smb1Offered = dialects
      return
    }
    if (wc < 1) return
    const index = b.readUInt16LE(words)
    if (index === 0xffff) return
    this.#smb1Chosen = this.#smb1Offered[index] ?? `dialect #${index}`
    if (wc >= 17) this.#smb1SecurityMode = b[words + 2]!
    else if (wc >= 13) this.#smb1SecurityMode = b.readUInt16LE(words + 2)
  }

  #smb2(fromClient: boolean, b: Buffer, frame: number): void {
    let base = 0
    for (let hops = 0; hops < 32; hops++) {
      if (b.length - base < 64 || b[base] !== 0xfe || b.readUInt16LE(base + 4) !== 64) {
        this.#ctx.errors.add('smb2-bad-header', frame)
        return
      }
      const status = b.readUInt32LE(base + 8)
      const cmd = b.readUInt16LE(base + 12)
      const flags = b.readUInt32LE(base + 16)
      const next = b.readUInt32LE(base + 20)
      const msgId = b.readUInt32LE(base + 24)
      const async = (flags & 2) !== 0
      const treeId = async ? -1 : b.readUInt32LE(base + 36)
      const session = b.readUInt32LE(base + 40) + b.readUInt32LE(base + 44) * 4294967296
      const signed = (flags & 8) !== 0
      const body = base + 64
      const end = next > 0 ? Math.min(b.length, base + next) : b.length
      if (cmd > 1 && session !== 0 && cmd !== 0x0c && cmd !== 0x0d && cmd !== 0x12) {
        if (signed) this.#signed++
        else if (status !== STATUS_PENDING) {
          this.#unsigned++
          noteFrame(this.#unsignedFrames, frame)
        }
      }
      if (cmd === 0) this.#smb2Negotiate(fromClient, b, body, end, frame)
      else if (cmd === 1) {
        this.#ntlm.scan(b, body, end, frame)
        if (!fromClient && status === 0 && end - body >= 4 && b.readUInt16LE(body + 2) & 0x3) {
          this.#guest = true
          noteFrame(this.#guestFrames, frame)
        }
      } else if (cmd === 3) {
        if (fromClient && end - body >= 8) {
          const po = b.readUInt16LE(body + 4)
          const pl = b.readUInt16LE(body + 6)
          const path = utf16(b, base + po, pl, 200)
          if (path !== '') this.#pendingTrees.set(`2:${msgId}`, path)
        } else if (!fromClient && end - body >= 8) {
          const path = this.#pendingTrees.get(`2:${msgId}`)
          if (path !== undefined && status === 0) {
            const t = b[body + 2]
            const type = t === 1 ? 'disk' : t === 2 ? 'pipe' : t === 3 ? 'print' : 'unknown'
            this.#addTree(`2:${treeId}`, path, type, (b.readUInt32LE(body + 4) & 0x8000) !== 0)
          }
        }
      } else if (cmd === 5 && fromClient && end - body >= 48) {
        const no = b.readUInt16LE(body + 44)
        const nl = b.readUInt16LE(body + 46)
        const name = utf16(b, base + no, nl, 200)
        if (name !== '' && (treeId === -1 || this.#trees.get(`2:${treeId}`)?.type !== 'pipe')) addDistinct(this.#files, name)
        const at = body
        this.#create(`2:${treeId}`, name, b.readUInt32LE(at + 24), b.readUInt32LE(at + 36), b.readUInt32LE(at + 40), frame)
      }
      if (SMB2_DATA_COMMANDS.has(cmd) && session !== 0 && treeId !== -1) this.#dataFrame(`2:${treeId}`, frame)
      if (next === 0 || next < 64 || base + next >= b.length) return
      base += next
    }
  }

  #smb2Negotiate(fromClient: boolean, b: Buffer, body: number, end: number, frame: number): void {
    noteFrame(this.#negotiateFrames, frame)
    if (fromClient) {
      if (end - body < 36) return
      const count = b.readUInt16LE(body + 2)
      if (b.readUInt16LE(body + 4) & 2) this.#clientRequiresSigning = true
      const list: number[] = []
      for (let i = 0; i < count && i < 64 && body + 36 + 2 * i + 2 <= end; i++) list.push(b.readUInt16LE(body + 36 + 2 * i))
      this.#smb2Offered = list.map(dialectName)
      return
    }
    if (end - body < 28) return
    this.#smb2SecurityMode = b.readUInt16LE(body + 2)
    const dialect = b.readUInt16LE(body + 4)
    // 0x02FF is the wildcard answer to an SMB1 multi-protocol negotiate; the real one follows.
    if (dialect !== 0x02ff || this.#smb2Dialect === -1) this.#smb2Dialect = dialect
    this.#smb2Caps = b.readUInt32LE(body + 24)
  }

  /** An open on a disk share, as a file operation for the per-path policy checks. */
  #create(treeKey: string, name: string, access: number, disposition: number, options: number, frame: number): void {
    const tree = this.#trees.get(treeKey)
    if (tree === undefined || tree.type !== 'disk') return
    const verb = smbCreateVerb(access, disposition, options)
    this.#ctx.operation(this.#flow, { verb, path: name, share: smbShareName(tree.path), command: 'CREATE', frame })
  }

  #addTree(key: string, path: string, type: string, encrypt: boolean): void {
    if (this.#trees.size < 256) this.#trees.set(key, { path, type, encrypt })
    addDistinct(this.#shares, path)
  }

  #dataFrame(treeKey: string, frame: number): void {
    const tree = this.#trees.get(treeKey)
    if (tree !== undefined && tree.type !== 'disk') return
    if (tree === undefined && this.#trees.size > 0 && [...this.#trees.values()].every((t) => t.type !== 'disk')) return
    this.#plainData++
    noteFrame(this.#plainFrames, frame)
    if (tree !== undefined) addDistinct(this.#plainShares, tree.path)
  }

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    const smb2 = this.#smb2Dialect !== -1
    const dialect = smb2 ? dialectName(this.#smb2Dialect) : this.#smb1Chosen
    const server = `${flow.dst}:${flow.dstPort}`
    // SMB1 in use: an SMB1 dialect was chosen, or SMB1 session traffic without a negotiate seen.
    const smb1Session = this.#smb1Chosen !== undefined || (!smb2 && this.#smb1Frames.length > 0 && this.#smb1Offered.length === 0)
    if (smb1Session) {
      add({
        code: 'smb1-in-use',
        title: `SMB1 (${this.#smb1Chosen ?? 'session traffic'}) with ${server}`,
        flow,
        evidence: { dialect: this.#smb1Chosen, offered: this.#smb1Offered, nativeOs: this.#nativeOs || undefined },
        frames: this.#negotiateFrames.length > 0 ? this.#negotiateFrames : this.#smb1Frames
      })
    } else if (this.#smb1Offered.length > 0 && smb2) {
      add({
        code: 'smb1-offered',
        title: `client offered SMB1 dialects to ${server} (${dialect} chosen)`,
        flow,
        evidence: { offered: this.#smb1Offered, chosen: dialect },
        frames: this.#negotiateFrames
      })
    }
    // Signing: neither side requires it ([MS-SMB2] 2.2.4 SecurityMode; [MS-CIFS] 2.2.4.52.2).
    const serverRequires = smb2 ? (this.#smb2SecurityMode & 2) !== 0 : (this.#smb1SecurityMode & 0x08) !== 0
    const negotiated = smb2 ? this.#smb2SecurityMode !== -1 : this.#smb1SecurityMode !== -1
    if (negotiated && !serverRequires && !this.#clientRequiresSigning) {
      const enabled = smb2 ? (this.#smb2SecurityMode & 1) !== 0 : (this.#smb1SecurityMode & 0x04) !== 0
      add({
        code: 'smb-signing-not-required',
        title: `${server} does not require SMB signing (${dialect})`,
        flow,
        evidence: { dialect, offeredDialects: this.#smb2Offered, signingEnabled: enabled, signingRequired: false },
        frames: this.#negotiateFrames
      })
    }
    const encryptedSession = this.#encrypted > 0
    if (this.#unsigned > 0) {
      add({
        code: 'smb-unsigned',
        title: `${this.#unsigned} unsigned SMB messages after login with ${server}`,
        flow,
        evidence: { dialect, unsignedMessages: this.#unsigned, signedMessages: this.#signed },
        frames: this.#unsignedFrames
      })
    }
    if (this.#plainData > 0) {
      const signedSession = this.#signed > 0 && this.#unsigned === 0
      add({
        code: 'smb-unencrypted',
        title: `SMB file traffic in clear with ${server}${this.#files.length > 0 ? ` (${this.#files.slice(0, 3).join(', ')})` : ''}`,
        flow,
        evidence: { dialect, shares: this.#plainShares, files: this.#files, messages: this.#plainData, signed: signedSession },
        frames: this.#plainFrames,
        severity: signedSession ? 'low' : 'medium'
      })
    }
    if (encryptedSession) {
      add({
        code: 'smb-encrypted',
        title: `SMB3 encryption with ${server}`,
        flow,
        evidence: { dialect, encryptedMessages: this.#encrypted, encryptionCapable: (this.#smb2Caps & 0x40) !== 0 },
        frames: this.#encryptedFrames
      })
    }
    if (this.#guest) {
      add({
        code: 'smb-guest-session',
        title: `guest/null SMB session with ${server}`,
        flow,
        evidence: { kind: 'guest' },
        frames: this.#guestFrames
      })
    }
    if (this.#shares.length > 0) {
      add({
        code: 'smb-share-access',
        title: `tree connects to ${this.#shares.join(', ')}`,
        flow,
        evidence: { shares: this.#shares, files: this.#files },
        frames: this.#negotiateFrames.slice(0, 1)
      })
      const admin = this.#shares.filter((s) => /\\(ADMIN\$|[A-Za-z]\$)$/i.test(s))
      if (admin.length > 0)
        add({
          code: 'smb-admin-share-access',
          title: `administrative share access: ${admin.join(', ')}`,
          flow,
          evidence: { shares: admin },
          frames: []
        })
    }
    this.#ntlm.finish(flow)
    const resources = this.#shares
      .filter((s) => !/\\IPC\$$/i.test(s))
      .map((s) => `share:${s.split('\\').filter(Boolean).slice(1).join('/')}`)
    this.#ctx.classify(this.#flow, smb1Session ? 'smb1' : 'smb', {
      encrypted: encryptedSession && this.#plainData === 0,
      share: true
    })
    for (const r of resources)
      this.#ctx.classify(this.#flow, smb1Session ? 'smb1' : 'smb', {
        encrypted: encryptedSession && this.#plainData === 0,
        share: true,
        resource: r
      })
  }
}

function utf16z(b: Buffer, s: number, end: number): string {
  let e = s
  while (e + 1 < end && (b[e] !== 0 || b[e + 1] !== 0)) e += 2
  return utf16(b, s, e - s, 200)
}

function latin1z(b: Buffer, s: number, end: number): string {
  const z = b.indexOf(0, s)
  return latin1(b, s, (z < 0 || z > end ? end : z) - s, 200)
}

/** Text name of an SMB2 dialect revision ([MS-SMB2] 2.2.3). */
export function dialectName(d: number): string {
  switch (d) {
    case 0x0202:
      return 'SMB 2.0.2'
    case 0x0210:
      return 'SMB 2.1'
    case 0x0300:
      return 'SMB 3.0'
    case 0x0302:
      return 'SMB 3.0.2'
    case 0x0311:
      return 'SMB 3.1.1'
    case 0x02ff:
      return 'SMB 2.???'
    default:
      return `0x${d.toString(16).padStart(4, '0')}`
  }
}
