import { type AddressInfo, createServer, type Socket } from 'node:net'
import { secureTlsInbound, secureTlsOutbound, type TlsChannel } from '@peerguard/channel/tls'
import { connectTcp, makeTestPki, runSecureChannelCompliance, type TestPki } from '@peerguard/test-utils'

/** The TLS 1.3 channel runs the same SecureChannel compliance suite as the Noise channel, over loopback TCP. */
let pki: TestPki | undefined
const getPki = async (): Promise<TestPki> => {
  pki ??= await makeTestPki({
    peers: [
      { name: 'alice', groups: ['family'] },
      { name: 'bob', groups: ['friends', 'nas'] },
      { name: 'mallory', groups: ['family'] }
    ]
  })
  return pki
}

async function tlsServer(peer: 'bob' | 'mallory', onChannel: (ch: TlsChannel) => void) {
  const p = await getPki()
  const me = p.peers[peer]!
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s)
    secureTlsInbound(s, { identity: me.identity, chain: me.chain, trust: p.trust }).then(onChannel, () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })
  }
}

runSecureChannelCompliance('TLS 1.3 channel (@peerguard/proxy)', {
  async connect() {
    const p = await getPki()
    const alice = p.peers.alice!
    const bob = p.peers.bob!
    let resolveServer: (ch: TlsChannel) => void = () => {}
    const serverChannel = new Promise<TlsChannel>((r) => {
      resolveServer = r
    })
    const srv = await tlsServer('bob', (ch) => resolveServer(ch))
    const socket = await connectTcp(srv.port)
    const client = await secureTlsOutbound(socket, {
      identity: alice.identity,
      chain: alice.chain,
      trust: p.trust,
      expectedPeerId: bob.peerId
    })
    const server = await serverChannel
    for (const ch of [client, server]) ch.on('error', () => {})
    return {
      client,
      server,
      serverPeer: { peerId: bob.peerId, name: 'bob', groups: ['friends', 'nas'] },
      clientPeer: { peerId: alice.peerId, name: 'alice', groups: ['family'] },
      async close() {
        client.destroy()
        server.destroy()
        await srv.close()
      }
    }
  },
  async connectToImpostor() {
    const p = await getPki()
    const alice = p.peers.alice!
    const bob = p.peers.bob!
    let bytesSeenByImpostor = 0
    const srv = await tlsServer('mallory', (ch) => {
      ch.on('data', (c: Buffer) => {
        bytesSeenByImpostor += c.length
      })
      ch.on('error', () => {})
    })
    const socket = await connectTcp(srv.port)
    let error: unknown
    try {
      const ch = await secureTlsOutbound(socket, {
        identity: alice.identity,
        chain: alice.chain,
        trust: p.trust,
        expectedPeerId: bob.peerId
      })
      ch.end('secret')
    } catch (err) {
      error = err
    }
    await new Promise((r) => setTimeout(r, 50))
    await srv.close()
    return { error, bytesSeenByImpostor }
  }
})
