import './node20-shim.js'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Libp2p } from '@libp2p/interface'
import { verifyDecisionLogFile } from '@peerguard/decision-log'
import { isPeerguardCode } from '@peerguard/interface'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { createPeerDirectory, libp2pPrivateKeyFromIdentity, PEERGUARD_PROTOCOL, peerguardGater } from '@peerguard/libp2p'
import { loadPolicy } from '@peerguard/policy'
import { loadTrustStore } from '@peerguard/pki'
import { makeTestPki } from '@peerguard/test-utils'
import fc from 'fast-check'
import { ECHO, echo, eventually, fileLog, memoryLog, startNode } from './helpers.js'

const POLICY = `
version: 1
peers:
  alice: { name: alice }
  bob: { name: bob }
rules:
  - id: libp2p-members
    allow: [get]
    peers: [alice, bob]
    resources: ["service:libp2p"]
`

let nodes: Libp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => Promise.resolve(n.stop()).catch(() => {})))
  nodes = []
})

describe('peerguardEncrypter between real libp2p nodes on loopback TCP', () => {
  it('connects two certified nodes; PeerIds are the identity keys; data round-trips on a custom protocol', async () => {
    const pki = await makeTestPki()
    const { alice, bob } = pki.peers as Record<'alice' | 'bob', (typeof pki.peers)[string]>
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust } }, nodes)
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    expect(a.peerId.toString()).toBe(peerIdFromPublicKey(alice.identity.publicKey).toLibp2p())
    expect(b.peerId.toString()).toBe(peerIdFromPublicKey(bob.identity.publicKey).toLibp2p())

    const stream = await a.dialProtocol(b.getMultiaddrs()[0] as never, ECHO)
    const data = randomBytes(8 * 1024 * 1024 + 17) // well past yamux windows and the adapters' buffers: backpressure both ways
    const back = await echo(stream, data)
    expect(back.equals(data)).toBe(true)

    const [conn] = a.getConnections(b.peerId)
    expect(conn?.encryption).toBe(PEERGUARD_PROTOCOL)
    expect(conn?.multiplexer).toBe('/yamux/1.0.0') // agreed inside the handshake
    expect(conn?.remotePeer.equals(b.peerId)).toBe(true)
    await eventually(() => b.getConnections(a.peerId).length === 1)
    expect(b.getConnections(a.peerId)[0]?.remotePeer.equals(a.peerId)).toBe(true)

    // a clean close: the remote's connection closes too, without an error on either side
    await conn?.close()
    await eventually(() => b.getConnections(a.peerId).length === 0)
  })

  it('multiplexes 32 concurrent streams over one peerguard connection', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust } }, nodes)
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    const payloads = Array.from({ length: 32 }, (_, i) => randomBytes(100_000 + i * 997))
    const results = await Promise.all(
      payloads.map(async (p) => echo(await a.dialProtocol(b.getMultiaddrs()[0] as never, ECHO), p))
    )
    results.forEach((r, i) => {
      expect(r.equals(payloads[i] as Buffer)).toBe(true)
    })
    expect(a.getConnections(b.peerId)).toHaveLength(1)
  })

  it('refuses a node whose certificate comes from another CA (both directions)', async () => {
    const pki = await makeTestPki()
    const other = await makeTestPki({ caName: 'Other CA', peers: ['mallory'] })
    const alice = pki.peers.alice!
    const mallory = other.peers.mallory!
    const aliceLog = memoryLog()
    const malloryLog = memoryLog()
    const a = await startNode(
      { identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log: aliceLog } },
      nodes
    )
    // mallory trusts alice's CA, so only alice's check can refuse mallory
    const m = await startNode(
      { identity: mallory.identity, peerguard: { chain: mallory.chain, trust: pki.trust, log: malloryLog } },
      nodes
    )
    await expect(m.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => aliceLog.records.length > 0)
    expect(aliceLog.records[0]).toMatchObject({ kind: 'connection', event: 'refused', code: 'cert-unknown-issuer' })
    expect(malloryLog.records[0]).toMatchObject({ event: 'refused', code: 'channel-refused' })
    // alice dialling mallory refuses mallory's certificate before revealing her own
    await expect(a.dialProtocol(m.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    expect(aliceLog.records[1]).toMatchObject({ event: 'refused', code: 'cert-unknown-issuer' })
    expect(a.getConnections()).toHaveLength(0)
    expect(m.getConnections()).toHaveLength(0)
  })

  it('refuses a revoked peer once the CRL is in the trust store', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    await pki.ca.revoke(bob.certificate.der, 'keyCompromise')
    const trust = await pki.trustWithCrl()
    const log = memoryLog()
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust, log } }, nodes)
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust } }, nodes)
    await expect(b.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'cert-revoked' })
    expect(a.getConnections()).toHaveLength(0)
  })

  it('picks up a CRL when the trust-store directory is reloaded: the revoked peer cannot reconnect', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const dir = await mkdtemp(join(tmpdir(), 'pg-libp2p-trust-'))
    await writeFile(join(dir, 'root.crt'), pki.ca.certificate)
    await writeFile(join(dir, 'ca.crl'), (await pki.ca.crl()).der) // revocation is required by default
    const trust = await loadTrustStore(dir)
    const log = memoryLog()
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust, log } }, nodes)
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    const first = await b.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(first, Buffer.from('before'))).toString()).toBe('before')
    await b.hangUp(a.peerId)

    await pki.ca.revoke(bob.certificate.der, 'keyCompromise')
    await writeFile(join(dir, 'ca.crl'), (await pki.ca.crl()).der)
    await trust.reload()
    await expect(b.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'cert-revoked' })
  })

  it('refuses a node whose certificate names another key than its libp2p/identity key', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const log = memoryLog()
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log } }, nodes)
    // eve has her own key but presents bob's certificate
    const eve = generateKeyPair()
    const e = await startNode({ identity: eve, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    await expect(e.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'channel-binding-invalid' })
  })

  it('refuses to start a node whose libp2p private key is not its peerguard identity', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    await expect(
      startNode(
        {
          identity: alice.identity,
          privateKey: libp2pPrivateKeyFromIdentity(generateKeyPair()),
          peerguard: { identity: alice.identity, chain: alice.chain, trust: pki.trust }
        },
        nodes
      )
    ).rejects.toMatchObject({ code: 'libp2p-key-mismatch' })
  })

  it('fails the upgrade with libp2p-peer-mismatch when the dialled /p2p/ PeerId is not the key that answered', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const log = memoryLog()
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log } }, nodes)
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    // bob's address, but claiming to be a third peer
    const claimed = peerIdFromPublicKey(generateKeyPair().publicKey).toLibp2p()
    const addr = b.getMultiaddrs()[0]?.decapsulateCode(421).encapsulate(`/p2p/${claimed}`)
    await expect(a.dialProtocol(addr as never, ECHO)).rejects.toThrow(/libp2p-peer-mismatch|another key/)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'libp2p-peer-mismatch' })
    expect(a.getConnections()).toHaveLength(0)
  })
})

