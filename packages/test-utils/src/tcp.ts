import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'

/** A connected pair of real loopback TCP sockets `[client, server]` (both allowHalfOpen). */
export async function tcpPair(host = '127.0.0.1'): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const client = connect({ port, host, allowHalfOpen: true })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  const serverSide = await accepted
  server.close()
  return [client, serverSide]
}

/** Connect to a loopback port (allowHalfOpen), optionally from a given local address (e.g. 127.0.0.2). */
export function connectTcp(port: number, host = '127.0.0.1', localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, allowHalfOpen: true, ...(localAddress === undefined ? {} : { localAddress }) })
    s.once('connect', () => {
      s.off('error', reject)
      resolve(s)
    })
    s.once('error', reject)
  })
}

/**
 * What a frame-tampering proxy does with each length-prefixed frame: the buffers to forward
 * instead, in order; a `null` ends the destination stream there (a TCP FIN), cutting it short.
 */
export type FrameTamper = (frame: Buffer, index: number) => Array<Buffer | null>

export interface FrameProxyOptions {
  /** Port of the real server on 127.0.0.1. */
  targetPort: number
  /** Applied to frames from the client to the server (index 0 = first frame). Default: pass through. */
  clientToServer?: FrameTamper
  /** Applied to frames from the server to the client. Default: pass through. */
  serverToClient?: FrameTamper
}

/**
 * A man-in-the-middle TCP relay on 127.0.0.1 that splits each direction into `u16 BE length ‖
 * body` frames (the peerguard channel framing, header included in `frame`) and lets a test drop,
 * replay, reorder, truncate or flip them. Returns the port to connect to and a `close()`.
 */
export async function frameProxy(options: FrameProxyOptions): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ port: options.targetPort, host: '127.0.0.1', allowHalfOpen: true })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    relay(client, upstream, options.clientToServer)
    relay(upstream, client, options.serverToClient)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

function relay(from: Socket, to: Socket, tamper: FrameTamper | undefined): void {
  let buf = Buffer.alloc(0)
  let index = 0
  from.on('data', (chunk: Buffer) => {
    if (tamper === undefined) {
      to.write(chunk)
      return
    }
    buf = Buffer.concat([buf, chunk])
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0)
      if (buf.length < 2 + len) break
      const frame = buf.subarray(0, 2 + len)
      buf = buf.subarray(2 + len)
      for (const out of tamper(Buffer.from(frame), index)) {
        if (out === null) {
          to.end()
          from.removeAllListeners('data')
          return
        }
        to.write(out)
      }
      index++
    }
  })
  from.on('end', () => to.end())
}
