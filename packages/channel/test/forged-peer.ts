import { createServer, type Server, type Socket } from 'node:net'
import { HandshakeState, nodeX25519 } from '@peerguard/channel/noise'
import { encodeHandshakePayload, PROLOGUE, PROTOCOL_NAME } from '@peerguard/channel/wire'
import { sign } from '@peerguard/identity'
import { connectTcp } from '@peerguard/test-utils'

/**
 * A peer that speaks the channel's XX handshake by hand (SPEC.md §2) and forges its handshake
 * payload: it claims `claimedKey` (with that key's certificate chain) but signs its Noise static
 * key with `signingKey`. No channel option check sees the forged identity, so only the other
 * side's binding check (SPEC.md §2.3) stands between it and an authenticated channel.
 */
export interface Forgery {
  claimedKey: Uint8Array
  signingKey: Uint8Array
  chain: readonly Uint8Array[]
}

/** The binding message, spelled out from SPEC.md §2.3 rather than taken from the code under test. */
const bindingMessage = (staticKey: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from('peerguard-channel-static-key:', 'ascii'), staticKey])

function forgedPayload(forgery: Forgery, staticKey: Uint8Array): Uint8Array {
  return encodeHandshakePayload({
    identityKey: forgery.claimedKey,
    identitySig: sign(bindingMessage(staticKey), forgery.signingKey),
    certificates: forgery.chain,
    protocols: []
  })
}

/** Length-prefixed handshake messages (SPEC.md §2.1) read off a socket. */
function messages(socket: Socket): () => Promise<Buffer> {
  let buffered = Buffer.alloc(0)
  const waiting: Array<{ resolve: (m: Buffer) => void; reject: (e: Error) => void }> = []
  const pump = (): void => {
    while (waiting.length > 0 && buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const length = buffered.readUInt16BE(0)
      const message = buffered.subarray(2, 2 + length)
      buffered = buffered.subarray(2 + length)
      waiting.shift()?.resolve(message)
    }
  }
  const fail = (): void => {
    for (const w of waiting.splice(0)) w.reject(new Error('the connection closed during the handshake'))
  }
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    pump()
  })
  socket.on('close', fail)
  socket.on('error', () => {})
  return () =>
    new Promise<Buffer>((resolve, reject) => {
      if (socket.destroyed) return reject(new Error('the connection closed during the handshake'))
      waiting.push({ resolve, reject })
      pump()
    })
}

function send(socket: Socket, message: Uint8Array): void {
  const head = Buffer.alloc(2)
  head.writeUInt16BE(message.length, 0)
  socket.write(Buffer.concat([head, message]))
}

/**
 * A forging responder on 127.0.0.1: answers message 1 with a message 2 carrying the forged
 * payload, then waits for whatever the initiator does.
 */
export async function forgingResponder(forgery: Forgery): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const next = messages(socket)
    const staticKeyPair = nodeX25519.generateKeyPair()
    next()
      .then((m1) => {
        // SPEC.md §2.6, spelled out: a message 1 longer than 32 bytes carries the offer
        // (0x01, count, ids) after e; this peer takes AESGCM (id 2) when offered, and prefixes
        // message 2 with its choice.
        const offer = m1.length > 32 ? [...m1.subarray(34)] : undefined
        const choice = offer?.includes(2) === true ? 2 : 1
        const protocolName = choice === 2 ? 'Noise_XX_25519_AESGCM_SHA256' : PROTOCOL_NAME
        const hs = new HandshakeState({ protocolName, role: 'responder', prologue: PROLOGUE, staticKeyPair })
        hs.readMessage(m1)
        const m2 = hs.writeMessage(forgedPayload(forgery, staticKeyPair.publicKey))
        send(socket, offer === undefined ? m2 : Buffer.concat([Uint8Array.of(choice), m2]))
      })
      .catch(() => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/**
 * A forging initiator: connects to `port`, runs XX messages 1 (the original 32-byte form, so
 * ChaChaPoly) and 2 and sends a message 3
 * carrying the forged payload. Resolves once the responder ended the connection.
 */
export async function forgingInitiator(port: number, forgery: Forgery): Promise<void> {
  const socket = await connectTcp(port)
  // The socket is half-open capable: the responder's FIN (after its ALERT) ends the exchange.
  const closed = new Promise<void>((resolve) => {
    const done = (): void => {
      socket.destroy()
      resolve()
    }
    socket.once('end', done)
    socket.once('close', done)
  })
  const next = messages(socket)
  const staticKeyPair = nodeX25519.generateKeyPair()
  const hs = new HandshakeState({ protocolName: PROTOCOL_NAME, role: 'initiator', prologue: PROLOGUE, staticKeyPair })
  send(socket, hs.writeMessage())
  hs.readMessage(await next())
  send(socket, hs.writeMessage(forgedPayload(forgery, staticKeyPair.publicKey)))
  await closed
}
