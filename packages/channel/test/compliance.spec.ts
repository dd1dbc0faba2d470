import type { AddressInfo } from 'node:net'
import { createListener, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { connectTcp, makeTestPki, runSecureChannelCompliance, type TestPki } from '@peerguard/test-utils'

/** The Noise channel runs the SecureChannel compliance suite of @peerguard/test-utils over loopback TCP. */
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

runSecureChannelCompliance('Noise XX channel (@peerguard/channel)', {
  async connect() {
    const p = await getPki()
    const alice = p.peers.alice!
    const bob = p.peers.bob!
    const listener = createListener({ identity: bob.identity, chain: bob.chain, trust: p.trust })
    const serverChannel = new Promise<NoiseChannel>((resolve) => listener.once('channel', resolve))
    const { port } = (await listener.listen(0)) as AddressInfo
    const socket = await connectTcp(port)
    const client = await secureOutbound(socket, {
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
        await listener.close()
      }
    }
  },
  async connectToImpostor() {
    const p = await getPki()
    const alice = p.peers.alice!
    const bob = p.peers.bob!
    const mallory = p.peers.mallory!
    let bytesSeenByImpostor = 0
    const listener = createListener({ identity: mallory.identity, chain: mallory.chain, trust: p.trust }, (ch) => {
      ch.on('data', (c: Buffer) => {
        bytesSeenByImpostor += c.length
      })
      ch.on('error', () => {})
    })
    listener.on('handshakeError', () => {})
    const { port } = await listener.listen(0)
    const socket = await connectTcp(port)
    let error: unknown
    try {
      const ch = await secureOutbound(socket, {
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
    await listener.close()
    return { error, bytesSeenByImpostor }
  }
})
