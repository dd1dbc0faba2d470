import { createPrivateKey } from 'node:crypto'
import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import {
  type ConnectionOptions,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  connect as tlsConnect,
  TLSSocket
} from 'node:tls'
import type { KeyPair } from '@peerguard/identity'
import {
  assertInteger,
  type Clock,
  InvalidArgumentError,
  type PeerInfo,
  PeerguardError,
  type SecureChannel
} from '@peerguard/interface'
import { checkCredentials, type Credentials, pemEncode, type TrustStore, verifyPeerChain } from '@peerguard/pki'
import { CertificateRequiredError, PeerMismatchError, UnauthorizedError } from '../errors.js'
import type { Authorize } from '../options.js'
import { TlsHandshakeError } from './errors.js'

/** Options of a TLS 1.3 channel with peerguard certificates (a subset of the Noise channel's). */
export interface TlsChannelOptions extends Credentials {
  /** This peer's Ed25519 identity; its key signs the TLS CertificateVerify. Required. */
  identity: KeyPair
  /** This peer's certificate chain, leaf first, DER (the leaf's key is the identity key). Required. */
  chain: readonly Uint8Array[]
  /** Trust store for the remote chain, checked with pki's `verifyPeerChain`. Required. */
  trust: TrustStore
  /** The gate, called with the authenticated peer before any application byte. Default: allow. */
  authorize?: Authorize
  /** ALPN protocols in order of preference. Default: none. */
  protocols?: readonly string[]
  /** Handshake deadline (TLS handshake, verification and the gate), ms. Default 10000. */
  handshakeTimeoutMs?: number
  /** Time source for certificate checks. Default: the trust store's clock. */
  clock?: Clock
}

interface Resolved {
  context: SecureContext
  trust: TrustStore
  expectedPeerIds: ReadonlySet<string> | undefined
  authorize: Authorize | undefined
  protocols: string[]
  timeoutMs: number
  clock: Clock | undefined
}

/** PKCS#8 PEM of an Ed25519 identity (node:tls takes keys as PEM). Cached per secret key. */
const keyCache = new WeakMap<Uint8Array, string>()
function identityPem(identity: KeyPair): string {
  let pem = keyCache.get(identity.secretKey)
  if (pem === undefined) {
    pem = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: Buffer.from(identity.secretKey.subarray(0, 32)).toString('base64url'),
        x: Buffer.from(identity.publicKey).toString('base64url')
      },
      format: 'jwk'
    }).export({ type: 'pkcs8', format: 'pem' }) as string
    keyCache.set(identity.secretKey, pem)
  }
  return pem
}

/**
 * One TLS context per identity and chain: building it parses key and certificates, which would
 * otherwise cost every connection a millisecond or more. Cached per secret key, then per chain.
 */
const contextCache = new WeakMap<Uint8Array, Map<string, SecureContext>>()
function secureContextOf(identity: KeyPair, chain: readonly Uint8Array[]): SecureContext {
  const cert = chain.map((c) => pemEncode(c, 'CERTIFICATE')).join('')
  let byChain = contextCache.get(identity.secretKey)
  if (byChain === undefined) {
    byChain = new Map()
    contextCache.set(identity.secretKey, byChain)
  }
  let ctx = byChain.get(cert)
  if (ctx === undefined) {
    if (byChain.size >= 16) byChain.clear() // reloads replace chains; keep the cache small
    // sessionIdContext: TLS clients that resume sessions (stunnel, curl) are otherwise answered with
    // an internal-error alert, since the server requests certificates. A resumed session still
    // goes through verifyPeerChain (CRLs, expiry) with the certificate stored in the session.
    ctx = createSecureContext({ key: identityPem(identity), cert, minVersion: 'TLSv1.3', sessionIdContext: 'peerguard-proxy/1' })
    byChain.set(cert, ctx)
  }
  return ctx
}

function resolve(options: TlsChannelOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const { chain, expectedPeerIds } = checkCredentials(options, { chainRequired: 'TLS needs a certificate', trustRequired: true })
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('options.authorize: expected a function')
  const protocols = options.protocols ?? []
  if (!Array.isArray(protocols) || protocols.some((p) => typeof p !== 'string' || p.length < 1 || Buffer.byteLength(p) > 255))
    throw new InvalidArgumentError('options.protocols: expected an array of names of 1..255 bytes')
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000
  assertInteger('options.handshakeTimeoutMs', timeoutMs, 1, 600_000)
  return {
    context: secureContextOf(options.identity, chain),
    trust: options.trust,
    expectedPeerIds,
    authorize: options.authorize,
    protocols: [...protocols],
    timeoutMs,
    clock: options.clock
  }
}

