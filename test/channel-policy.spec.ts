import { describe, expect, it } from '@jest/globals'
import { createListener, type NoiseChannel, secureOutbound } from '@peerguard/channel'
import { loadPolicy } from '@peerguard/policy'
import { connectTcp, makeTestPki } from '@peerguard/test-utils'
import { eventually } from '../packages/cli/test/eventually.js'

/**
 * Cross-package: the channel's authorization gate driven by a real @peerguard/policy decision
 * over real sockets. Members of `ou:family` may reach `service:share`; anyone else is refused
 * before any application byte, with the policy's decision code in the alert.
 */
const POLICY = `version: 1
rules:
  - id: family-share
    allow: [get]
    peers: ["ou:family"]
    resources: ["service:share"]
groups: {}
`

describe('channel gate with a policy decision', () => {
  it('admits a peer the policy allows and refuses one it does not', async () => {
    const pki = await makeTestPki({
      peers: [
        { name: 'alice', groups: ['family'] },
        { name: 'bob', groups: ['nas'] },
        { name: 'eve', groups: ['guests'] }
      ]
    })
    const policy = loadPolicy(POLICY)
    const bob = pki.peers.bob!
    const decisions: string[] = []
    const listener = createListener({
      identity: bob.identity,
      chain: bob.chain,
      trust: pki.trust,
      authorize: (peer) => {
        const d = policy.decide({ peer, action: 'get', resource: 'service:share' })
        decisions.push(`${peer.name}:${d.code}`)
        return d
      }
    })
    const accepted: NoiseChannel[] = []
    const received: Buffer[] = []
    listener.on('channel', (ch: NoiseChannel) => {
      accepted.push(ch)
      ch.on('data', (c: Buffer) => received.push(c))
      ch.on('error', () => {})
    })
    const refused = new Promise<{ code?: string; details?: Record<string, unknown> }>((resolve) =>
      listener.once('handshakeError', resolve)
    )
    const { port } = await listener.listen(0)

    const alice = pki.peers.alice!
    const ch = await secureOutbound(await connectTcp(port), {
      identity: alice.identity,
      chain: alice.chain,
      trust: pki.trust,
      expectedPeerId: bob.peerId
    })
    ch.write('hello from alice')
    // wait for the bytes to arrive (a fixed 50 ms sleep was too short on a busy machine)
    await eventually(() => Buffer.concat(received).length >= 'hello from alice'.length, 'the server to receive the message')
    expect(Buffer.concat(received).toString()).toBe('hello from alice')

    const eve = pki.peers.eve!
    const err = await secureOutbound(await connectTcp(port), {
      identity: eve.identity,
      chain: eve.chain,
      trust: pki.trust
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'channel-refused', alert: 'channel-unauthorized' })
    const serverSide = await refused
    expect(serverSide.code).toBe('channel-unauthorized')
    expect(typeof serverSide.details?.decision).toBe('string')
    expect((err as Error).message).toContain(String(serverSide.details?.decision))
    expect(decisions[0]).toBe('alice:allow')
    expect(decisions[1]).toMatch(/^eve:deny/)
    expect(accepted).toHaveLength(1)

    ch.destroy()
    for (const a of accepted) a.destroy()
    await listener.close()
  })
})
