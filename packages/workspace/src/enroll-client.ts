/**
 * The joiner's side of enrollment (SPEC.md §6.4): open a channel to the CA node with the new
 * identity key (no certificate yet), send the token ID, check that the CA node proves a
 * certificate under the root the token pins (before any secret leaves), then send the secret, the
 * CSR and the proof bound to this channel; verify what comes back.
 */
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { KnownPeers, secureOutbound } from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import {
  assertBytes,
  assertInteger,
  assertString,
  describeValue,
  equalBytes,
  InvalidArgumentError,
  isPeerguardError
} from '@peerguard/interface'
import { checkKeyPair, createCsr, createTrustStore, verifyPeerChain } from '@peerguard/pki'
import { EnrollError } from './enroll-errors.js'
import {
  caProof,
  decodeChallenge,
  decodeResult,
  ENROLL_PROTOCOL,
  type EnrollResult,
  encodeHello,
  encodeRequest,
  frame,
  MessageReader,
  tokenProof
} from './enroll-wire.js'
import { type EnrollToken, FINGERPRINT_LENGTH, rootFingerprintOf, TOKEN_ID_LENGTH, TOKEN_SECRET_LENGTH } from './token.js'

/** What a join brings home. */
export interface Enrolled extends EnrollResult {
  /** The root certificate (its fingerprint is the token's). */
  readonly root: Uint8Array
  /** The root's current CRL, when the CA node has one (the CA node's own certificate was checked against it). */
  readonly crl: Uint8Array | undefined
  /** The name and groups the certificate carries. */
  readonly name: string
  readonly groups: readonly string[]
  readonly peerId: string
  /** The CA node's peer ID, as its certificate proved it. */
  readonly caPeerId: string
}

/** Split `host:port` (IPv6 in brackets); throws InvalidArgumentError. */
export function parseHostPort(field: string, text: string): { host: string; port: number } {
  if (typeof text !== 'string') throw new InvalidArgumentError(`${field}: expected HOST:PORT, got ${describeValue(text)}`)
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || !(port >= 1 && port <= 65535)) throw new InvalidArgumentError(`${field}: expected HOST:PORT`)
  return { host: (m[1] ?? m[2]) as string, port }
}

/** Enroll `identity` with the CA node at `host:port` using `token`. */
export async function enroll(options: {
  token: EnrollToken
  identity: KeyPair
  host: string
  port: number
  timeoutMs?: number
}): Promise<Enrolled> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const { token, identity, host, port } = options
  if (typeof token !== 'object' || token === null)
    throw new InvalidArgumentError('options.token: expected a parsed token (parseToken)')
  assertBytes('options.token.rootFingerprint', token.rootFingerprint, FINGERPRINT_LENGTH)
  assertBytes('options.token.tokenId', token.tokenId, TOKEN_ID_LENGTH)
  assertBytes('options.token.secret', token.secret, TOKEN_SECRET_LENGTH)
  checkKeyPair('options.identity', identity)
  assertString('options.host', host, { nonEmpty: true, maxLength: 255 })
  assertInteger('options.port', port, 1, 65535)
  const timeoutMs = options.timeoutMs ?? 10_000
  assertInteger('options.timeoutMs', timeoutMs, 1, 600_000)
  let proven = false
  try {
    return await enrollWith({ token, identity, host, port, timeoutMs }, () => {
      proven = true
    })
  } catch (err) {
    if (!proven && typeof err === 'object' && err !== null) unproven.add(err)
    throw err
  }
}

/** Errors of `enroll` raised before the server proved a certificate under the token's root. */
const unproven = new WeakSet<object>()

/**
 * True when `err` (from `enroll`) came before the server proved itself: whatever it says (a
 * refusal, garbage, a foreign root) may come from an impostor, so a joiner that found the server
 * by announcements tries the next candidate instead of believing it.
 */
export function fromUnprovenServer(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unproven.has(err)
}

