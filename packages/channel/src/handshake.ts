import { createHash } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { type KeyPair, peerIdFromPublicKey, sign, verify } from '@peerguard/identity'
import { equalBytes, InvalidArgumentError, type PeerInfo, PeerguardError } from '@peerguard/interface'
import { verifyPeerChain } from '@peerguard/pki'
import { NoiseChannel } from './channel.js'
import { type ChannelCipher, CIPHER_IDS, CipherOffer } from './cipher-offer.js'
import {
  BindingInvalidError,
  CertificateRequiredError,
  CipherMismatchError,
  HandshakeInvalidError,
  PeerMismatchError,
  ProtocolMismatchError,
  UnauthorizedError
} from './errors.js'
import { HandshakeIO } from './handshake-io.js'
import { HandshakeState } from './noise/noise.js'
import { nodeX25519, type NoiseKeyPair, TAG_LENGTH } from './noise/primitives.js'
import { type ChannelOptions, type ResolvedOptions, resolveOptions } from './options.js'
import {
  bindingMessage,
  decodeHandshakePayload,
  encodeAlert,
  encodeHandshakePayload,
  FrameType,
  type HandshakePayload
} from './payload.js'
import { TransportCipher } from './transport-cipher.js'

/** The Noise protocol of a peerguard channel (SPEC.md §1). */
export const PROTOCOL_NAME = 'Noise_XX_25519_ChaChaPoly_SHA256'
/** The reconnection protocol, when the initiator knows the responder's static key (SPEC.md §2.5). */
export const IK_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_SHA256'
/** The prologue: protocol and version (SPEC.md §1). */
export const PROLOGUE = new TextEncoder().encode('peerguard-channel/1')
/** Message 1 of XX is the 32-byte ephemeral key and an empty payload (SPEC.md §2.1). */
const MESSAGE_1_LENGTH = 32
/** IK message 1 is at least e (32) + encrypted s (48) + the payload tag (16); shorter ones are XX with a cipher offer (SPEC.md §2.6). */
const MIN_IK_MESSAGE_1 = 32 + 32 + TAG_LENGTH + TAG_LENGTH
/** Message 2 is at least e (32) + encrypted s (32 + 16) + the payload tag (16). */
const MIN_MESSAGE_2 = 32 + 32 + TAG_LENGTH + TAG_LENGTH
/** IK message 2 is at least e (32) + the payload tag (16). */
const MIN_IK_MESSAGE_2 = 32 + TAG_LENGTH
/** The IK initiator's key-confirmation frame: an empty DATA frame, type byte + tag (SPEC.md §2.5). */
const IK_CONFIRM_LENGTH = 1 + TAG_LENGTH
/** Message 3 is at least encrypted s (48) + the payload tag. */
const MIN_MESSAGE_3 = 32 + TAG_LENGTH + TAG_LENGTH

/** The Noise static key of an identity and the identity's signature over it, made once per process. */
interface LocalStatic {
  keyPair: NoiseKeyPair
  signature: Uint8Array
}
const statics = new WeakMap<Uint8Array, LocalStatic>()

function localStatic(identity: KeyPair): LocalStatic {
  let s = statics.get(identity.secretKey)
  if (s === undefined) {
    const keyPair = nodeX25519.generateKeyPair()
    s = { keyPair, signature: sign(bindingMessage(keyPair.publicKey), identity.secretKey) }
    statics.set(identity.secretKey, s)
  }
  return s
}

function localPayload(o: ResolvedOptions, protocols: string[]): Uint8Array {
  const s = localStatic(o.identity)
  return encodeHandshakePayload({ identityKey: o.identity.publicKey, identitySig: s.signature, certificates: o.chain, protocols })
}

function addressOf(socket: Duplex): string | undefined {
  const s = socket as { remoteAddress?: string; remotePort?: number }
  if (typeof s.remoteAddress !== 'string') return undefined
  return s.remoteAddress.includes(':') ? `[${s.remoteAddress}]:${s.remotePort}` : `${s.remoteAddress}:${s.remotePort}`
}

/**
 * Bindings (identity key, Noise static key, signature) that verified before: a peer keeps its
 * static key for the life of its process, so reconnections skip the Ed25519 verification. Only
 * successes are kept, keyed by the SHA-256 of all three; bounded, oldest dropped first.
 */
const verifiedBindings = new Set<string>()
const VERIFIED_BINDINGS_MAX = 4096