describe('peerguardGater', () => {
  it('lets policy members in, refuses a certified peer the policy does not know, and logs both to a verifiable decision log', async () => {
    const pki = await makeTestPki({ peers: ['alice', 'bob', 'carol'] })
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const carol = pki.peers.carol!
    const peers = createPeerDirectory()
    const { log, path, lines } = await fileLog(alice.identity)
    const a = await startNode(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust, peers },
        gater: peerguardGater(loadPolicy(POLICY), { peers, log })
      },
      nodes
    )
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    const c = await startNode({ identity: carol.identity, peerguard: { chain: carol.chain, trust: pki.trust } }, nodes)

    const ok = await b.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(ok, Buffer.from('member'))).toString()).toBe('member')

    await expect(c.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => a.getConnections(c.peerId).length === 0)

    await log.close()
    const entries = (await lines()).filter((e) => e.kind === 'connection')
    expect(entries).toHaveLength(2)
    expect(entries[0]).toMatchObject({
      event: 'accepted',
      code: 'allow',
      mode: 'hardened',
      peer: { name: 'bob', peerId: bob.peerId }
    })
    expect(entries[1]).toMatchObject({ event: 'refused', code: 'deny-default', mode: 'hardened', peer: { name: 'carol' } })
    const report = await verifyDecisionLogFile(path, { signer: alice.peerId } as never)
    expect(report.ok).toBe(true)
  })

  it('also gates outbound connections', async () => {
    const pki = await makeTestPki({ peers: ['alice', 'carol'] })
    const alice = pki.peers.alice!
    const carol = pki.peers.carol!
    const peers = createPeerDirectory()
    const log = memoryLog()
    const a = await startNode(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust, peers },
        gater: peerguardGater(loadPolicy(POLICY), { peers, log })
      },
      nodes
    )
    const c = await startNode({ identity: carol.identity, peerguard: { chain: carol.chain, trust: pki.trust } }, nodes)
    await expect(a.dialProtocol(c.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    expect(log.records).toEqual([
      expect.objectContaining({ event: 'refused', code: 'deny-default', peer: expect.objectContaining({ name: 'carol' }) })
    ])
  })
})

