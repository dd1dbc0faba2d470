import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { type KeyPair, sign, verify } from '@peerguard/identity'
import { assertBytes, assertInteger, assertString, InvalidArgumentError, isPeerguardError } from '@peerguard/interface'
import { type TrustStore, type VerifiedPeer, verifyPeerChain } from '@peerguard/pki'
import { SwarmFileMismatchError, SwarmManifestInvalidError, SwarmManifestSignatureError } from './errors.js'

/** Manifest format version (SWARM.md §2). */
export const MANIFEST_VERSION = 1
/** Smallest and largest piece size, bytes (powers of two; SWARM.md §2.1). */
export const MIN_PIECE_BYTES = 16 * 1024
export const MAX_PIECE_BYTES = 16 * 1024 * 1024
/** Most pieces in one swarm (so a bitfield is at most 8 KiB). */
export const MAX_PIECES = 65536
/** Largest manifest file accepted, bytes. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
/** Most certificates in the publisher chain, and the largest one, bytes. */
export const MAX_PUBLISHER_CHAIN = 8
export const MAX_PUBLISHER_CERT_BYTES = 16384
/** Domain separation for the publisher's signature (SWARM.md §2.3). */
export const MANIFEST_SIGNATURE_PREFIX = 'peerguard-swarm-manifest/1:'
/** Swarm names: safe as a policy resource and as a file name. */
export const SWARM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

const HEX64 = /^[0-9a-f]{64}$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const PEER_ID = /^[A-Za-z0-9-]{1,128}$/
const KEYS = ['peerguard-swarm', 'name', 'size', 'pieceSize', 'sha256', 'pieces', 'publisher', 'chain', 'created', 'signature']

/** A signed, torrent-like description of one file (SWARM.md §2). Plain data. */
export interface SwarmManifest {
  /** Swarm name: `swarm:<name>` in policies, and the default file name. */
  readonly name: string
  /** File size, bytes (>= 1). */
  readonly size: number
  /** Piece size, bytes: a power of two, 16 KiB .. 16 MiB. The last piece may be shorter. */
  readonly pieceSize: number
  /** SHA-256 of the whole file, lowercase hex. */
  readonly sha256: string
  /** SHA-256 of each piece, lowercase hex, in order. */
  readonly pieces: readonly string[]
  /** Publisher's peer ID (named by the leaf of `chain`). */
  readonly publisher: string
  /** Publisher's certificate chain, leaf first, base64 DER. */
  readonly chain: readonly string[]
  /** Creation time, ISO 8601 UTC with milliseconds. */
  readonly created: string
  /** Ed25519 signature by the publisher over the swarm ID (SWARM.md §2.3), base64. */
  readonly signature: string
  /** SHA-256 of the canonical unsigned manifest, lowercase hex: the swarm's identity. Not stored. */
  readonly swarmId: string
}

type Unsigned = Omit<SwarmManifest, 'signature' | 'swarmId'>

/** The canonical JSON of the unsigned manifest: fixed key order, no spaces (SWARM.md §2.2). */
function canonicalUnsigned(m: Unsigned): string {
  return JSON.stringify({
    'peerguard-swarm': MANIFEST_VERSION,
    name: m.name,
    size: m.size,
    pieceSize: m.pieceSize,
    sha256: m.sha256,
    pieces: m.pieces,
    publisher: m.publisher,
    chain: m.chain,
    created: m.created
  })
}

function swarmIdOf(m: Unsigned): string {
  return createHash('sha256').update(canonicalUnsigned(m)).digest('hex')
}

function signedMessage(swarmId: string): Uint8Array {
  return Buffer.concat([Buffer.from(MANIFEST_SIGNATURE_PREFIX, 'ascii'), Buffer.from(swarmId, 'hex')])
}

/** The manifest file: canonical JSON with the signature last, then one LF. */
export function encodeManifest(manifest: SwarmManifest): string {
  if (typeof manifest !== 'object' || manifest === null) throw new InvalidArgumentError('manifest: expected a SwarmManifest')
  const body = canonicalUnsigned(manifest)
  return `${body.slice(0, -1)},"signature":${JSON.stringify(manifest.signature)}}\n`
}

/** Number of pieces for a size and piece size. */
export function pieceCountOf(size: number, pieceSize: number): number {
  return Math.ceil(size / pieceSize)
}

/** Length of piece `index`, bytes. */
export function pieceLength(manifest: Pick<SwarmManifest, 'size' | 'pieceSize'>, index: number): number {
  return Math.min(manifest.pieceSize, manifest.size - index * manifest.pieceSize)
}

const invalid = (why: string): SwarmManifestInvalidError => new SwarmManifestInvalidError(`invalid swarm manifest: ${why}`)

/**
 * Parse a manifest file strictly (SWARM.md §2.2): the exact keys, types and limits, and the text
 * must be the canonical serialization (so two readers can never see different manifests). Checks
 * structure only; `verifyManifest` checks the signature and the publisher. Throws only
 * `SwarmManifestInvalidError`.
 */
