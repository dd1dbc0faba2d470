import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { MessageFramer } from '../message-framer.js'
import { nfsCallOps } from './nfs-ops.js'
import { addDistinct, latin1 } from './text.js'

/** ONC-RPC program numbers (RFC 5531, IANA). */
const PROGRAMS: Record<number, string> = {
  100000: 'portmap',
  100003: 'nfs',
  100005: 'mount',
  100021: 'nlm',
  100024: 'status',
  100227: 'nfs_acl'
}
/** Programs whose calls carry file-share credentials. */
const FILE_PROGRAMS = new Set([100003, 100005, 100021, 100227])
const AUTH_SYS = 1
const RPCSEC_GSS = 6
/** RPCSEC_GSS services (RFC 2203 5): integrity wraps the arguments, privacy encrypts them. */
const GSS_SVC_INTEGRITY = 2
const GSS_SVC_PRIVACY = 3

/** True when `buf[o]` starts an ONC-RPC call (xid, CALL=0, rpcvers=2, a known program). */
export function isRpcCall(buf: Buffer, o: number, len: number): boolean {
  if (len < 24) return false
  return buf.readUInt32BE(o + 4) === 0 && buf.readUInt32BE(o + 8) === 2 && PROGRAMS[buf.readUInt32BE(o + 12)] !== undefined
}

/** Record marking (RFC 5531 section 11) followed by an RPC call. */
export function isRpcTcpStart(buf: Buffer, off: number, len: number): boolean {
  if (len < 28) return false
  const mark = buf.readUInt32BE(off)
  const fragLen = mark & 0x7fffffff
  return fragLen >= 24 && fragLen <= 1 << 24 && isRpcCall(buf, off + 4, len - 4)
}

/**
 * ONC-RPC (NFS, MOUNT, NLM, NFS_ACL, portmap) over TCP record marking or UDP: the credential
 * flavour of each call (AUTH_SYS uid/gid and machine name vs RPCSEC_GSS) and exported paths.
 */
export class RpcApp implements FlowApp {
  readonly name = 'nfs'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #framer: MessageFramer | undefined
  readonly #programs: string[] = []
  readonly #machines: string[] = []
  readonly #uids: number[] = []
  readonly #gids: number[] = []
  readonly #paths: string[] = []
  #sysCalls = 0
  #gssCalls = 0
  #rootCalls = 0
  #sysFrames: number[] = []
  #rootFrames: number[] = []
  /** File data in clear: READ/WRITE calls not protected by RPCSEC_GSS privacy (krb5p). */
  readonly #data = { reads: 0, writes: 0, readBytes: 0, writeBytes: 0, privacyCalls: 0, security: [] as string[] }
  readonly #names: string[] = []
  #dataFrames: number[] = []

  constructor(ctx: AuditContext, flow: Flow, tcp: boolean) {
    this.#ctx = ctx
    this.#flow = flow
    if (tcp) {
      this.#framer = new MessageFramer(
        4,
        4096,
        (h) => {
          const n = h.readUInt32BE(0) & 0x7fffffff
          return n > 1 << 24 ? -1 : n
        },
        (_h, body, _len, frame) => this.#call(body, 0, body.length, frame)
      )
    }
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    if (!fromClient) return
    if (this.#framer !== undefined) this.#framer.push(buf, off, len, frame)
    else this.#call(buf, off, len, frame)
  }

  gap(fromClient: boolean, bytes: number): void {
    if (fromClient) this.#framer?.gap(bytes)
  }

