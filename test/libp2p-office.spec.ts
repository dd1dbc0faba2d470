/**
 * A libp2p application adopting peerguard end to end, with no mocks: identities kept in encrypted
 * keystore files (@peerguard/identity) become the libp2p nodes' keys, certificates come from a LAN
 * CA (@peerguard/pki), the shipped office policy (policies/office.yaml, @peerguard/policy) gates
 * connections, and every decision lands in a hash-chained decision log (@peerguard/decision-log) that
 * verifies afterwards.
 */
import '../packages/libp2p/test/node20-shim.js'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'
import { openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { generateKeyPair, loadIdentity, saveIdentity } from '@peerguard/identity'
import { createPeerDirectory, peerguardGater } from '@peerguard/libp2p'
import { loadPolicy } from '@peerguard/policy'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { ECHO, echo, eventually, startNode } from '../packages/libp2p/test/helpers.js'

const nodes: Awaited<ReturnType<typeof startNode>>[] = []
afterAll(async () => {
  await Promise.all(nodes.map((n) => Promise.resolve(n.stop()).catch(() => {})))
})

describe('a libp2p app on the office LAN', () => {
  it('admits a guest to the public share service, refuses a stranger, and logs both verifiably', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-libp2p-office-'))
    const ca = await createCertificateAuthority({ name: 'Office CA' })
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const member = async (name: string, groups: string[]) => {
      // the key lives in an encrypted keystore file, as `peerguard id new` leaves it
      const file = join(dir, `${name}.key`)
      await saveIdentity(file, generateKeyPair(), { passphrase: `pw-${name}`, scrypt: { N: 2 ** 10, r: 8, p: 1 } })
      const { keyPair, peerId } = await loadIdentity(file, { passphrase: `pw-${name}` })
      const cert = await ca.issuePeer({ publicKey: keyPair.publicKey, name, groups })
      return { identity: keyPair, peerId, chain: cert.chain }
    }
    const bob = await member('bob.office.lan', ['staff'])
    const carol = await member('carol.guest.lan', ['guests'])
    const stranger = await member('mallory.lan', [])

    const peers = createPeerDirectory()
    const logPath = join(dir, 'decisions.jsonl')
    const log = await openDecisionLog({ path: logPath, identity: bob.identity, checkpointIntervalMs: 0 })
    const policy = loadPolicy({ path: join(process.cwd(), 'policies', 'office.yaml') })
    const server = await startNode(
      {
        identity: bob.identity,
        peerguard: { chain: bob.chain, trust, peers },
        gater: peerguardGater(policy, { peers, log, action: 'read', resource: 'share:public' })
      },
      nodes
    )
    expect(server.peerId.toString()).toBe(bob.peerId.toLibp2p())
    const guest = await startNode({ identity: carol.identity, peerguard: { chain: carol.chain, trust } }, nodes)
    const other = await startNode({ identity: stranger.identity, peerguard: { chain: stranger.chain, trust } }, nodes)

    const s = await guest.dialProtocol(server.getMultiaddrs()[0] as never, ECHO)
    expect((await echo(s, Buffer.from('readme please'))).toString()).toBe('readme please')
    await expect(other.dialProtocol(server.getMultiaddrs()[0] as never, ECHO)).rejects.toThrow()
    await eventually(() => server.getConnections(other.peerId).length === 0)

    await log.close()
    const report = await verifyDecisionLogFile(logPath)
    expect(report.ok).toBe(true)
    const entries = (await readFile(logPath, 'utf8'))
      .split('\n')
      .filter((l) => l.includes('"kind":"connection"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(entries).toEqual([
      expect.objectContaining({
        event: 'accepted',
        code: 'allow',
        peer: expect.objectContaining({ name: 'carol.guest.lan', peerId: carol.peerId.toString() })
      }),
      expect.objectContaining({ event: 'refused', code: 'deny-default', peer: expect.objectContaining({ name: 'mallory.lan' }) })
    ])
  })
})