async function enrollWith(
  o: { token: EnrollToken; identity: KeyPair; host: string; port: number; timeoutMs: number },
  onProven: () => void
): Promise<Enrolled> {
  const { token, identity, host, port, timeoutMs } = o
  const socket = connect({ host, port })
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error('connection timed out')))
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
  } catch (err) {
    throw new EnrollError('enroll-failed', `enrollment: connect ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  let channel: Awaited<ReturnType<typeof secureOutbound>>
  try {
    channel = await secureOutbound(socket, {
      identity,
      // the CA node's certificate is checked below, against the root the token pins
      knownPeers: { store: KnownPeers.inMemory(), name: `${host}:${port}`, trustOnFirstUse: true },
      protocols: [ENROLL_PROTOCOL],
      handshakeTimeoutMs: timeoutMs
    })
  } catch (err) {
    socket.destroy()
    throw new EnrollError(
      'enroll-failed',
      `enrollment: the channel to ${host}:${port} failed (${isPeerguardError(err) ? err.code : 'internal'})`,
      {
        cause: err
      }
    )
  }
  socket.setTimeout(0)
  const reader = new MessageReader(channel)
  try {
    channel.write(frame(encodeHello(token.tokenId)))
    const challenge = decodeChallenge(await reader.next('challenge', timeoutMs))
    if (!equalBytes(rootFingerprintOf(challenge.root), token.rootFingerprint))
      throw new EnrollError(
        'enroll-ca-mismatch',
        `the enrollment server at ${host}:${port} is not under the root the token names`
      )
    const trust = createTrustStore({
      roots: [challenge.root],
      ...(challenge.crl === undefined ? { requireCrl: false } : { crls: [challenge.crl] })
    })
    let caPeerId: string
    try {
      const server = await verifyPeerChain(challenge.serverChain, { trust, purpose: 'serverAuth' })
      if (!equalBytes(server.publicKey, channel.remotePeer.publicKey))
        throw new Error('the certificate names another key than the channel proved')
      caPeerId = server.peerId
    } catch (err) {
      throw new EnrollError(
        'enroll-ca-mismatch',
        `the enrollment server's certificate does not prove it: ${(err as Error).message}`,
        {
          cause: err
        }
      )
    }
    // every member holds a certificate under the root: the CA node also proves it holds this
    // token's record (the filed hash of the secret), on this channel, before the secret leaves
    const hash = createHash('sha256').update(token.secret).digest()
    const expected = caProof(hash, channel.handshakeHash, token.tokenId)
    hash.fill(0)
    if (challenge.caProof === undefined)
      throw new EnrollError(
        'enroll-token-mac',
        `the enrollment server at ${host}:${port} sent no proof that it holds this token (a CA node older than this peerguard, or not the CA node): the secret was not sent`
      )
    if (!equalBytes(challenge.caProof, expected))
      throw new EnrollError(
        'enroll-token-mac',
        `the enrollment server at ${host}:${port} does not hold this token: the token is wrong, or the server is not the CA node`
      )
    onProven()
    const csr = (await createCsr({ keyPair: identity, name: challenge.name })).der
    const proof = tokenProof(token.secret, channel.handshakeHash, token.tokenId, csr)
    channel.write(frame(encodeRequest({ secret: token.secret, csr, proof })))
    const result = decodeResult(await reader.next('result', timeoutMs))
    let leaf: Awaited<ReturnType<typeof verifyPeerChain>>
    try {
      leaf = await verifyPeerChain(result.chain.slice(0, -1), { trust, purpose: 'clientAuth' })
    } catch (err) {
      throw new EnrollError('enroll-ca-mismatch', `the issued certificate does not verify: ${(err as Error).message}`, {
        cause: err
      })
    }
    if (!equalBytes(leaf.publicKey, identity.publicKey))
      throw new EnrollError('enroll-csr-mismatch', 'the issued certificate is for another key')
    if (leaf.name !== challenge.name || leaf.groups.join('\n') !== challenge.groups.join('\n'))
      throw new EnrollError('enroll-widening', 'the issued certificate names another name or groups than the token binds')
    const last = result.chain[result.chain.length - 1]
    if (last === undefined || !equalBytes(last, challenge.root))
      throw new EnrollError('enroll-malformed', 'the result chain does not end at the root')
    return {
      ...result,
      root: challenge.root,
      crl: challenge.crl,
      name: leaf.name,
      groups: [...leaf.groups],
      peerId: leaf.peerId,
      caPeerId
    }
  } finally {
    channel.destroy()
  }
}
