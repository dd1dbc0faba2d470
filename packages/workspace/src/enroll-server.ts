/**
 * The CA side of enrollment (SPEC.md §6.4). A joiner has no certificate yet, so the enrollment
 * channel accepts a certificate-less initiator (a throwaway in-memory known-peers store per
 * connection) and admits it to nothing but this exchange: the joiner is authenticated by its
 * token (secret matching the filed hash, and a proof bound to the handshake hash and its CSR),
 * never by the channel. The token is claimed (O_EXCL marker) before the certificate is issued,
 * so a token enrolls exactly one key; the certificate carries the token's name and groups only.
 * No disk work before the handshake limits and the channel: only then, and only the one token
 * the joiner names, is read.
 */
import type { Duplex } from 'node:stream'
import { HandshakeLimiter, KnownPeers, secureInbound } from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import {
  assertBytesRange,
  assertInteger,
  equalBytes,
  InvalidArgumentError,
  isPeerguardError,
  hostOfAddress
} from '@peerguard/interface'
import { type CertificateAuthority, checkKeyPair, parseCsr, type ParsedCsr } from '@peerguard/pki'
import { type EnrollCode, EnrollError } from './enroll-errors.js'
import {
  decodeHello,
  decodeRequest,
  ENROLL_PROTOCOL,
  encodeChallenge,
  encodeRefusal,
  encodeResult,
  frame,
  MAX_JOINER_MESSAGE,
  MessageReader,
  tokenProof
} from './enroll-wire.js'
import { type TokenRecord, TokenStore } from './token-store.js'

/** One enrollment outcome, for the CA's decision log. */
export interface EnrollEvent {
  readonly outcome: 'enrolled' | 'refused'
  /** `enrolled`, or the refusal's enroll-* code. */
  readonly code: string
  readonly reason: string
  readonly tokenId?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly peerId?: string
  readonly address?: string
  readonly serial?: string
  /**
   * The joiner proved the token's secret (a refusal after that is a decision about the token's
   * holder; before it, about an unauthenticated stranger — the CA node only counts those).
   */
  readonly proven?: boolean
}

export interface EnrollmentServiceOptions {
  /** The CA (opened with its key) that issues the certificates. */
  ca: CertificateAuthority
  /** The root the CA chains to (the token's fingerprint names it). */
  root: Uint8Array
  tokens: TokenStore
  /** The CA node's identity and its certificate chain (leaf first), which the joiner checks. */
  identity: KeyPair
  chain: readonly Uint8Array[]
  /** What a new member receives besides its certificate (each read at the time of the join). */
  crl?: () => Uint8Array | undefined | Promise<Uint8Array | undefined>
  bundle?: () => Uint8Array | undefined | Promise<Uint8Array | undefined>
  policy?: () => string | undefined | Promise<string | undefined>
  /** Lifetime of the issued certificates in days. Default: the CA's default. */
  days?: number
  onEvent?: (event: EnrollEvent) => void
  /** Called with the token a joiner named, once it is found unused and unexpired (before the challenge). */
  onToken?: (record: TokenRecord) => void
  /** Deadline for each message of the joiner, ms. Default 10000. */
  timeoutMs?: number
  /** Pending-handshake limits (per address, in all). Default: the channel's defaults (16, 128). */
  limiter?: HandshakeLimiter
  /**
   * Exchanges in progress after the handshake (a stranger's, until its token is proved): per
   * remote address and in all. More are closed at once (`enroll-failed`). Default 16 (as the pending handshakes) and 256.
   */
  sessions?: { perAddress: number; total: number }
}

/** Enrollment exchanges in progress at once after the handshake, per remote address and in all (defaults). */
export const MAX_ENROLL_SESSIONS_PER_ADDRESS = 16
export const MAX_ENROLL_SESSIONS = 256

/** Answers enrollment channels; `handle` never throws (every outcome goes to `onEvent`). */
export class EnrollmentService {
  readonly #o: EnrollmentServiceOptions
  readonly #limiter: HandshakeLimiter
  readonly #sessions = new Map<string, number>()
  #sessionCount = 0