/** The chain the peer sent, leaf first, DER, as node:tls reports it (self-signed roots dropped). */
function peerChain(tls: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = []
  let c: PeerCertificate | undefined = tls.getPeerCertificate(true) as PeerCertificate
  const seen = new Set<string>()
  while (c?.raw !== undefined && out.length < 8) {
    const fp = c.fingerprint256
    if (seen.has(fp)) break
    seen.add(fp)
    const issuer: PeerCertificate | undefined = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate
    if (out.length > 0 && issuer?.fingerprint256 === fp) break // a self-signed root: the trust store has it
    out.push(new Uint8Array(c.raw))
    c = issuer
  }
  return out
}

async function authenticate(tls: TLSSocket, o: Resolved, purpose: 'clientAuth' | 'serverAuth'): Promise<PeerInfo> {
  const chain = peerChain(tls)
  if (chain.length === 0) throw new CertificateRequiredError('the TLS peer presented no certificate')
  const v = await verifyPeerChain(chain, { trust: o.trust, purpose, ...(o.clock === undefined ? {} : { clock: o.clock }) })
  if (o.expectedPeerIds !== undefined && !o.expectedPeerIds.has(v.peerId)) {
    const expected = [...o.expectedPeerIds]
    throw new PeerMismatchError(
      `expected peer ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}, but the TLS peer is ${v.peerId}`,
      { details: { expected: expected.length === 1 ? expected[0] : expected, actual: v.peerId } }
    )
  }
  const address =
    typeof tls.remoteAddress === 'string'
      ? tls.remoteAddress.includes(':')
        ? `[${tls.remoteAddress}]:${tls.remotePort}`
        : `${tls.remoteAddress}:${tls.remotePort}`
      : undefined
  return {
    peerId: v.peerId,
    publicKey: v.publicKey,
    name: v.name,
    groups: [...v.groups],
    certificate: v.certificate,
    chain: v.chain,
    ...(address === undefined ? {} : { address })
  }
}

async function gate(o: Resolved, peer: PeerInfo): Promise<void> {
  if (o.authorize === undefined) return
  let result: Awaited<ReturnType<Authorize>>
  try {
    result = await o.authorize(peer)
  } catch (err) {
    throw new UnauthorizedError('the authorization gate failed', { cause: err })
  }
  if (result === true || (typeof result === 'object' && result !== null && result.allowed === true)) return
  const code = typeof result === 'object' && result !== null && typeof result.code === 'string' ? result.code : undefined
  const reason = typeof result === 'object' && result !== null && typeof result.reason === 'string' ? result.reason : 'refused'
  throw new UnauthorizedError(`peer ${peer.peerId} refused: ${code === undefined ? '' : `${code}: `}${reason}`, {
    details: { peerId: peer.peerId, ...(code === undefined ? {} : { decision: code }), reason }
  })
}

function toError(err: unknown): PeerguardError {
  if (err instanceof PeerguardError) return err
  return new TlsHandshakeError(`TLS handshake failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

/**
 * A SecureChannel over TLS 1.3: wraps the TLSSocket so that the remote peer is verified (and
 * gated) before any byte is released, `end()` is a TLS half-close (close_notify), and `destroy()`
 * resets the TCP connection so the other side sees an error, not a clean end of data.
 */
export class TlsChannel extends Duplex implements SecureChannel {
  readonly remotePeer: PeerInfo
  readonly protocol: string | undefined
  readonly #tls: TLSSocket
  readonly #raw: Socket | undefined
  #pendingWrite: ((err?: Error | null) => void) | undefined
  #ended = false

  /** @internal use secureTlsInbound / secureTlsOutbound. */
  constructor(tls: TLSSocket, raw: Socket | undefined, remotePeer: PeerInfo) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 })
    this.#tls = tls
    this.#raw = raw
    this.remotePeer = remotePeer
    this.protocol = typeof tls.alpnProtocol === 'string' ? tls.alpnProtocol : undefined
    tls.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) tls.pause()
    })
    tls.on('end', () => {
      this.#ended = true
      this.push(null)
    })
    tls.on('drain', () => {
      const cb = this.#pendingWrite
      this.#pendingWrite = undefined
      cb?.()
    })
    tls.on('error', (err: Error) => this.destroy(toError(err)))
    tls.on('close', () => {
      if (!this.#ended && !this.destroyed)
        this.destroy(new TlsHandshakeError('the TLS connection closed before its end of data', { details: {} }))
      else if (!this.writableFinished && !this.destroyed) this.destroy()
    })
  }

  /** The TLS version and cipher suite negotiated, e.g. `TLSv1.3 TLS_AES_256_GCM_SHA384`. */
  get cipher(): string {
    return `${this.#tls.getProtocol() ?? '?'} ${this.#tls.getCipher()?.name ?? '?'}`
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.#tls.write(chunk)) callback()
    else this.#pendingWrite = callback
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#tls.end(() => callback())
  }

  override _read(): void {
    this.#tls.resume()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const cleanlyClosed = this.#ended && this.writableFinished
    // RST: the peer must not mistake an abort for a clean end of data
    if (!cleanlyClosed && this.#raw !== undefined) resetConnection(this.#raw)
    this.#tls.destroy()
    const pending = this.#pendingWrite
    this.#pendingWrite = undefined
    pending?.(err ?? new Error('channel destroyed'))
    callback(err)
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout()
      reject(new TlsHandshakeError(`TLS handshake did not finish within ${ms} ms`))
    }, ms)
    work.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })
}