  #call(b: Buffer, o: number, len: number, frame: number): void {
    if (len < 32 || b.readUInt32BE(o + 4) !== 0) return
    if (b.readUInt32BE(o + 8) !== 2) {
      this.#ctx.errors.add('rpc-bad-version', frame)
      return
    }
    const prog = b.readUInt32BE(o + 12)
    const proc = b.readUInt32BE(o + 20)
    const flavor = b.readUInt32BE(o + 24)
    const credLen = b.readUInt32BE(o + 28)
    const end = o + len
    const cred = o + 32
    if (credLen > 400 || cred + credLen > end) {
      this.#ctx.errors.add('rpc-bad-credential', frame)
      return
    }
    const program = PROGRAMS[prog] ?? String(prog)
    addDistinct(this.#programs, `${program}v${b.readUInt32BE(o + 16)}`)
    const file = FILE_PROGRAMS.has(prog)
    if (flavor === AUTH_SYS && file) {
      // AUTH_SYS body (RFC 5531 appendix A): stamp, machinename<255>, uid, gid, gids<16>.
      if (credLen < 20) {
        this.#ctx.errors.add('rpc-bad-auth-sys', frame)
        return
      }
      const nameLen = b.readUInt32BE(cred + 4)
      if (nameLen > 255 || cred + 8 + nameLen + 8 > cred + credLen) {
        this.#ctx.errors.add('rpc-bad-auth-sys', frame)
        return
      }
      addDistinct(this.#machines, latin1(b, cred + 8, nameLen, 255))
      const p = cred + 8 + ((nameLen + 3) & ~3)
      const uid = b.readUInt32BE(p)
      const gid = b.readUInt32BE(p + 4)
      addDistinct(this.#uids, uid)
      addDistinct(this.#gids, gid)
      this.#sysCalls++
      noteFrame(this.#sysFrames, frame)
      if (uid === 0) {
        this.#rootCalls++
        noteFrame(this.#rootFrames, frame)
      }
    } else if (flavor === RPCSEC_GSS && file) this.#gssCalls++
    if (prog === 100003) this.#nfsData(b, o, end, cred, credLen, flavor, frame)
    // MOUNT MNT (RFC 1813 appendix I): the argument is the exported directory path.
    if (prog === 100005 && proc === 1) {
      const verf = cred + credLen
      if (verf + 8 > end) return
      const args = verf + 8 + b.readUInt32BE(verf + 4)
      if (args + 4 > end) return
      const n = b.readUInt32BE(args)
      if (n <= 1024 && args + 4 + n <= end) addDistinct(this.#paths, latin1(b, args + 4, n, 1024))
    }
  }

  /** READ/WRITE and file names of an NFS call, unless RPCSEC_GSS privacy hides the arguments. */
  #nfsData(b: Buffer, o: number, end: number, cred: number, credLen: number, flavor: number, frame: number): void {
    let security = flavor === AUTH_SYS ? 'AUTH_SYS' : flavor === 0 ? 'AUTH_NONE' : `flavor ${flavor}`
    const verf = cred + credLen
    if (verf + 8 > end) return
    const verfLen = b.readUInt32BE(verf + 4)
    if (verfLen > 400) return
    let args = verf + 8 + ((verfLen + 3) & ~3)
    if (flavor === RPCSEC_GSS) {
      // rpc_gss_cred_vers_1_t: version, gss_proc, seq_num, service, handle (RFC 2203 5).
      if (credLen < 16) return
      const service = b.readUInt32BE(cred + 12)
      if (service === GSS_SVC_PRIVACY) {
        this.#data.privacyCalls++
        return
      }
      security = service === GSS_SVC_INTEGRITY ? 'krb5i' : 'krb5'
      // Integrity: opaque databody (length, seq_num, then the arguments).
      if (service === GSS_SVC_INTEGRITY) args += 8
    }
    const ops = nfsCallOps(b, args, end, b.readUInt32BE(o + 16), b.readUInt32BE(o + 20))
    if (ops === undefined) return
    for (const n of ops.names) addDistinct(this.#names, n, 64)
    if (ops.reads + ops.writes === 0) return
    const d = this.#data
    d.reads += ops.reads
    d.writes += ops.writes
    d.readBytes += ops.readBytes
    d.writeBytes += ops.writeBytes
    addDistinct(d.security, security, 4)
    noteFrame(this.#dataFrames, frame)
  }

  finish(): void {
    const flow = this.#flow.key()
    const add = this.#ctx.findings.add.bind(this.#ctx.findings)
    for (const m of this.#machines) this.#ctx.hostName(this.#flow.client.addr, m, 'rpc-auth-sys')
    if (this.#sysCalls > 0) {
      add({
        code: 'nfs-auth-sys',
        title: `NFS/RPC with AUTH_SYS from ${this.#machines.join(', ') || flow.src} (uid ${this.#uids.join(', ')})`,
        flow,
        evidence: {
          programs: this.#programs,
          machineNames: this.#machines,
          uids: this.#uids,
          gids: this.#gids,
          calls: this.#sysCalls,
          rpcsecGssCalls: this.#gssCalls,
          exports: this.#paths
        },
        frames: this.#sysFrames
      })
    }
    if (this.#rootCalls > 0) {
      add({
        code: 'nfs-root-credential',
        title: `${this.#rootCalls} NFS/RPC calls as uid 0 from ${flow.src}`,
        flow,
        evidence: { calls: this.#rootCalls, machineNames: this.#machines },
        frames: this.#rootFrames
      })
    }
    const d = this.#data
    if (d.reads + d.writes > 0) {
      add({
        code: 'nfs-cleartext-data',
        title: `NFS file data in clear with ${flow.dst}:${flow.dstPort}: ${d.reads} READ, ${d.writes} WRITE (${d.security.join(', ')})`,
        flow,
        evidence: {
          reads: d.reads,
          writes: d.writes,
          readBytesRequested: d.readBytes,
          writeBytes: d.writeBytes,
          security: d.security,
          files: this.#names,
          privacyProtectedCalls: d.privacyCalls
        },
        frames: this.#dataFrames
      })
    }
    const nfs = this.#programs.some((p) => !p.startsWith('portmap'))
    this.#ctx.classify(this.#flow, nfs ? 'nfs' : 'rpc', { encrypted: false, share: nfs })
    for (const p of this.#paths)
      this.#ctx.classify(this.#flow, 'nfs', { encrypted: false, share: true, resource: `share:${p.replace(/^\/+/, '')}` })
  }
}