export function parseManifest(input: string | Uint8Array): SwarmManifest {
  let text: string
  if (typeof input === 'string') text = input
  else if (input instanceof Uint8Array) {
    if (input.length > MAX_MANIFEST_BYTES) throw invalid(`larger than ${MAX_MANIFEST_BYTES} bytes`)
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input)
    } catch {
      throw invalid('not UTF-8')
    }
  } else throw new InvalidArgumentError('input: expected a string or Uint8Array')
  if (text.length > MAX_MANIFEST_BYTES) throw invalid(`larger than ${MAX_MANIFEST_BYTES} bytes`)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw invalid('not JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('expected a JSON object')
  const o = raw as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.length !== KEYS.length || KEYS.some((k) => !Object.hasOwn(o, k))) {
    throw invalid(`expected exactly the keys ${KEYS.join(', ')}`)
  }
  if (o['peerguard-swarm'] !== MANIFEST_VERSION) throw invalid(`unsupported version (expected ${MANIFEST_VERSION})`)
  const { name, size, pieceSize, sha256, pieces, publisher, chain, created, signature } = o
  if (typeof name !== 'string' || !SWARM_NAME.test(name))
    throw invalid('name: expected 1..128 of A-Z a-z 0-9 . _ - (not starting with . _ -)')
  if (
    typeof pieceSize !== 'number' ||
    !Number.isSafeInteger(pieceSize) ||
    pieceSize < MIN_PIECE_BYTES ||
    pieceSize > MAX_PIECE_BYTES ||
    (pieceSize & (pieceSize - 1)) !== 0
  ) {
    throw invalid(`pieceSize: expected a power of two in ${MIN_PIECE_BYTES}..${MAX_PIECE_BYTES}`)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > MAX_PIECES * pieceSize) {
    throw invalid(`size: expected an integer in 1..${MAX_PIECES} pieces`)
  }
  if (typeof sha256 !== 'string' || !HEX64.test(sha256)) throw invalid('sha256: expected 64 lowercase hex digits')
  if (!Array.isArray(pieces) || pieces.length !== pieceCountOf(size, pieceSize)) {
    throw invalid(`pieces: expected ${pieceCountOf(size, pieceSize)} piece hashes`)
  }
  for (const p of pieces)
    if (typeof p !== 'string' || !HEX64.test(p)) throw invalid('pieces: expected 64 lowercase hex digits each')
  if (typeof publisher !== 'string' || !PEER_ID.test(publisher)) throw invalid('publisher: expected a peer ID')
  if (!Array.isArray(chain) || chain.length < 1 || chain.length > MAX_PUBLISHER_CHAIN) {
    throw invalid(`chain: expected 1..${MAX_PUBLISHER_CHAIN} certificates`)
  }
  for (const c of chain) {
    if (typeof c !== 'string' || !BASE64.test(c) || c.length % 4 !== 0) throw invalid('chain: expected base64 DER certificates')
    const der = Buffer.from(c, 'base64')
    if (der.length < 1 || der.length > MAX_PUBLISHER_CERT_BYTES || der.toString('base64') !== c) {
      throw invalid(`chain: each certificate 1..${MAX_PUBLISHER_CERT_BYTES} bytes of canonical base64`)
    }
  }
  if (typeof created !== 'string' || !ISO_UTC.test(created) || Number.isNaN(Date.parse(created))) {
    throw invalid('created: expected an ISO 8601 UTC time with milliseconds')
  }
  if (
    typeof signature !== 'string' ||
    !BASE64.test(signature) ||
    Buffer.from(signature, 'base64').length !== 64 ||
    Buffer.from(signature, 'base64').toString('base64') !== signature
  ) {
    throw invalid('signature: expected 64 bytes of base64')
  }
  const unsigned: Unsigned = {
    name,
    size,
    pieceSize,
    sha256,
    pieces: [...(pieces as string[])],
    publisher,
    chain: [...(chain as string[])],
    created
  }
  const manifest: SwarmManifest = { ...unsigned, signature, swarmId: swarmIdOf(unsigned) }
  const canonical = encodeManifest(manifest)
  if (text !== canonical && text !== canonical.slice(0, -1))
    throw invalid('not in canonical form (re-encoded or edited by hand?)')
  return manifest
}

export interface VerifyManifestOptions {
  /** Trust store (the LAN CA) the publisher's chain must verify against. */
  trust: TrustStore
}

/**
 * Verify the publisher's certificate chain against `trust`, that the chain names the publisher,
 * and the publisher's Ed25519 signature over the swarm ID (SWARM.md §2.3). Returns the verified
 * publisher. Throws `SwarmManifestSignatureError` (with the pki error as cause) on any failure.
 */
