import { createSocket, type Socket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { announceKeyOf, sealAnnouncement, Workspace, workspaceIdOf } from '../src/index.js'
import { mesh, nextRefusal, startMember, until } from './helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['alice', 'bob'] })
const other: TestPki = await makeTestPki({ caName: 'Intruder CA', peers: ['mallory'] })
const alicePeer = pki.peers.alice as TestPeer
const bobPeer = pki.peers.bob as TestPeer
const root = pki.ca.certificate
const body = (o: Partial<{ timestampMs: number; fetchPort: number }> = {}) => ({
  timestampMs: o.timestampMs ?? Date.now(),
  seq: 0,
  bundleVersion: 0,
  fetchPort: o.fetchPort ?? 0,
  addresses: [],
  services: [{ kind: 'share' as const, name: 'photos', port: 9000 }]
})

describe('spoofed announcements are refused with their codes and never listed', () => {
  let alice: Workspace
  let bob: Workspace
  let intruder: Socket

  const sendToAlice = (datagram: Uint8Array): void => {
    intruder.send(datagram, alice.udpAddress.port, '127.0.0.1')
  }

  beforeAll(async () => {
    alice = await startMember(pki, alicePeer)
    bob = await startMember(pki, bobPeer)
    mesh([alice, bob])
    intruder = createSocket('udp4')
    await new Promise<void>((resolve) => intruder.bind(0, '127.0.0.1', resolve))
    await until([alice], ['peer'], () => alice.members().length === 1, 'alice sees bob')
  })

  afterAll(async () => {
    intruder.close()
    await Promise.all([alice.close(), bob.close()])
  })

  it('another workspace', async () => {
    const refused = nextRefusal(alice, 'workspace-announce-other-workspace')
    const otherRoot = other.ca.certificate
    sendToAlice(
      sealAnnouncement(body(), {
        identity: generateKeyPair(),
        workspaceId: workspaceIdOf(otherRoot),
        key: announceKeyOf(otherRoot)
      })
    )
    await refused
  })

  it('a sender without the root (wrong key)', async () => {
    const refused = nextRefusal(alice, 'workspace-announce-decrypt')
    sendToAlice(
      sealAnnouncement(body(), {
        identity: generateKeyPair(),
        workspaceId: workspaceIdOf(root),
        key: announceKeyOf(other.ca.certificate)
      })
    )
    await refused
  })

  it("bob's key, mallory's signature", async () => {
    const refused = nextRefusal(alice, 'workspace-announce-signature')
    const mallory = generateKeyPair()
    sendToAlice(
      sealAnnouncement(body(), {
        identity: { publicKey: bobPeer.identity.publicKey, secretKey: mallory.secretKey },
        workspaceId: workspaceIdOf(root),
        key: announceKeyOf(root)
      })
    )
    await refused
  })

  it('replayed: a copy of a real one, and one outside the clock window', async () => {
    // capture one of bob's real announcements, then send it again
    const captured = new Promise<Buffer>((resolve) => intruder.once('message', (msg) => resolve(msg)))
    bob.addTarget({ host: '127.0.0.1', port: (intruder.address() as { port: number }).port })
    const real = await captured
    await until([alice], ['peer', 'refused'], () => alice.stats.announcementsAccepted > 0, 'alice has heard bob')
    const replayed = nextRefusal(alice, 'workspace-announce-replayed')
    sendToAlice(real)
    sendToAlice(real)
    await replayed
    const old = nextRefusal(alice, 'workspace-announce-replayed')
    sendToAlice(
      sealAnnouncement(body({ timestampMs: Date.now() - 10 * 60_000 }), {
        identity: bobPeer.identity,
        workspaceId: workspaceIdOf(root),
        key: announceKeyOf(root)
      })
    )
    await old
  })

  it('a key with no certificate is held as unverified, never a member', async () => {
    const stranger = generateKeyPair()
    sendToAlice(sealAnnouncement(body(), { identity: stranger, workspaceId: workspaceIdOf(root), key: announceKeyOf(root) }))
    await until([alice], ['peer'], () => alice.peers().length === 2, 'alice holds the stranger')
    const held = alice.peers().find((p) => p.name === undefined)
    // what it claims to offer (a share 'photos') is not passed on
    expect(held).toMatchObject({ state: 'unverified', code: 'workspace-peer-unverified', services: [] })
    expect(alice.members().map((m) => m.name)).toEqual(['bob'])
  })

  it('a member of another CA that knows our root: its certificate does not chain, it is not listed', async () => {
    const mallory = other.peers.mallory as TestPeer
    const refused = nextRefusal(alice, 'workspace-peer-unverified')
    const outsider = await Workspace.start({
      identity: mallory.identity,
      chain: mallory.chain,
      trust: await pki.trustWithCrl(),
      root,
      announceIntervalMs: 200,
      peers: [alice.udpAddress]
    })
    try {
      await refused
      expect(alice.members().map((m) => m.name)).toEqual(['bob'])
      expect(alice.peers().find((p) => p.peerId === mallory.peerId)?.state).toBe('unverified')
    } finally {
      await outsider.close()
    }
  })

  it('a flood from one source is cut by the rate limit', async () => {
    const limited = nextRefusal(alice, 'workspace-announce-rate-limited')
    const junk = new Uint8Array(100)
    for (let i = 0; i < 200; i++) sendToAlice(junk)
    await limited
  })
})
