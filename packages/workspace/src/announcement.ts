/**
 * The discovery announcement (SPEC.md §2): one UDP datagram of at most 1200 bytes, its body
 * sealed with the workspace's announcement key and signed by the sender's identity key.
 * `sealAnnouncement` builds one; `openAnnouncement` checks size, workspace, AEAD, layout and
 * signature in that order and throws the first failure as an AnnouncementError. Replay and
 * membership are the runtime's checks (they need state).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { type KeyPair, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, sign, verify } from '@peerguard/identity'
import { equalBytes, InvalidArgumentError } from '@peerguard/interface'
import { addressBytes, addressText } from './address.js'
import { AnnouncementError } from './errors.js'
import { WireReader, WireWriter } from './wire.js'
import { WORKSPACE_ID_LENGTH } from './workspace-id.js'

export const ANNOUNCE_MAGIC = Buffer.from('PGWA', 'latin1')
export const ANNOUNCE_FORMAT = 1
export const MAX_DATAGRAM = 1200
export const MAX_ADDRESSES = 8
export const MAX_SERVICES = 32
export const MAX_SERVICE_NAME = 64
const NONCE_LENGTH = 12
const TAG_LENGTH = 16
const HEADER_LENGTH = 4 + 1 + WORKSPACE_ID_LENGTH + NONCE_LENGTH
const SIGNING_CONTEXT = Buffer.from('peerguard-workspace-announce-v1\0', 'latin1')

export type ServiceKind = 'share' | 'proxy' | 'swarm'
const KINDS: readonly ServiceKind[] = ['share', 'proxy', 'swarm']

/** One thing a peer offers: a share, a proxied service or a swarm seed, on a port. */
export interface AnnouncedService {
  readonly kind: ServiceKind
  readonly name: string
  readonly port: number
}

/** What an announcement says (the sender's key is `publicKey`; its peer ID derives from it). */
export interface Announcement {
  readonly publicKey: Uint8Array
  readonly timestampMs: number
  readonly seq: number
  readonly bundleVersion: number
  readonly fetchPort: number
  readonly addresses: readonly string[]
  readonly services: readonly AnnouncedService[]
}

const malformed = (message: string): AnnouncementError => new AnnouncementError('workspace-announce-malformed', message)

function checkBody(a: Omit<Announcement, 'publicKey'>): void {
  const int = (name: string, v: unknown, max: number): void => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
      throw new InvalidArgumentError(`announcement.${name}: expected an integer 0..${max}`)
  }
  int('timestampMs', a.timestampMs, Number.MAX_SAFE_INTEGER)
  int('seq', a.seq, 0xffffffff)
  int('bundleVersion', a.bundleVersion, Number.MAX_SAFE_INTEGER)
  int('fetchPort', a.fetchPort, 65535)
  if (!Array.isArray(a.addresses) || a.addresses.length > MAX_ADDRESSES)
    throw new InvalidArgumentError(`announcement.addresses: expected at most ${MAX_ADDRESSES} addresses`)
  if (!Array.isArray(a.services) || a.services.length > MAX_SERVICES)
    throw new InvalidArgumentError(`announcement.services: expected at most ${MAX_SERVICES} services`)
  for (const s of a.services) {
    if (typeof s !== 'object' || s === null || !KINDS.includes(s.kind))
      throw new InvalidArgumentError("announcement.services: each kind must be 'share', 'proxy' or 'swarm'")
    int('services.port', s.port, 65535)
    const n = typeof s.name === 'string' ? Buffer.byteLength(s.name) : 0
    if (n < 1 || n > MAX_SERVICE_NAME)
      throw new InvalidArgumentError(`announcement.services: each name must be 1..${MAX_SERVICE_NAME} UTF-8 bytes`)
  }
}

function encodeBody(publicKey: Uint8Array, a: Omit<Announcement, 'publicKey'>): WireWriter {
  const w = new WireWriter().bytes(publicKey).u64(a.timestampMs).u32(a.seq).u64(a.bundleVersion).u16(a.fetchPort)
  w.u8(a.addresses.length)
  for (const text of a.addresses) {
    const b = addressBytes(text)
    w.u8(b.length === 4 ? 4 : 6).bytes(b)
  }
  w.u8(a.services.length)
  for (const s of a.services) {
    const name = Buffer.from(s.name, 'utf8')
    w.u8(KINDS.indexOf(s.kind) + 1)
      .u16(s.port)
      .u8(name.length)
      .bytes(name)
  }
  return w
}

