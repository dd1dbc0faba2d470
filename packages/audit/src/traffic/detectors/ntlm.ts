import type { FlowKey } from '@peerguard/interface'
import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import { latin1, utf16 } from './text.js'

/** "NTLMSSP\0" ([MS-NLMP] 2.2.1). */
export const NTLMSSP_SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1')
const NTLMSSP_NEGOTIATE_UNICODE = 0x00000001

/** The facts of an NTLM AUTHENTICATE message that matter to an auditor (never the responses). */
export interface NtlmAuthenticate {
  user: string
  domain: string
  workstation: string
  /** `v1` (24-byte NT response), `v2` (longer), `anonymous` (empty user and responses). */
  version: 'v1' | 'v2' | 'anonymous'
  ntResponseLength: number
}

function field(buf: Buffer, base: number, at: number, end: number): { len: number; off: number } {
  if (base + at + 8 > end) return { len: 0, off: -1 }
  return { len: buf.readUInt16LE(base + at), off: base + buf.readUInt32LE(base + at + 4) }
}

/**
 * Parse an NTLM AUTHENTICATE (type 3) message starting at `buf[off]` (the signature) and ending
 * before `end`. Returns undefined for other message types or garbage; fields that point outside
 * the buffer read as empty strings.
 */
export function parseNtlmAuthenticate(buf: Buffer, off: number, end: number): NtlmAuthenticate | undefined {
  if (off < 0 || end > buf.length || end - off < 52) return undefined
  if (buf.compare(NTLMSSP_SIGNATURE, 0, 8, off, off + 8) !== 0) return undefined
  if (buf.readUInt32LE(off + 8) !== 3) return undefined
  const lm = field(buf, off, 12, end)
  const nt = field(buf, off, 20, end)
  const dom = field(buf, off, 28, end)
  const usr = field(buf, off, 36, end)
  const wks = field(buf, off, 44, end)
  // The flags field exists only when the payload starts at or after offset 64.
  const payloadStart = Math.min(...[lm, nt, dom, usr, wks].filter((f) => f.len > 0).map((f) => f.off - off), 1 << 30)
  let unicode: boolean
  if (payloadStart >= 64 && end - off >= 64) unicode = (buf.readUInt32LE(off + 60) & NTLMSSP_NEGOTIATE_UNICODE) !== 0
  else unicode = usr.len % 2 === 0 && usr.len > 0 && buf[usr.off + 1] === 0
  const str = (f: { len: number; off: number }): string => {
    if (f.len === 0 || f.off < off || f.off + f.len > end) return ''
    return unicode ? utf16(buf, f.off, f.len, 128) : latin1(buf, f.off, f.len, 128)
  }
  const user = str(usr)
  const ntLen = nt.len
  const version = user === '' && ntLen === 0 ? 'anonymous' : ntLen === 24 ? 'v1' : ntLen === 0 && lm.len <= 1 ? 'anonymous' : 'v2'
  return { user, domain: str(dom), workstation: str(wks), version, ntResponseLength: ntLen }
}

/** Every NTLM AUTHENTICATE message found anywhere in `buf[off, end)`. */
export function scanNtlmAuthenticate(buf: Buffer, off: number, end: number): (NtlmAuthenticate & { at: number })[] {
  const out: (NtlmAuthenticate & { at: number })[] = []
  const view = buf.subarray(0, end)
  let at = view.indexOf(NTLMSSP_SIGNATURE, off)
  while (at >= 0 && out.length < 16) {
    const auth = parseNtlmAuthenticate(buf, at, end)
    if (auth !== undefined) out.push({ ...auth, at })
    at = view.indexOf(NTLMSSP_SIGNATURE, at + 8)
  }
  return out
}

interface Seen {
  auth: NtlmAuthenticate
  frames: number[]
}

/**
 * Collects the NTLM authentications of one flow and emits `ntlm-auth` (or `ntlmv1-auth` for a
 * 24-byte NT response, never both), `http-ntlm-auth` and `smb-guest-session` for anonymous SMB
 * logins when the flow finishes.
 */
export class NtlmTracker {
  readonly #seen = new Map<string, Seen>()

  constructor(
    readonly carrier: string,
    readonly ctx: AuditContext,
    readonly clientAddr: () => string
  ) {}

  get count(): number {
    return this.#seen.size
  }

  get anonymous(): boolean {
    for (const s of this.#seen.values()) if (s.auth.version === 'anonymous') return true
    return false
  }

  /** Scan `buf[off, end)` for AUTHENTICATE messages seen at `frame` (or at `frameAt(offset)`). */
  scan(buf: Buffer, off: number, end: number, frame: number, frameAt?: (at: number) => number): void {
    for (const { at, ...auth } of scanNtlmAuthenticate(buf, off, end)) this.add(auth, frameAt === undefined ? frame : frameAt(at))
  }

  add(auth: NtlmAuthenticate, frame: number): void {
    const key = `${auth.version}|${auth.domain}|${auth.user}|${auth.workstation}`
    let s = this.#seen.get(key)
    if (s === undefined) {
      if (this.#seen.size >= 64) return
      s = { auth, frames: [] }
      this.#seen.set(key, s)
      if (auth.workstation !== '') this.ctx.hostName(this.clientAddr(), auth.workstation, `ntlm-${this.carrier}`)
    }
    noteFrame(s.frames, frame)
  }

  finish(flow: FlowKey): void {
    for (const { auth, frames } of this.#seen.values()) {
      const who = auth.domain === '' ? auth.user : `${auth.domain}\\${auth.user}`
      const evidence = {
        user: auth.user,
        domain: auth.domain,
        workstation: auth.workstation,
        ntlmVersion: auth.version,
        carrier: this.carrier
      }
      if (auth.version === 'anonymous') {
        if (this.carrier === 'smb') {
          this.ctx.findings.add({
            code: 'smb-guest-session',
            title: `anonymous NTLM session from ${auth.workstation || flow.src}`,
            flow,
            evidence: { ...evidence, kind: 'anonymous' },
            frames
          })
        }
        continue
      }
      // One finding per login: NTLMv1 (crackable) is its own, more severe code, not an addition.
      this.ctx.findings.add({
        code: auth.version === 'v1' ? 'ntlmv1-auth' : 'ntlm-auth',
        title: `NTLM${auth.version} login ${who} from ${auth.workstation || flow.src} over ${this.carrier}`,
        flow,
        evidence,
        frames
      })
      if (this.carrier === 'http') {
        this.ctx.findings.add({ code: 'http-ntlm-auth', title: `NTLM over plain HTTP: ${who}`, flow, evidence, frames })
      }
    }
  }
}