const ignore = (): void => {}

/**
 * Abort the TCP connection under a TLSSocket with a RST. `socket.resetAndDestroy()` crashes Node 20
 * (segfault) when a TLSWrap sits on the handle, so stop reading and reset the TCP handle itself,
 * which is what resetAndDestroy does underneath; the TLSSocket is destroyed right after.
 */
function resetConnection(raw: Socket): void {
  const h = (raw as unknown as { _handle?: { readStop?: () => void; reset?: (cb: () => void) => number } })._handle
  if (h === undefined || h === null || typeof h.reset !== 'function') return
  try {
    h.readStop?.()
    h.reset(ignore)
  } catch {
    // already closing: nothing to reset
  }
}

/** Resolves on the TLS handshake's `event`; afterwards errors are ignored until the channel takes over. */
function handshakeDone(tls: TLSSocket, event: 'secure' | 'secureConnect'): Promise<void> {
  return new Promise<void>((res, rej) => {
    const onClose = (): void => done(new TlsHandshakeError('the connection closed during the TLS handshake'))
    const done = (err?: Error): void => {
      tls.off(event, onOk)
      tls.off('error', done)
      tls.off('close', onClose)
      tls.on('error', ignore)
      if (err === undefined) res()
      else rej(err)
    }
    const onOk = (): void => done()
    tls.once(event, onOk)
    tls.once('error', done)
    tls.once('close', onClose)
  })
}

function checkSocket(socket: unknown): asserts socket is Socket {
  const s = socket as Socket
  if (typeof s !== 'object' || s === null || typeof s.write !== 'function' || typeof s.on !== 'function')
    throw new InvalidArgumentError('socket: expected a net.Socket or Duplex stream')
  if (s.destroyed) throw new InvalidArgumentError('socket: the stream is already destroyed')
}

/**
 * TLS 1.3 client side over `socket`: present `chain`, verify the server's chain with pki's
 * `verifyPeerChain` (purpose serverAuth; node's CA logic is not used), check `expectedPeerId`, call
 * `authorize`, and resolve to a TlsChannel. Rejects with a PeerguardError and destroys the socket.
 */
export async function secureTlsOutbound(socket: Socket | Duplex, options: TlsChannelOptions): Promise<TlsChannel> {
  checkSocket(socket)
  const o = resolve(options)
  const tlsOptions: ConnectionOptions = {
    socket: socket as Socket,
    secureContext: o.context,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: false, // verification is pki's verifyPeerChain below, not node's CA store
    checkServerIdentity: () => undefined,
    allowHalfOpen: true,
    ...(o.protocols.length > 0 ? { ALPNProtocols: o.protocols } : {})
  } as ConnectionOptions
  return establish(tlsConnect(tlsOptions), socket, o, 'secureConnect', 'serverAuth')
}

/**
 * TLS 1.3 server side over an accepted `socket`: require a client certificate, verify it with
 * pki's `verifyPeerChain` (purpose clientAuth), call `authorize`, and only then release bytes.
 * A refused peer's connection is closed (TLS has no room for peerguard's reason codes).
 */
export async function secureTlsInbound(socket: Socket | Duplex, options: TlsChannelOptions): Promise<TlsChannel> {
  checkSocket(socket)
  const o = resolve(options)
  const tls = new TLSSocket(socket as Socket, {
    isServer: true,
    secureContext: o.context,
    requestCert: true,
    rejectUnauthorized: false, // verified below with pki; a missing certificate is refused there
    ...(o.protocols.length > 0 ? { ALPNProtocols: o.protocols } : {})
  })
  return establish(tls, socket, o, 'secure', 'clientAuth')
}

/**
 * Both sides after the TLS socket exists: wait for the handshake, verify the peer's chain for
 * `purpose`, call the gate, all within the deadline; on any failure reset the TCP connection.
 */
async function establish(
  tls: TLSSocket,
  socket: Socket | Duplex,
  o: Resolved,
  event: 'secure' | 'secureConnect',
  purpose: 'clientAuth' | 'serverAuth'
): Promise<TlsChannel> {
  const raw = '_handle' in socket ? (socket as Socket) : undefined
  try {
    const peer = await withDeadline(
      (async () => {
        await handshakeDone(tls, event)
        tls.pause()
        const p = await authenticate(tls, o, purpose)
        await gate(o, p)
        return p
      })(),
      o.timeoutMs,
      () => tls.destroy()
    )
    tls.off('error', ignore)
    return new TlsChannel(tls, raw, peer)
  } catch (err) {
    tls.on('error', ignore)
    // RST rather than FIN: the peer must see a refusal as an error, never as an empty clean answer
    if (raw !== undefined) resetConnection(raw)
    tls.destroy()
    socket.destroy()
    throw toError(err)
  }
}