/** Build the datagram: body signed by `identity`, sealed under `key` for `workspaceId`. */
export function sealAnnouncement(
  body: Omit<Announcement, 'publicKey'>,
  options: { identity: KeyPair; workspaceId: Uint8Array; key: Uint8Array; nonce?: Uint8Array }
): Uint8Array {
  checkBody(body)
  const nonce = options.nonce ?? randomBytes(NONCE_LENGTH)
  const header = new WireWriter().bytes(ANNOUNCE_MAGIC).u8(ANNOUNCE_FORMAT).bytes(options.workspaceId).bytes(nonce).finish()
  const unsigned = encodeBody(options.identity.publicKey, body).finish()
  const signature = sign(Buffer.concat([SIGNING_CONTEXT, header, unsigned]), options.identity.secretKey)
  const plain = Buffer.concat([unsigned, signature])
  const cipher = createCipheriv('chacha20-poly1305', options.key, nonce, { authTagLength: TAG_LENGTH })
  cipher.setAAD(header, { plaintextLength: plain.length })
  const sealed = Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  if (sealed.length > MAX_DATAGRAM)
    throw new InvalidArgumentError(`announcement: ${sealed.length} bytes, more than the ${MAX_DATAGRAM}-byte datagram limit`)
  return new Uint8Array(sealed)
}

/** The workspace ID a datagram names, or a `workspace-announce-malformed` error. */
export function announcementWorkspace(datagram: Uint8Array): Uint8Array {
  if (!(datagram instanceof Uint8Array)) throw malformed('announcement: expected bytes')
  if (datagram.length > MAX_DATAGRAM) throw malformed(`announcement: more than ${MAX_DATAGRAM} bytes`)
  if (datagram.length < HEADER_LENGTH + TAG_LENGTH) throw malformed('announcement: truncated header')
  const r = new WireReader(datagram, malformed)
  if (!equalBytes(r.bytes(4, 'magic'), ANNOUNCE_MAGIC)) throw malformed('announcement: bad magic')
  const format = r.u8('format')
  if (format !== ANNOUNCE_FORMAT) throw malformed(`announcement: unknown format ${format}`)
  return r.bytes(WORKSPACE_ID_LENGTH, 'workspace ID')
}

/** Check and read a datagram (SPEC.md §2, steps 2–6). */
export function openAnnouncement(datagram: Uint8Array, options: { workspaceId: Uint8Array; key: Uint8Array }): Announcement {
  const id = announcementWorkspace(datagram)
  if (!equalBytes(id, options.workspaceId))
    throw new AnnouncementError('workspace-announce-other-workspace', 'announcement: for another workspace')
  const header = datagram.subarray(0, HEADER_LENGTH)
  const nonce = datagram.subarray(HEADER_LENGTH - NONCE_LENGTH, HEADER_LENGTH)
  const sealed = datagram.subarray(HEADER_LENGTH, datagram.length - TAG_LENGTH)
  const tag = datagram.subarray(datagram.length - TAG_LENGTH)
  let plain: Buffer
  try {
    const decipher = createDecipheriv('chacha20-poly1305', options.key, nonce, { authTagLength: TAG_LENGTH })
    decipher.setAAD(header, { plaintextLength: sealed.length })
    decipher.setAuthTag(tag)
    plain = Buffer.concat([decipher.update(sealed), decipher.final()])
  } catch {
    throw new AnnouncementError('workspace-announce-decrypt', 'announcement: the body does not decrypt with the workspace key')
  }
  const r = new WireReader(plain, malformed)
  const publicKey = r.bytes(PUBLIC_KEY_LENGTH, 'public key')
  const timestampMs = r.u64('timestamp')
  const seq = r.u32('seq')
  const bundleVersion = r.u64('bundle version')
  const fetchPort = r.u16('fetch port')
  const addresses: string[] = []
  const addrCount = r.u8('address count')
  if (addrCount > MAX_ADDRESSES) throw malformed(`announcement: more than ${MAX_ADDRESSES} addresses`)
  for (let i = 0; i < addrCount; i++) {
    const family = r.u8('address family')
    if (family !== 4 && family !== 6) throw malformed('announcement: address family must be 4 or 6')
    addresses.push(addressText(r.bytes(family === 4 ? 4 : 16, 'address')))
  }
  const services: AnnouncedService[] = []
  const serviceCount = r.u8('service count')
  if (serviceCount > MAX_SERVICES) throw malformed(`announcement: more than ${MAX_SERVICES} services`)
  for (let i = 0; i < serviceCount; i++) {
    const kind = KINDS[r.u8('service kind') - 1]
    if (kind === undefined) throw malformed('announcement: unknown service kind')
    const port = r.u16('service port')
    const len = r.u8('service name length')
    if (len < 1 || len > MAX_SERVICE_NAME) throw malformed(`announcement: service name must be 1..${MAX_SERVICE_NAME} bytes`)
    services.push({ kind, port, name: r.utf8(len, 'service name') })
  }
  const signedLength = r.offset
  const signature = r.bytes(SIGNATURE_LENGTH, 'signature')
  r.end('announcement')
  if (!verify(signature, Buffer.concat([SIGNING_CONTEXT, header, plain.subarray(0, signedLength)]), publicKey))
    throw new AnnouncementError('workspace-announce-signature', 'announcement: the signature does not verify')
  return { publicKey, timestampMs, seq, bundleVersion, fetchPort, addresses, services }
}