function verifyBinding(payload: HandshakePayload, remoteStatic: Uint8Array): void {
  const key = createHash('sha256').update(payload.identityKey).update(remoteStatic).update(payload.identitySig).digest('base64')
  if (verifiedBindings.has(key)) return
  let bound = false
  try {
    bound = verify(payload.identitySig, bindingMessage(remoteStatic), payload.identityKey)
  } catch (err) {
    throw new BindingInvalidError('peer identity key is not a valid Ed25519 key', { cause: err })
  }
  if (!bound) throw new BindingInvalidError()
  if (verifiedBindings.size >= VERIFIED_BINDINGS_MAX) verifiedBindings.delete(verifiedBindings.values().next().value as string)
  verifiedBindings.add(key)
}

/** SPEC.md §2.4: binding, certificate chain or pin, expected peer. */
async function authenticate(
  payload: HandshakePayload,
  remoteStatic: Uint8Array,
  o: ResolvedOptions,
  purpose: 'clientAuth' | 'serverAuth',
  socket: Duplex
): Promise<PeerInfo> {
  verifyBinding(payload, remoteStatic)
  const peerId = peerIdFromPublicKey(payload.identityKey).toString()
  const address = addressOf(socket)
  let info: PeerInfo
  if (payload.certificates.length > 0 && o.trust !== undefined) {
    const v = await verifyPeerChain(payload.certificates, {
      trust: o.trust,
      purpose,
      ...(o.clock === undefined ? {} : { clock: o.clock })
    })
    if (!equalBytes(v.publicKey, payload.identityKey)) {
      throw new BindingInvalidError('the certificate was issued for another key than the one that signed the Noise static key', {
        details: { certificatePeerId: v.peerId, peerId }
      })
    }
    info = {
      peerId,
      publicKey: payload.identityKey,
      name: v.name,
      groups: [...v.groups],
      certificate: v.certificate,
      chain: v.chain,
      ...(address === undefined ? {} : { address })
    }
    const kp = o.knownPeers
    if (kp?.certified === true)
      await kp.store.check(kp.name, peerId, { certified: true, trustOnFirstUse: kp.trustOnFirstUse !== false, peerName: v.name })
  } else if (o.pinnedPeers.has(peerId)) {
    info = { peerId, publicKey: payload.identityKey, groups: [], ...(address === undefined ? {} : { address }) }
  } else if (o.knownPeers !== undefined) {
    await o.knownPeers.store.check(o.knownPeers.name, peerId, { trustOnFirstUse: o.knownPeers.trustOnFirstUse !== false })
    info = { peerId, publicKey: payload.identityKey, groups: [], ...(address === undefined ? {} : { address }) }
  } else {
    throw new CertificateRequiredError(
      payload.certificates.length > 0
        ? `peer ${peerId} presented a certificate but no trust store was given to verify it`
        : `peer ${peerId} presented no certificate and is neither pinned nor a known peer`
    )
  }
  if (o.expectedPeerId !== undefined && !o.expectedPeerId.has(peerId)) {
    const expected = [...o.expectedPeerId]
    throw new PeerMismatchError(
      `expected peer ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}, but the channel authenticated ${peerId}`,
      { details: { expected: expected.length === 1 ? expected[0] : expected, actual: peerId } }
    )
  }
  return info
}

async function gate(o: ResolvedOptions, peer: PeerInfo): Promise<void> {
  if (o.authorize === undefined) return
  let result: Awaited<ReturnType<NonNullable<ResolvedOptions['authorize']>>>
  try {
    result = await o.authorize(peer)
  } catch (err) {
    throw new UnauthorizedError('the authorization gate failed', { cause: err })
  }
  const allowed = typeof result === 'boolean' ? result : result?.allowed === true
  if (allowed) return
  const code = typeof result === 'object' && result !== null && typeof result.code === 'string' ? result.code : undefined
  const reason = typeof result === 'object' && result !== null && typeof result.reason === 'string' ? result.reason : 'refused'
  throw new UnauthorizedError(`peer ${peer.peerId} refused: ${code === undefined ? '' : `${code}: `}${reason}`, {
    details: { peerId: peer.peerId, ...(code === undefined ? {} : { decision: code }), reason }
  })
}

