import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPeerguardError } from '@peerguard/interface'
import { loadPolicy } from '@peerguard/policy'
import { createSwarmPeer, type SwarmPeer } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

/**
 * Invariant (SECURITY.md, policy): a swarm's name and its ID are different resource kinds.
 * Issue 10 item 5: a peer allowed to publish one swarm by ID must not be able to publish other
 * content under that ID as its name. Real manifests, signed by real certified peers.
 */

let dir: string
let pki: TestPki
const peers: SwarmPeer[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-adv-swarm-id-'))
  pki = await makeTestPki({
    peers: [
      { name: 'contractor', groups: ['contractors'] },
      { name: 'member', groups: ['swarm-team'] }
    ]
  })
}, 30_000)

afterAll(async () => {
  for (const p of peers) await p.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

function swarmPeer(p: TestPeer, policyText?: string): SwarmPeer {
  const peer = createSwarmPeer({
    identity: p.identity,
    chain: p.chain,
    trust: pki.trust,
    ...(policyText === undefined ? {} : { policy: loadPolicy(policyText) })
  })
  peers.push(peer)
  return peer
}

describe('adversary: swarm names vs swarm IDs', () => {
  it('a peer allowed one swarm by ID cannot publish other content under that ID as its name', async () => {
    const contractor = pki.peers.contractor as TestPeer
    const member = pki.peers.member as TestPeer
    const good = join(dir, 'good.bin')
    const evil = join(dir, 'evil.bin')
    await writeFile(good, randomBytes(100_000))
    await writeFile(evil, randomBytes(100_000))
    // The contractor publishes the one dataset it was hired for; the admin allows that swarm by ID.
    const publisher = swarmPeer(contractor)
    const allowed = await publisher.publish(good, { name: 'contract-dataset' })
    const policy = `version: 1
rules:
  - id: everyone-fetches
    allow: [read]
    peers: ["*"]
    resources: ["swarm:*", "swarm-id:*"]
  - id: contractor-publishes-one-swarm
    allow: [write]
    peers: ["ou:contractors"]
    resources: ["swarm-id:${allowed.swarmId}"]
`
    const verifier = swarmPeer(member, policy)
    // The allowed swarm: seeding it is accepted (the publisher check passes, by ID).
    await expect(verifier.seed(allowed, good)).resolves.toBeUndefined()
    // Other content, named with the allowed ID: a different manifest, so a different ID.
    const forged = await publisher.publish(evil, { name: allowed.swarmId })
    expect(forged.name).toBe(allowed.swarmId)
    expect(forged.swarmId).not.toBe(allowed.swarmId)
    await expect(verifier.seed(forged, evil)).rejects.toMatchObject({ code: 'swarm-publisher-denied' })
    await expect(verifier.fetch(forged, { peers: ['127.0.0.1:1'], out: join(dir, 'x.bin') })).rejects.toMatchObject({
      code: 'swarm-publisher-denied'
    })
  }, 30_000)

  it('a policy cannot name an ID as a swarm name: swarm:<hash> is refused with a located error', () => {
    const hex = 'a'.repeat(64)
    for (const bad of [`swarm:${hex}`, `swarm:${'0123456789ABCDEF'.repeat(2)}01234567`]) {
      let err: unknown
      try {
        loadPolicy({
          text: `version: 1\nrules:\n  - allow: [write]\n    peers: ["*"]\n    resources: [${JSON.stringify(bad)}]\n`,
          file: 'p.yaml'
        })
      } catch (e) {
        err = e
      }
      expect(isPeerguardError(err) && err.code).toBe('policy-bad-glob')
      expect((err as Error).message).toMatch(/^p\.yaml:5:\d+: /)
      expect((err as { details: { expected: string } }).details.expected).toContain('swarm-id:')
    }
    // A swarm-id: resource that is not 64 hex digits is an invalid resource, whatever the rules.
    const p = loadPolicy('version: 1\nrules:\n  - allow: [read]\n    peers: ["*"]\n    resources: ["swarm-id:*"]\n')
    expect(p.decide({ peer: { peerId: 'x' }, action: 'get', resource: 'swarm-id:team-dataset' }).code).toBe(
      'deny-invalid-resource'
    )
    expect(p.decide({ peer: { peerId: 'x' }, action: 'get', resource: `swarm-id:${'A'.repeat(64)}` }).allowed).toBe(true)
  })
})