export async function verifyManifest(manifest: SwarmManifest, options: VerifyManifestOptions): Promise<VerifiedPeer> {
  if (typeof manifest !== 'object' || manifest === null || typeof manifest.swarmId !== 'string')
    throw new InvalidArgumentError('manifest: expected a SwarmManifest from parseManifest or publishManifest')
  if (typeof options !== 'object' || options === null || typeof options.trust !== 'object' || options.trust === null)
    throw new InvalidArgumentError('options.trust: expected a TrustStore')
  let publisher: VerifiedPeer
  try {
    publisher = await verifyPeerChain(
      manifest.chain.map((c) => new Uint8Array(Buffer.from(c, 'base64'))),
      { trust: options.trust }
    )
  } catch (err) {
    const code = isPeerguardError(err) ? err.code : 'invalid'
    throw new SwarmManifestSignatureError(`manifest publisher certificate does not verify (${code})`, { cause: err })
  }
  if (publisher.peerId !== manifest.publisher) {
    throw new SwarmManifestSignatureError('manifest publisher is not the peer named by its certificate')
  }
  const ok = verify(
    new Uint8Array(Buffer.from(manifest.signature, 'base64')),
    signedMessage(manifest.swarmId),
    publisher.publicKey
  )
  if (!ok) throw new SwarmManifestSignatureError('manifest signature does not verify')
  return publisher
}

export interface CreateManifestOptions {
  /** Swarm name (see SWARM_NAME). */
  name: string
  /** The publisher's identity key pair. */
  identity: KeyPair
  /** The publisher's certificate chain, leaf first, DER. */
  chain: readonly Uint8Array[]
  /** The publisher's peer ID (as in its certificate). */
  publisher: string
  /** Piece size, bytes. Default: 256 KiB, doubled until there are at most 16384 pieces. */
  pieceSize?: number
  /** Creation time. Default: now. */
  created?: Date
}

/** Default piece size for a file: 256 KiB, doubled until at most 16384 pieces. */
export function defaultPieceSize(size: number): number {
  let p = 256 * 1024
  while (p < MAX_PIECE_BYTES && pieceCountOf(size, p) > 16384) p *= 2
  return p
}

/** Hash a file into a signed manifest (SWARM.md §2). Reads the file once. */
export async function createManifest(filePath: string, options: CreateManifestOptions): Promise<SwarmManifest> {
  assertString('filePath', filePath, { nonEmpty: true })
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (typeof options.name !== 'string' || !SWARM_NAME.test(options.name))
    throw new InvalidArgumentError('options.name: expected 1..128 of A-Z a-z 0-9 . _ - (not starting with . _ -)')
  if (typeof options.identity !== 'object' || options.identity === null)
    throw new InvalidArgumentError('options.identity: expected a key pair')
  assertBytes('options.identity.secretKey', options.identity.secretKey, 64)
  if (!Array.isArray(options.chain) || options.chain.length < 1 || options.chain.length > MAX_PUBLISHER_CHAIN)
    throw new InvalidArgumentError(`options.chain: expected 1..${MAX_PUBLISHER_CHAIN} DER certificates`)
  for (const [i, c] of options.chain.entries()) assertBytes(`options.chain[${i}]`, c)
  assertString('options.publisher', options.publisher, { nonEmpty: true, maxLength: 128 })
  const fh = await open(filePath, 'r').catch((err: Error) => {
    throw new SwarmFileMismatchError(`${filePath}: cannot open (${(err as NodeJS.ErrnoException).code ?? err.message})`, {
      cause: err
    })
  })
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new SwarmFileMismatchError(`${filePath}: not a regular file`)
    if (st.size < 1) throw new SwarmFileMismatchError(`${filePath}: empty files cannot be published`)
    const pieceSize = options.pieceSize ?? defaultPieceSize(st.size)
    assertInteger('options.pieceSize', pieceSize, MIN_PIECE_BYTES, MAX_PIECE_BYTES)
    if ((pieceSize & (pieceSize - 1)) !== 0) throw new InvalidArgumentError('options.pieceSize: expected a power of two')
    if (pieceCountOf(st.size, pieceSize) > MAX_PIECES)
      throw new InvalidArgumentError(`options.pieceSize: ${st.size} bytes would need more than ${MAX_PIECES} pieces`)
    const whole = createHash('sha256')
    const pieces: string[] = []
    const buf = Buffer.allocUnsafe(pieceSize)
    for (let off = 0; off < st.size; off += pieceSize) {
      const len = Math.min(pieceSize, st.size - off)
      const { bytesRead } = await fh.read(buf, 0, len, off)
      if (bytesRead !== len) throw new SwarmFileMismatchError(`${filePath}: changed while it was being hashed`)
      const piece = buf.subarray(0, len)
      whole.update(piece)
      pieces.push(createHash('sha256').update(piece).digest('hex'))
    }
    const unsigned: Unsigned = {
      name: options.name,
      size: st.size,
      pieceSize,
      sha256: whole.digest('hex'),
      pieces,
      publisher: options.publisher,
      chain: options.chain.map((c) => Buffer.from(c).toString('base64')),
      created: (options.created ?? new Date()).toISOString()
    }
    const swarmId = swarmIdOf(unsigned)
    const signature = Buffer.from(sign(signedMessage(swarmId), options.identity.secretKey)).toString('base64')
    return { ...unsigned, signature, swarmId }
  } finally {
    await fh.close()
  }
}