  constructor(options: EnrollmentServiceOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
    if (typeof options.ca?.signCsr !== 'function') throw new InvalidArgumentError('options.ca: expected a CertificateAuthority')
    assertBytesRange('options.root', options.root, 1, 16 * 1024)
    if (!(options.tokens instanceof TokenStore)) throw new InvalidArgumentError('options.tokens: expected a TokenStore')
    checkKeyPair('options.identity', options.identity)
    if (!Array.isArray(options.chain) || options.chain.length < 1 || options.chain.length > 8)
      throw new InvalidArgumentError('options.chain: expected 1..8 certificates (DER), leaf first')
    for (const [i, c] of options.chain.entries()) assertBytesRange(`options.chain[${i}]`, c, 1, 16 * 1024)
    for (const k of ['crl', 'bundle', 'policy', 'onEvent', 'onToken'] as const)
      if (options[k] !== undefined && typeof options[k] !== 'function')
        throw new InvalidArgumentError(`options.${k}: expected a function`)
    if (options.days !== undefined) assertInteger('options.days', options.days, 1, 3650)
    if (options.timeoutMs !== undefined) assertInteger('options.timeoutMs', options.timeoutMs, 1, 600_000)
    if (options.limiter !== undefined && !(options.limiter instanceof HandshakeLimiter))
      throw new InvalidArgumentError('options.limiter: expected a HandshakeLimiter')
    if (options.sessions !== undefined) {
      if (typeof options.sessions !== 'object' || options.sessions === null)
        throw new InvalidArgumentError('options.sessions: expected { perAddress, total }')
      assertInteger('options.sessions.perAddress', options.sessions.perAddress, 1, 1_000_000)
      assertInteger('options.sessions.total', options.sessions.total, 1, 1_000_000)
    }
    this.#o = { ...options, chain: [...options.chain] }
    this.#limiter = options.limiter ?? new HandshakeLimiter()
  }