function toPeerguardError(err: unknown): PeerguardError {
  if (err instanceof PeerguardError) return err
  return new HandshakeInvalidError(`channel handshake failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

function checkSocket(socket: unknown): asserts socket is Duplex {
  const s = socket as Duplex
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.write !== 'function' ||
    typeof s.on !== 'function' ||
    typeof s.pause !== 'function'
  ) {
    throw new InvalidArgumentError('socket: expected a Node Duplex stream')
  }
  if (s.destroyed) throw new InvalidArgumentError('socket: the stream is already destroyed')
  // The channel coalesces its own writes into frames; Nagle's algorithm would only add latency.
  const tcp = s as { setNoDelay?: (on: boolean) => void }
  if (typeof tcp.setNoDelay === 'function') tcp.setNoDelay(true)
}

/** Pick the protocol (SPEC.md §2.2): the first of `preferred` that `offered` contains. */
function choose(preferred: readonly string[], offered: readonly string[]): string | undefined {
  if (preferred.length === 0 || offered.length === 0) return undefined
  const protocol = preferred.find((p) => offered.includes(p))
  if (protocol === undefined) {
    throw new ProtocolMismatchError(`no common protocol: ${preferred.join(', ')} against ${offered.join(', ')}`)
  }
  return protocol
}

/**
 * Run the initiator side of a peerguard channel over `socket` (a TCP socket or any Duplex) and
 * resolve to the SecureChannel once the responder accepted (READY). With `remoteStaticKey` the
 * handshake is IK (with key confirmation, SPEC.md §2.5), otherwise XX. Rejects with a PeerguardError and destroys the
 * socket on any failure.
 */
export async function secureOutbound(socket: Duplex, options: ChannelOptions): Promise<NoiseChannel> {
  checkSocket(socket)
  const o = resolveOptions(options)
  const io = new HandshakeIO(socket, o.handshakeTimeoutMs)
  const ik = o.remoteStaticKey !== undefined
  try {
    const offer = ik || (o.ciphers.length === 1 && o.ciphers[0] === 'ChaChaPoly') ? undefined : CipherOffer.encode(o.ciphers)
    const start = (protocolName: string, ephemeralKeyPair?: NoiseKeyPair): HandshakeState =>
      new HandshakeState({
        protocolName,
        role: 'initiator',
        prologue: PROLOGUE,
        staticKeyPair: localStatic(o.identity).keyPair,
        ...(ik ? { remoteStaticPublicKey: o.remoteStaticKey } : {}),
        ...(ephemeralKeyPair === undefined ? {} : { ephemeralKeyPair })
      })
    let hs: HandshakeState
    let protocol: string | undefined
    let peer: PeerInfo
    let confirmed: TransportCipher | undefined
    if (ik) {
      // SPEC.md §2.5: -> e, es, s, ss + our payload (offering our protocols); <- e, ee, se + theirs.
      hs = start(IK_PROTOCOL_NAME)
      io.expect(MIN_IK_MESSAGE_2, o.maxHandshakeMessageBytes)
      io.write(hs.writeMessage(localPayload(o, o.protocols)))
      const remote = decodeHandshakePayload(hs.readMessage(await io.read()))
      peer = await io.guard(authenticate(remote, hs.remoteStaticPublicKey as Uint8Array, o, 'serverAuth', socket))
      if (remote.protocols.length > 1) throw new HandshakeInvalidError('IK message 2 must name at most one protocol')
      protocol = remote.protocols[0]
      if (protocol !== undefined && !o.protocols.includes(protocol)) {
        throw new ProtocolMismatchError(`the peer chose protocol ${protocol}, which was not offered`)
      }
      await io.guard(gate(o, peer))
      // SPEC.md §2.5 key confirmation: an empty DATA frame, the first under our sending key, proves
      // that this connection holds the ephemeral key of message 1 (a replayed message 1 cannot).
      confirmed = new TransportCipher(hs.result.send)
      socket.write(Buffer.concat(confirmed.seal(FrameType.DATA, [], 0)))
    } else {
      let m2: Uint8Array
      if (offer === undefined) {
        hs = start(PROTOCOL_NAME)
        io.expect(MIN_MESSAGE_2, o.maxHandshakeMessageBytes)
        io.write(hs.writeMessage())
        m2 = await io.read()
      } else {
        // SPEC.md §2.6: `e` and the offer go out before the cipher is known; message 2 opens with
        // the responder's choice, and the handshake then runs under that protocol name with the
        // same `e`, the offer mixed into h (a changed offer or choice fails message 2).
        const e = nodeX25519.generateKeyPair()
        io.expect(1 + MIN_MESSAGE_2, o.maxHandshakeMessageBytes)
        io.write(Buffer.concat([e.publicKey, offer]))
        const framed = await io.read()
        const cipher = CipherOffer.cipherOf(framed[0] as number)
        if (cipher === undefined || !o.ciphers.includes(cipher))
          throw new HandshakeInvalidError(`message 2: the responder chose cipher id ${framed[0]}, which was not offered`)
        hs = start(CipherOffer.xxProtocolName(cipher), e)
        hs.writeMessage(offer) // message 1 as sent: mixes e and the offer into h
        m2 = framed.subarray(1)
      }
      const remote = decodeHandshakePayload(hs.readMessage(m2))
      peer = await io.guard(authenticate(remote, hs.remoteStaticPublicKey as Uint8Array, o, 'serverAuth', socket))
      protocol = choose(o.protocols, remote.protocols)
      await io.guard(gate(o, peer))
      io.write(hs.writeMessage(localPayload(o, protocol === undefined ? [] : [protocol])))
    }
    const { receive, handshakeHash } = hs.result
    const channel = new NoiseChannel({
      socket,
      decoder: io.decoder,
      send: confirmed ?? new TransportCipher(hs.result.send),
      receive: new TransportCipher(receive),
      remotePeer: peer,
      protocol,
      handshakeHash,
      remoteStaticKey: hs.remoteStaticPublicKey as Uint8Array,
      pattern: ik ? 'IK' : 'XX',
      awaitReady: true,
      rekeyAfterBytes: o.rekeyAfterBytes,
      rekeyAfterFrames: o.rekeyAfterFrames
    })
    const ready = channel.ready()
    ready.catch(() => {})
    io.detach(true) // READY must still arrive before the deadline
    const swallow = (): void => {} // errors before READY surface through the promise below
    channel.on('error', swallow)
    channel.start()
    try {
      await Promise.race([ready, io.guard(new Promise<never>(() => {}))])
    } catch (err) {
      channel.destroy()
      throw err
    }
    io.finish()
    channel.off('error', swallow)
    return channel
  } catch (err) {
    io.fail(toPeerguardError(err))
    io.detach()
    socket.destroy()
    throw toPeerguardError(err)
  }
}

/**
 * Run the responder side of a peerguard channel over `socket`. Resolves to the SecureChannel once
 * the initiator is authenticated and `authorize` allowed it (READY sent). A 32-byte message 1 is
 * XX; a longer one is IK (SPEC.md §2.5), where nothing is decided about the initiator (no
 * certificate check, known-peers entry or gate) before its key-confirmation frame decrypted, so a
 * replayed message 1 never authenticates anyone. A peer refused once transport keys exist gets an
 * ALERT with the reason code before the socket closes.
 */
export async function secureInbound(socket: Duplex, options: ChannelOptions): Promise<NoiseChannel> {
  checkSocket(socket)
  const o = resolveOptions(options)
  const io = new HandshakeIO(socket, o.handshakeTimeoutMs)
  let alertWith: TransportCipher | undefined
  let receiveWith: TransportCipher | undefined
  /** IK: once message 1 is read, a refusal before message 2 still completes the handshake so that the ALERT can be encrypted. */
  let finishIk: (() => void) | undefined
  try {
    const staticKeyPair = localStatic(o.identity).keyPair
    io.expect(MESSAGE_1_LENGTH, Math.max(MESSAGE_1_LENGTH, o.maxHandshakeMessageBytes))
    const m1 = await io.read()
    const ik = m1.length >= MIN_IK_MESSAGE_1
    // SPEC.md §2.6: 32 bytes is the original XX (ChaChaPoly), 33..95 XX with a cipher offer, longer IK (ChaChaPoly).
    const offered = m1.length > MESSAGE_1_LENGTH && !ik ? CipherOffer.decode(m1.subarray(MESSAGE_1_LENGTH)) : undefined
    const cipher: ChannelCipher | undefined =
      offered === undefined
        ? o.ciphers.includes('ChaChaPoly')
          ? 'ChaChaPoly'
          : undefined
        : CipherOffer.choose(o.ciphers, offered)
    if (cipher === undefined) {
      throw new CipherMismatchError(
        `no common transport cipher: this side allows ${o.ciphers.join(', ')}, the initiator ${offered === undefined ? 'ChaChaPoly only' : 'offered none of them'}`
      )
    }
    const hs = new HandshakeState({
      protocolName: ik ? IK_PROTOCOL_NAME : CipherOffer.xxProtocolName(cipher),
      role: 'responder',
      prologue: PROLOGUE,
      staticKeyPair
    })
    let remote: HandshakePayload
    let protocol: string | undefined
    if (ik) {
      remote = decodeHandshakePayload(hs.readMessage(m1))
      finishIk = () => {
        io.write(hs.writeMessage(localPayload(o, [])))
        alertWith = new TransportCipher(hs.result.send)
      }
      // The choice depends only on what message 1 offers, not on who sent it.
      protocol = choose(remote.protocols, o.protocols)
      finishIk = undefined
      io.expect(IK_CONFIRM_LENGTH, IK_CONFIRM_LENGTH)
      io.write(hs.writeMessage(localPayload(o, protocol === undefined ? [] : [protocol])))
      alertWith = new TransportCipher(hs.result.send)
      receiveWith = new TransportCipher(hs.result.receive)
      // SPEC.md §2.5 key confirmation: message 1 may be a replay; the initiator's first transport
      // frame, under keys that mix our fresh ephemeral key, can only come from its author.
      const confirm = await io.read()
      const { type, body } = receiveWith.open([confirm], confirm.length)
      if (type !== FrameType.DATA || body.some((b) => b.length > 0))
        throw new HandshakeInvalidError('IK: the first transport frame must be an empty DATA frame (key confirmation)')
      io.expect(17, 65535)
    } else {
      hs.readMessage(m1)
      io.expect(MIN_MESSAGE_3, o.maxHandshakeMessageBytes)
      const m2 = hs.writeMessage(localPayload(o, o.protocols))
      io.write(offered === undefined ? m2 : Buffer.concat([Uint8Array.of(CIPHER_IDS[cipher]), m2]))
      remote = decodeHandshakePayload(hs.readMessage(await io.read()))
      alertWith = new TransportCipher(hs.result.send)
      io.expect(17, 65535)
    }
    const peer = await io.guard(authenticate(remote, hs.remoteStaticPublicKey as Uint8Array, o, 'clientAuth', socket))
    if (!ik) {
      if (remote.protocols.length > 1) throw new HandshakeInvalidError('message 3 must name at most one protocol')
      protocol = remote.protocols[0]
      if (protocol !== undefined && !o.protocols.includes(protocol)) {
        throw new ProtocolMismatchError(`the peer chose protocol ${protocol}, which is not offered`)
      }
    }
    await io.guard(gate(o, peer))
    io.detach()
    const { handshakeHash } = hs.result
    const channel = new NoiseChannel({
      socket,
      decoder: io.decoder,
      send: alertWith as TransportCipher,
      receive: receiveWith ?? new TransportCipher(hs.result.receive),
      remotePeer: peer,
      protocol,
      handshakeHash,
      remoteStaticKey: hs.remoteStaticPublicKey as Uint8Array,
      pattern: ik ? 'IK' : 'XX',
      awaitReady: false,
      rekeyAfterBytes: o.rekeyAfterBytes,
      rekeyAfterFrames: o.rekeyAfterFrames
    })
    channel.sendReady()
    channel.start()
    return channel
  } catch (err) {
    const e = toPeerguardError(err)
    io.fail(e)
    io.detach()
    receiveWith?.clear()
    if (finishIk !== undefined && !socket.destroyed && e.code !== 'channel-handshake-timeout') {
      try {
        finishIk()
      } catch {
        alertWith = undefined
      }
    }
    if (alertWith !== undefined && !socket.destroyed && e.code !== 'channel-handshake-timeout') {
      // SPEC.md §3.3: tell the initiator why, then close.
      const reason = e.code === 'channel-unauthorized' ? String((e.details?.reason as string | undefined) ?? '') : e.message
      const decision = e.details?.decision
      const body = encodeAlert(e.code, typeof decision === 'string' ? `${decision}: ${reason}` : reason)
      socket.on('error', () => {}) // the peer may reset while the alert lingers
      try {
        socket.end(Buffer.concat(alertWith.seal(FrameType.ALERT, [body], body.length)))
        setTimeout(() => socket.destroy(), 1000).unref()
      } catch {
        socket.destroy()
      }
    } else {
      socket.destroy()
    }
    alertWith?.clear()
    throw e
  }
}
