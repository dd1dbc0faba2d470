/**
 * Attacker: any LAN host that holds the workspace root certificate (every member has it, a
 * revoked one too) can seal announcements for fresh keys. Invariants (SECURITY.md, workspace):
 * - a flood of forged announcements from many sources never pushes a verified member out of the
 *   peer table (it stays a member, with no state change), and the table stays within MAX_PEERS;
 * - what the pull scheduler remembers about failed peers stays bounded however many keys fail.
 * Real UDP sockets on loopback, 40 source addresses (127.0.0.x), burst within each rate limit.
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { announceKeyOf, sealAnnouncement, type Workspace, type WorkspacePeer, workspaceIdOf } from '@peerguard/workspace'
import fc from 'fast-check'
import { MAX_PEERS } from '../../packages/workspace/src/peer-table.js'
import { MAX_FAILED_PEERS, PULL_BACKOFF_MS, PullScheduler } from '../../packages/workspace/src/pull-scheduler.js'
import { mesh, startMember, until } from '../../packages/workspace/test/helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['alice', 'bob'] })
const root = pki.ca.certificate
const SOURCES = 40
const PER_SOURCE = 36 // under the default burst (40) of each source

describe('an announcement flood from many sources', () => {
  let alice: Workspace
  let bob: Workspace
  const sockets: Socket[] = []

  beforeAll(async () => {
    alice = await startMember(pki, pki.peers.alice as TestPeer, { announceIntervalMs: 1000, peerTimeoutMs: 300_000 })
    // bob announces seldom: the whole flood lands between two of his announcements
    bob = await startMember(pki, pki.peers.bob as TestPeer, { announceIntervalMs: 60_000 })
    mesh([alice, bob])
    bob.announce()
    await until([alice], ['peer'], () => alice.members().length === 1, 'alice sees bob as a member')
    for (let i = 0; i < SOURCES; i++) {
      const s = createSocket('udp4')
      await new Promise<void>((resolve) => s.bind(0, `127.0.0.${i + 2}`, resolve))
      sockets.push(s)
    }
  })

  afterAll(async () => {
    for (const s of sockets) s.close()
    await Promise.all([alice.close(), bob.close()])
  })

  it('never evicts or demotes a verified member; the table stays bounded', async () => {
    const demoted: WorkspacePeer[] = []
    alice.on('peer', (p: WorkspacePeer) => {
      if (p.name === 'bob' || p.peerId === bob.members()[0]?.peerId) demoted.push(p)
    })
    const bobId = alice.members()[0]?.peerId
    const opts = { workspaceId: workspaceIdOf(root), key: announceKeyOf(root) }
    const total = SOURCES * PER_SOURCE
    expect(total).toBeGreaterThan(MAX_PEERS)
    const before = alice.stats.announcementsAccepted
    for (let round = 0; round < PER_SOURCE; round++) {
      for (const s of sockets) {
        const datagram = sealAnnouncement(
          { timestampMs: Date.now(), seq: 0, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] },
          { identity: generateKeyPair(), ...opts }
        )
        s.send(datagram, alice.udpAddress.port, '127.0.0.1')
      }
      // paced by alice's progress (event-driven): a burst larger than the socket buffer is dropped
      const sent = (round + 1) * SOURCES
      await until(
        [alice],
        ['peer', 'refused'],
        () => alice.stats.announcementsAccepted - before >= sent - 2 * SOURCES,
        'alice keeps up',
        30_000
      )
    }
    expect(alice.stats.announcementsAccepted - before).toBeGreaterThan(MAX_PEERS)
    expect(alice.peers().length).toBeLessThanOrEqual(MAX_PEERS)
    expect(alice.members().map((p) => p.peerId)).toEqual([bobId])
    expect(demoted.filter((p) => p.peerId === bobId && p.state !== 'member')).toEqual([])
  }, 120_000)
})

describe('the pull scheduler under failing peers (model)', () => {
  const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 1))
  it('remembers a bounded number of failures, and never pulls a peer inside its backoff', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.record({ keys: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 12 }), advance: fc.nat(1500) }), {
          maxLength: 60
        }),
        async (max, steps) => {
          let now = 1_000_000
          const s = new PullScheduler(0, () => now, max)
          const lastFail = new Map<number, number>()
          for (const step of steps) {
            for (const k of step.keys)
              s.schedule(`p${k}`, async () => {
                const at = lastFail.get(k)
                if (at !== undefined && now - at < PULL_BACKOFF_MS) throw new Error(`p${k} pulled inside its backoff`)
                lastFail.set(k, now)
                return false
              })
            await flush()
            expect(s.failedPeers).toBeLessThanOrEqual(max)
            now += step.advance
          }
        }
      ),
      { numRuns: 40 }
    )
  }, 120_000)

  it('the default bound is the one the flood test relies on', () => {
    expect(MAX_FAILED_PEERS).toBeGreaterThanOrEqual(MAX_PEERS)
  })
})
