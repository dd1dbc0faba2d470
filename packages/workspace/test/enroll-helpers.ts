/**
 * A hostile joiner for the enrollment tests: runs the exchange by hand over a real channel, with
 * a chosen CSR or a tampered message, and reports what the CA answered (its refusal code, `ok`,
 * or `closed` when it hung up without an answer).
 */
import { connect } from 'node:net'
import { KnownPeers, secureOutbound } from '@peerguard/channel'
import type { KeyPair } from '@peerguard/identity'
import { EnrollError, type EnrollToken } from '../src/index.js'
import {
  decodeChallenge,
  decodeResult,
  ENROLL_PROTOCOL,
  encodeHello,
  encodeRequest,
  frame,
  MessageReader,
  tokenProof
} from '../src/enroll-wire.js'

export interface Tamper {
  /** Send this body instead of the hello. */
  hello?: Uint8Array
  /** Send this body instead of the request. */
  request?: Uint8Array
  /** Send a frame that announces 100 bytes, 10 of them, then half-close. */
  truncate?: boolean
  /** Compute the proof over this instead of the channel's handshake hash. */
  handshakeHash?: Uint8Array
  /** Offer these protocols instead of the enrollment protocol. */
  protocols?: string[]
}

export async function rawJoin(
  port: number,
  identity: KeyPair,
  token: EnrollToken,
  makeCsr?: () => Promise<Uint8Array>,
  tamper: Tamper = {}
): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const channel = await secureOutbound(socket, {
    identity,
    knownPeers: { store: KnownPeers.inMemory(), name: 'ca', trustOnFirstUse: true },
    protocols: tamper.protocols ?? [ENROLL_PROTOCOL]
  })
  const reader = new MessageReader(channel)
  try {
    if (tamper.truncate === true) {
      channel.end(new Uint8Array([0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
      decodeResult(await reader.next('answer', 20_000))
      return 'ok'
    }
    channel.write(frame(tamper.hello ?? encodeHello(token.tokenId)))
    decodeChallenge(await reader.next('challenge', 20_000))
    if (tamper.request !== undefined) channel.write(frame(tamper.request))
    else {
      const csr = await (makeCsr as () => Promise<Uint8Array>)()
      const proof = tokenProof(token.secret, tamper.handshakeHash ?? channel.handshakeHash, token.tokenId, csr)
      channel.write(frame(encodeRequest({ secret: token.secret, csr, proof })))
    }
    decodeResult(await reader.next('result', 20_000))
    return 'ok'
  } catch (err) {
    if (err instanceof EnrollError && err.message.includes('closed before')) return 'closed'
    if (err instanceof EnrollError) return err.code
    throw err
  } finally {
    channel.destroy()
  }
}
