import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { verifyDecisionLogFile } from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import {
  createPeerDirectory,
  guardHandler,
  PEERGUARD_PROTOCOL,
  peerguardGater,
  peerOf,
  refuseStockNoise
} from '@peerguard/libp2p'
import { loadPolicy } from '@peerguard/policy'
import { makeTestPki } from '@peerguard/test-utils'
import { fileLog, memoryLog } from './helpers.js'
import { ADMIN, ECHO, echo3, echoHandler, eventually, LIBP2P3_RUNS, NODE_MAJOR, type Node3, startNode3 } from './helpers3.js'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: libp2p-staff
    allow: [get]
    peers: [staff]
    resources: ["service:libp2p"]
  - id: echo-for-staff
    allow: [get]
    peers: [staff]
    resources: ["protocol:/app/echo/1.0.0"]
`

if (!LIBP2P3_RUNS)
  process.stderr.write(
    `peerguard tests: SKIPPED libp2p 3 between real nodes: libp2p 3 needs Node 22 or later, this is Node ${process.versions.node}; CI runs the suite on Node 24 too (.ci/run)\n`
  )
const d3 = LIBP2P3_RUNS ? describe : describe.skip

let nodes: Node3[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => Promise.resolve(n.stop()).catch(() => {})))
  nodes = []
})

jest.setTimeout(120_000)
d3(`libp2p 3 (Node ${NODE_MAJOR}): peerguardEncrypter between real nodes on loopback TCP + yamux`, () => {
  it('connects two certified nodes; PeerIds are the identity keys; 4 MiB round-trips; peerOf in the handler names the peer; clean close', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const a = await startNode3({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust } }, nodes)
    const b = await startNode3({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    expect(a.peerId.toString()).toBe(peerIdFromPublicKey(alice.identity.publicKey).toLibp2p())
    const seen: unknown[] = []
    await a.handle(ECHO, (stream: unknown, connection: unknown) => {
      seen.push(peerOf(connection))
      echoHandler(stream)
    })
    const stream = await b.dialProtocol(a.getMultiaddrs()[0], ECHO)
    const data = randomBytes(4 * 1024 * 1024 + 17)
    const back = await echo3(stream, data)
    expect(back.equals(data)).toBe(true)

    const [conn] = b.getConnections(a.peerId)
    expect(conn.encryption).toBe(PEERGUARD_PROTOCOL)
    expect(conn.multiplexer).toBe('/yamux/1.0.0')
    expect(peerOf(conn)).toMatchObject({ peerId: alice.peerId, name: 'alice' })
    expect(seen[0]).toMatchObject({ peerId: bob.peerId, name: 'bob' })
    expect((seen[0] as { certificate?: Uint8Array }).certificate).toBeInstanceOf(Uint8Array)
    expect(Array.isArray((seen[0] as { groups?: unknown }).groups)).toBe(true)

    await conn.close()
    await eventually(() => a.getConnections(b.peerId).length === 0)
  })

  it('refuses a node whose certificate comes from another CA, with its code in the log', async () => {
    const pki = await makeTestPki()
    const other = await makeTestPki({ caName: 'Other CA', peers: ['mallory'] })
    const alice = pki.peers.alice!
    const mallory = other.peers.mallory!
    const log = memoryLog()
    const a = await startNode3({ identity: alice.identity, peerguard: { chain: alice.chain, trust: pki.trust, log } }, nodes)
    const m = await startNode3({ identity: mallory.identity, peerguard: { chain: mallory.chain, trust: pki.trust } }, nodes)
    await a.handle(ECHO, echoHandler)
    await expect(m.dialProtocol(a.getMultiaddrs()[0], ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ kind: 'connection', event: 'refused', code: 'cert-unknown-issuer' })
    expect(a.getConnections()).toHaveLength(0)
  })

  it('gater + guardHandler: per-protocol policy (echo allowed, admin denied), decisions in a verifiable log closed by node.stop()', async () => {
    const pki = await makeTestPki({ peers: ['alice', 'bob', 'carol'] })
    const alice = pki.peers.alice!
    const bob = await pki.issue('bob-staff', { groups: ['staff'] })
    const carol = pki.peers.carol!
    const policy = loadPolicy(POLICY)
    const peers = createPeerDirectory()
    const { log, path, lines } = await fileLog(alice.identity)
    const a = await startNode3(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust, peers },
        gater: peerguardGater(policy, { peers, log }) as never
      },
      nodes
    )
    const ran: string[] = []
    await a.handle(
      ECHO,
      guardHandler(
        policy,
        (stream: unknown) => {
          ran.push(ECHO)
          echoHandler(stream)
        },
        { log }
      )
    )
    await a.handle(
      ADMIN,
      guardHandler(
        policy,
        (stream: unknown) => {
          ran.push(ADMIN)
          echoHandler(stream)
        },
        { log }
      )
    )
    const b = await startNode3({ identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust } }, nodes)
    const c = await startNode3({ identity: carol.identity, peerguard: { chain: carol.chain, trust: pki.trust } }, nodes)

    const ok = await b.dialProtocol(a.getMultiaddrs()[0], ECHO)
    expect((await echo3(ok, Buffer.from('staff echo'))).toString()).toBe('staff echo')
    const denied = await b.dialProtocol(a.getMultiaddrs()[0], ADMIN)
    await expect(echo3(denied, Buffer.from('reset please'))).rejects.toThrow()
    expect(ran).toEqual([ECHO])
    // carol is not staff: refused at the connection already
    await expect(c.dialProtocol(a.getMultiaddrs()[0], ECHO)).rejects.toThrow()

    await a.stop()
    // the log is closed: nothing more can be written to it
    await expect(log.append({ kind: 'connection', event: 'refused', code: 'x', reason: 'after stop' })).rejects.toThrow()
    const entries = await lines()
    const ops = entries.filter((e) => e.kind === 'operation')
    expect(ops).toEqual([
      expect.objectContaining({ allowed: true, code: 'allow', verb: 'open-stream', resource: `protocol:${ECHO}` }),
      expect.objectContaining({ allowed: false, code: 'deny-default', resource: `protocol:${ADMIN}` })
    ])
    expect(entries.filter((e) => e.kind === 'connection')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'accepted', peer: expect.objectContaining({ name: 'bob-staff' }) }),
        expect.objectContaining({ event: 'refused', code: 'deny-default', peer: expect.objectContaining({ name: 'carol' }) })
      ])
    )
    expect((await verifyDecisionLogFile(path, { signer: alice.peerId } as never)).ok).toBe(true)
  })
})

d3(`libp2p 3 (Node ${NODE_MAJOR}): stock @chainsafe/libp2p-noise 17 nodes`, () => {
  it('a peerguard-only node meeting a Noise-only node fails with advice on what to configure, logged with its code', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const log = memoryLog()
    const stock = await startNode3({ identity: generateKeyPair(), noise: true }, nodes)
    await stock.handle(ECHO, echoHandler)
    const strict = await startNode3(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust },
        extraEncrypters: [refuseStockNoise({ log })]
      },
      nodes
    )
    const err = await strict.dialProtocol(stock.getMultiaddrs()[0], ECHO).then(
      () => undefined,
      (e: Error) => e
    )
    expect(err?.message).toMatch(/offers only stock Noise.*peerguardEncrypter\(\).*noise\(\)/s)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'libp2p-no-common-encrypter' })
    expect(strict.getConnections()).toHaveLength(0)
  })

  it('with both encrypters: Noise to stock nodes (refused by a certifiedOnly gater), peerguard between peerguard nodes', async () => {
    const pki = await makeTestPki()
    const alice = pki.peers.alice!
    const bob = pki.peers.bob!
    const stock = await startNode3({ identity: generateKeyPair(), noise: true }, nodes)
    await stock.handle(ECHO, echoHandler)
    const both = await startNode3(
      { identity: bob.identity, peerguard: { chain: bob.chain, trust: pki.trust }, noise: true },
      nodes
    )
    await both.handle(ECHO, echoHandler)
    const s = await both.dialProtocol(stock.getMultiaddrs()[0], ECHO)
    expect((await echo3(s, Buffer.from('plain noise'))).toString()).toBe('plain noise')
    expect(both.getConnections(stock.peerId)[0].encryption).toBe('/noise')
    expect(peerOf(both.getConnections(stock.peerId)[0])).toBeUndefined()

    const peers = createPeerDirectory()
    const log = memoryLog()
    const gated = await startNode3(
      {
        identity: alice.identity,
        peerguard: { chain: alice.chain, trust: pki.trust, peers },
        noise: true,
        gater: peerguardGater(loadPolicy(POLICY), { peers, log }) as never
      },
      nodes
    )
    await gated.handle(ECHO, echoHandler)
    await expect(stock.dialProtocol(gated.getMultiaddrs()[0], ECHO)).rejects.toThrow()
    await eventually(() => log.records.length > 0)
    expect(log.records[0]).toMatchObject({ event: 'refused', code: 'libp2p-uncertified-peer', mode: 'plain' })
    // between two nodes that both offer peerguard and Noise, peerguard wins
    const carol = await pki.issue('carol')
    const other = await startNode3(
      { identity: carol.identity, peerguard: { chain: carol.chain, trust: pki.trust }, noise: true },
      nodes
    )
    await other.handle(ECHO, echoHandler)
    const s2 = await both.dialProtocol(other.getMultiaddrs()[0], ECHO)
    expect((await echo3(s2, Buffer.from('pg'))).toString()).toBe('pg')
    expect(both.getConnections(other.peerId)[0].encryption).toBe(PEERGUARD_PROTOCOL)
    expect(peerOf(both.getConnections(other.peerId)[0])).toMatchObject({ name: 'carol' })
  })
})
