import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from '@jest/globals'
import { createTrustStore } from '@peerguard/pki'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { type Bundle, readBundleFile, signBundle, verifyBundle, type Workspace } from '../src/index.js'
import { startMember } from './helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['alice'] })
const alice = pki.peers.alice as TestPeer
const root = pki.ca.certificate
const started: Workspace[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.close()))
})

describe('what a bundle must carry', () => {
  it('a policy that does not compile, or a CRL of another CA, is workspace-bundle-content', async () => {
    const bad = signBundle(
      { version: 1, issuedAtMs: 1, crls: [], policy: 'version: 1\nrules: [ { id: x, allow: [fly] } ]\n' },
      pki.ca
    )
    expect(() => verifyBundle(bad, { root, heldVersion: 0 })).toThrow(
      expect.objectContaining({ code: 'workspace-bundle-content', message: expect.stringMatching(/the policy does not load/) })
    )
    const other = await makeTestPki({ caName: 'Other CA', peers: [] })
    const foreignCrl = signBundle({ version: 1, issuedAtMs: 1, crls: [(await other.ca.crl()).der] }, pki.ca)
    expect(() => verifyBundle(foreignCrl, { root, heldVersion: 0 })).toThrow(
      expect.objectContaining({ code: 'workspace-bundle-content', message: expect.stringMatching(/CRL 1 does not load/) })
    )
  })

  it('a bundle the node does not take is not held, not stored and not announced; a later one is', async () => {
    let refuse = true
    const applied: number[] = []
    const ws = await startMember(pki, alice, {
      apply: async (b: Bundle) => {
        if (refuse) throw new Error('the node kept its policy')
        applied.push(b.version)
      }
    })
    started.push(ws)
    const v1 = signBundle({ version: 1, issuedAtMs: 1, crls: [(await pki.ca.crl()).der] }, pki.ca)
    await expect(ws.publish(v1)).rejects.toThrow('the node kept its policy')
    expect(ws.bundleVersion).toBe(0)
    expect(ws.bundleBytes).toBeUndefined()
    expect(await readBundleFile(ws.bundleDir as string)).toBeUndefined()
    refuse = false
    await ws.publish(v1)
    expect([ws.bundleVersion, applied]).toEqual([1, [1]])
  })

  it('a stored bundle is verified again at start; a damaged one is refused and nothing is held', async () => {
    const first = await startMember(pki, alice)
    await first.publish(signBundle({ version: 3, issuedAtMs: 1, crls: [(await pki.ca.crl()).der] }, pki.ca))
    const dir = first.bundleDir as string
    await first.close()
    const again = await startMember(pki, alice, { bundleDir: dir })
    started.push(again)
    expect(again.bundleVersion).toBe(3)
    await writeFile(join(dir, 'bundle.pgwb'), Buffer.from('PGWB garbage'))
    const damaged = await startMember(pki, alice, { bundleDir: dir })
    started.push(damaged)
    expect(damaged.bundleVersion).toBe(0)
    expect(damaged.stats.refused).toEqual({ 'workspace-bundle-malformed': 1 })
  })
})

describe('options are checked at the boundary', () => {
  it.each([
    [{ multicast: { group: '10.0.0.1', port: 1 } }, 'multicast.group: expected an IPv4 multicast address (224.0.0.0/4)'],
    [{ multicast: { group: '239.1.1.1', port: 0 } }, 'multicast.port: expected an integer 1..65535'],
    [{ peers: [{ host: '', port: 1 }] }, 'peers: each target must be { host, port }'],
    [{ announceIntervalMs: 10 }, 'announceIntervalMs: expected an integer 50..3600000'],
    [{ rateLimit: { perSecond: 0, burst: 1 } }, 'rateLimit.perSecond: expected an integer 1..100000'],
    [{ identity: { publicKey: new Uint8Array(32) } }, 'identity: expected an Ed25519 key pair (@peerguard/identity KeyPair)'],
    [{ chain: [] }, 'chain: expected the certificate chain, leaf first (DER)'],
    [{ trust: {} }, 'trust: expected a TrustStore (@peerguard/pki)']
  ])('%j', async (extra, message) => {
    await expect(startMember(pki, alice, extra as never)).rejects.toMatchObject({ code: 'workspace-config-invalid', message })
  })

  it('the workspace root must be a root of the trust store', async () => {
    const other = await makeTestPki({ caName: 'Other CA', peers: [] })
    await expect(startMember(pki, alice, { root: other.ca.certificate })).rejects.toMatchObject({
      code: 'workspace-config-invalid',
      message: 'root: not a root of the trust store (members could not be verified)'
    })
  })

  it('a trust store with several roots needs the workspace root named', async () => {
    const other = await makeTestPki({ caName: 'Other CA', peers: [] })
    const trust = createTrustStore({ roots: [root, other.ca.certificate], requireCrl: false })
    await expect(startMember(pki, alice, { trust })).rejects.toMatchObject({
      code: 'workspace-config-invalid',
      message: 'root: the trust store holds several roots; name the workspace root'
    })
  })
})