  async handle(socket: Duplex): Promise<void> {
    const o = this.#o
    const timeoutMs = o.timeoutMs ?? 10_000
    const address = remoteAddress(socket)
    const facts: { tokenId?: string; name?: string; groups?: readonly string[]; peerId?: string; proven?: true } = {}
    const refuse = (code: EnrollCode | 'enroll-failed', reason: string): void =>
      o.onEvent?.({ outcome: 'refused', code, reason, ...facts, ...(address === undefined ? {} : { address }) })
    let channel: Awaited<ReturnType<typeof secureInbound>>
    try {
      channel = await this.#limiter.run(socket, () =>
        secureInbound(socket, {
          identity: o.identity,
          chain: [...o.chain],
          knownPeers: { store: KnownPeers.inMemory(), name: 'enroll', trustOnFirstUse: true },
          protocols: [ENROLL_PROTOCOL],
          handshakeTimeoutMs: timeoutMs
        })
      )
    } catch (err) {
      socket.destroy()
      refuse('enroll-failed', `the enrollment channel failed (${isPeerguardError(err) ? err.code : 'internal'})`)
      return
    }
    // a stranger holds an exchange open until a deadline per message: bound how many it holds
    const host = hostOfAddress(address)
    const perAddress = o.sessions?.perAddress ?? MAX_ENROLL_SESSIONS_PER_ADDRESS
    const held = this.#sessions.get(host) ?? 0
    if (held >= perAddress || this.#sessionCount >= (o.sessions?.total ?? MAX_ENROLL_SESSIONS)) {
      channel.destroy()
      refuse('enroll-failed', `too many enrollments in progress (${held} from this address, ${this.#sessionCount} in all)`)
      return
    }
    this.#sessions.set(host, held + 1)
    this.#sessionCount++
    const peer = channel.remotePeer
    facts.peerId = peer.peerId
    const reader = new MessageReader(channel, MAX_JOINER_MESSAGE) // the joiner is not authenticated yet
    try {
      if (channel.protocol !== ENROLL_PROTOCOL)
        throw new EnrollError('enroll-malformed', 'the joiner did not speak the enrollment protocol')
      const tokenId = decodeHello(await reader.next('hello', timeoutMs))
      facts.tokenId = Buffer.from(tokenId).toString('hex')
      const record = await o.tokens.lookup(tokenId)
      facts.name = record.name
      facts.groups = record.groups
      o.onToken?.(record)
      // the proof that this is the CA node (holds the token's record), not any member under the root
      const proof = await o.tokens.caProof(tokenId, channel.handshakeHash)
      const challenge = { root: o.root, serverChain: o.chain, crl: await o.crl?.(), name: record.name, groups: record.groups }
      channel.write(frame(encodeChallenge({ ...challenge, caProof: proof })))
      const request = decodeRequest(await reader.next('request', timeoutMs))
      const expected = tokenProof(request.secret, channel.handshakeHash, tokenId, request.csr)
      const secretOk = await o.tokens.secretMatches(tokenId, request.secret)
      if (!secretOk || !equalBytes(expected, request.proof))
        throw new EnrollError('enroll-token-mac', 'the token proof does not verify')
      facts.proven = true
      checkCsr(request.csr, peer.publicKey, record)
      // read before the claim: a file that cannot be read fails the join without burning the token
      let extras: { bundle: Uint8Array | undefined; policy: string | undefined }
      try {
        extras = { bundle: await o.bundle?.(), policy: await o.policy?.() }
      } catch (err) {
        throw new EnrollError('enroll-failed', `the CA node cannot read what a member receives: ${(err as Error).message}`)
      }
      await o.tokens.claim(tokenId, peer.peerId)
      let issued: Awaited<ReturnType<CertificateAuthority['signCsr']>>
      try {
        issued = await o.ca.signCsr(request.csr, {
          name: record.name,
          groups: [...record.groups],
          peerId: peer.peerId,
          ...(o.days === undefined ? {} : { days: o.days })
        })
      } catch (err) {
        throw new EnrollError('enroll-failed', `the CA could not issue (${isPeerguardError(err) ? err.code : 'internal'})`, {
          cause: err
        })
      }
      channel.end(
        frame(
          encodeResult({
            chain: [...issued.chain, o.root],
            bundle: extras.bundle,
            policy: extras.policy
          })
        )
      )
      o.onEvent?.({
        outcome: 'enrolled',
        code: 'enrolled',
        reason: `enrolled ${record.name} as ${peer.peerId}`,
        ...facts,
        serial: issued.serial,
        ...(address === undefined ? {} : { address })
      })
    } catch (err) {
      const code: EnrollCode = err instanceof EnrollError ? (err.code as EnrollCode) : 'enroll-failed'
      if (!channel.destroyed) channel.end(frame(encodeRefusal(code)))
      refuse(code, err instanceof Error ? err.message : 'internal error')
    } finally {
      this.#sessionCount--
      const left = (this.#sessions.get(host) ?? 1) - 1
      if (left > 0) this.#sessions.set(host, left)
      else this.#sessions.delete(host)
    }
  }
}

/** The CSR certifies the key that authenticated the channel, and asks for nothing beyond the token. */
function checkCsr(csr: Uint8Array, channelKey: Uint8Array, record: { name: string; groups: readonly string[] }): void {
  let parsed: ParsedCsr
  try {
    parsed = parseCsr(csr)
  } catch (err) {
    throw new EnrollError(
      'enroll-malformed',
      `the certificate request does not parse (${isPeerguardError(err) ? err.code : 'internal'})`
    )
  }
  if (parsed.publicKey.keyType !== 'ed25519' || !equalBytes(parsed.publicKey.raw, channelKey))
    throw new EnrollError('enroll-csr-mismatch', "the request's key is not the key that authenticated the channel")
  const cn = parsed.subject.commonName
  if (cn !== undefined && cn !== record.name)
    throw new EnrollError('enroll-widening', 'the request asks for another name than the token binds')
  const ous = parsed.subject.organizationalUnits
  if (ous.some((g) => !record.groups.includes(g)))
    throw new EnrollError('enroll-widening', 'the request asks for groups the token does not bind')
}

function remoteAddress(socket: Duplex): string | undefined {
  const s = socket as { remoteAddress?: string; remotePort?: number }
  return s.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort}`
}