describe('interop with stock @chainsafe/libp2p-noise', () => {
  it('talks to a Noise-only node only when configured with both encrypters, and the gater refuses that uncertified connection by default', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const stock = await startNode({ identity: generateKeyPair(), noise: true }, nodes)
    // peerguard only: no common encrypter
    const strict = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust } }, nodes)
    await expect(strict.dialProtocol(stock.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    expect(strict.getConnections()).toHaveLength(0)

    // peerguard first, Noise as an explicit fallback
    const bob = pki.peers.bob!
    const both = await startNode(
      { identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust }, noise: true },
      nodes
    )
    const s = await both.dialProtocol(stock.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(s, Buffer.from('plain noise'))).toString()).toBe('plain noise')
    expect(both.getConnections(stock.peerId)[0]?.encryption).toBe('/noise')
    // between the two peerguard-capable nodes peerguard wins
    const s2 = await both.dialProtocol(strict.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(s2, Buffer.from('x'))).toString()).toBe('x')
    expect(both.getConnections(strict.peerId)[0]?.encryption).toBe(PEERGUARD_PROTOCOL)

    // a gated node with both encrypters refuses the Noise-only peer (no certificate was verified)
    const peers = createPeerDirectory()
    const log = memoryLog()
    const carolPki = await pki.issue('carol')
    const gated = await startNode(
      {
        identity: carolPki.identity,
        peerguard: { chain: carolPki.chain, trust: pki.trust, peers },
        noise: true,
        gater: peerguardGater(loadPolicy(POLICY), { peers, log })
      },
      nodes
    )
    await expect(stock.dialProtocol(gated.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'libp2p-uncertified-peer', mode: 'plain' })
  })
})

/** multistream-select 1.0 messages: uvarint length, then the text with its newline. */
function mss(...lines: string[]): Buffer {
  return Buffer.concat(
    lines.map((l) => {
      const body = Buffer.from(`${l}\n`)
      return Buffer.concat([Buffer.of(body.length), body]) // all our lines are < 128 bytes
    })
  )
}

function rawClient(node: Libp2p): Promise<Socket> {
  const addr = node.getMultiaddrs()[0]?.toString() ?? ''
  const [, , host, , port] = addr.split('/')
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), host, () => resolve(s))
    s.on('error', reject)
  })
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve()
    s.on('close', () => resolve())
    s.on('error', () => {})
    s.resume()
  })
}

describe('hostile raw TCP clients that pick /peerguard/1.0.0', () => {
  it('cuts off a client that stalls after protocol selection at the handshake deadline', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const log = memoryLog()
    const a = await startNode(
      { identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log, handshakeTimeoutMs: 300 } },
      nodes
    )
    const s = await rawClient(a)
    s.write(mss('/multistream/1.0.0', PEERGUARD_PROTOCOL))
    const started = Date.now()
    await closed(s)
    expect(Date.now() - started).toBeLessThan(5000)
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'channel-handshake-timeout' })
    expect(a.getConnections()).toHaveLength(0)
  })

  it('refuses a malformed first handshake message at once', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const log = memoryLog()
    const a = await startNode({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log } }, nodes)
    const s = await rawClient(a)
    // message 1 of XX must be exactly 32 bytes; this one declares 5
    s.write(Buffer.concat([mss('/multistream/1.0.0', PEERGUARD_PROTOCOL), Buffer.of(0, 5, 1, 2, 3, 4, 5)]))
    await closed(s)
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'channel-handshake-invalid' })
    expect(log.records[0]?.peer?.address).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('refuses random garbage after protocol selection with stable codes, and keeps serving real peers', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const log = memoryLog()
    const a = await startNode(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust, log, handshakeTimeoutMs: 500 },
        inboundConnectionThreshold: 1000
      },
      nodes
    )
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (garbage) => {
        const before = log.records.length
        const s = await rawClient(a)
        s.write(Buffer.concat([mss('/multistream/1.0.0', PEERGUARD_PROTOCOL), garbage]))
        await closed(s)
        await eventually(() => log.records.length > before)
        const rec = log.records[before]
        expect(rec?.event).toBe('refused')
        expect(isPeerguardCode(rec?.code)).toBe(true)
      }),
      { numRuns: 12 }
    )
    const b = await startNode({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    const stream = await b.dialProtocol(a.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(stream, Buffer.from('still here'))).toString()).toBe('still here')
  })
})
