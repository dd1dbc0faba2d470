/** NFS procedures and operations that move file data or name files, decoded from call arguments. */

/** What one NFS call reveals: data read or written in clear, and file names. */
export interface NfsOps {
  reads: number
  writes: number
  /** Bytes asked for by READ calls (the data comes back in the replies). */
  readBytes: number
  /** Bytes carried by WRITE calls. */
  writeBytes: number
  names: string[]
}

/** NFSv3 procedures (RFC 1813 3.3). */
const V3_LOOKUP = 3
const V3_READ = 6
const V3_WRITE = 7
const V3_CREATE = 8
/** NFSv4 COMPOUND (RFC 7530 16.2, RFC 8881 18) and the operations we follow. */
const V4_COMPOUND = 1
const OP_GETATTR = 9
const OP_GETFH = 10
const OP_LOOKUP = 15
const OP_PUTFH = 22
const OP_PUTROOTFH = 24
const OP_READ = 25
const OP_WRITE = 38
const OP_SEQUENCE = 53
/** Operations of one COMPOUND looked at before giving up. */
const MAX_OPS = 16

/** An XDR opaque/string at `p`: its data offset and length, or undefined past `end`. */
function opaque(b: Buffer, p: number, end: number): { at: number; len: number; next: number } | undefined {
  if (p + 4 > end) return undefined
  const len = b.readUInt32BE(p)
  if (len > 1 << 24) return undefined
  return { at: p + 4, len, next: p + 4 + ((len + 3) & ~3) }
}

function name(b: Buffer, o: { at: number; len: number }, end: number): string | undefined {
  if (o.len === 0 || o.len > 255 || o.at + o.len > end) return undefined
  const s = b.toString('utf8', o.at, o.at + o.len)
  return /^[^\0/]+$/.test(s) ? s.replace(/[\u0000-\u001f\u007f]/g, '?') : undefined
}

/**
 * Decode the arguments of an NFS call at `b[p, end)` (the bytes after the verifier) for version
 * `vers` and procedure `proc`. The buffer may be a prefix of the message (the data of a WRITE is
 * counted from its length field, not read). Never throws; undefined when nothing was recognised.
 */
export function nfsCallOps(b: Buffer, p: number, end: number, vers: number, proc: number): NfsOps | undefined {
  const ops: NfsOps = { reads: 0, writes: 0, readBytes: 0, writeBytes: 0, names: [] }
  end = Math.min(end, b.length)
  if (vers === 3) {
    const fh = opaque(b, p, end)
    if (fh === undefined || fh.len > 64) return undefined
    if (proc === V3_READ && fh.next + 12 <= end) {
      ops.reads = 1
      ops.readBytes = b.readUInt32BE(fh.next + 8)
    } else if (proc === V3_WRITE && fh.next + 20 <= end) {
      ops.writes = 1
      ops.writeBytes = b.readUInt32BE(fh.next + 16)
    } else if (proc === V3_LOOKUP || proc === V3_CREATE) {
      const n = opaque(b, fh.next, end)
      const s = n === undefined ? undefined : name(b, n, end)
      if (s !== undefined) ops.names.push(s)
    } else return undefined
    return ops
  }
  if (vers !== 4 || proc !== V4_COMPOUND) return undefined
  const tag = opaque(b, p, end)
  if (tag === undefined || tag.next + 8 > end) return undefined
  let q = tag.next + 4
  const count = b.readUInt32BE(q)
  q += 4
  for (let i = 0; i < count && i < MAX_OPS && q + 4 <= end; i++) {
    const op = b.readUInt32BE(q)
    q += 4
    switch (op) {
      case OP_SEQUENCE:
        q += 32
        break
      case OP_PUTFH: {
        const fh = opaque(b, q, end)
        if (fh === undefined) return ops
        q = fh.next
        break
      }
      case OP_PUTROOTFH:
      case OP_GETFH:
        break
      case OP_GETATTR: {
        if (q + 4 > end) return ops
        const words = b.readUInt32BE(q)
        if (words > 8) return ops
        q += 4 + 4 * words
        break
      }
      case OP_LOOKUP: {
        const n = opaque(b, q, end)
        if (n === undefined) return ops
        const s = name(b, n, end)
        if (s !== undefined && ops.names.length < 16) ops.names.push(s)
        q = n.next
        break
      }
      case OP_READ:
        if (q + 28 > end) return ops
        ops.reads++
        ops.readBytes += b.readUInt32BE(q + 24)
        q += 28
        break
      case OP_WRITE:
        // stateid (16), offset (8), stable (4), data<>.
        if (q + 32 > end) return ops
        ops.writes++
        ops.writeBytes += b.readUInt32BE(q + 28)
        return ops
      default:
        return ops
    }
  }
  return ops
}
