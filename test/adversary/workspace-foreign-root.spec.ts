/**
 * Attacker: a peer with a valid certificate from ANOTHER CA that the member's trust store also
 * holds (a second site's root: `Workspace.start({ root })` exists for trust stores with several
 * roots, and a node's trust directory can gain one at a reload). Invariant (workspace SPEC.md
 * opening, SECURITY.md "Workspace discovery and bundles"): a workspace is the trust domain of ONE
 * root — a member is a peer whose certificate chains to the workspace root. Before the fix the
 * peer table and the bundle service asked only "does the chain verify against the trust store",
 * so the other CA's peer was listed as a member (its announced services passed on to `peers`),
 * was served the workspace's bundle (its policy), and the decision log recorded it as
 * "workspace member: bundle fetch". Real workspaces on loopback, real channels.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { DecisionRecord } from '@peerguard/interface'
import { createTrustStore, type TrustStore } from '@peerguard/pki'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { signBundle, Workspace } from '@peerguard/workspace'
import { mesh, startMember, until } from '../../packages/workspace/test/helpers.js'

let siteA: TestPki
let siteB: TestPki
const running: Workspace[] = []
const records: DecisionRecord[] = []

async function bothRoots(): Promise<TrustStore> {
  return createTrustStore({
    roots: [siteA.ca.certificate, siteB.ca.certificate],
    crls: [(await siteA.ca.crl()).der, (await siteB.ca.crl()).der]
  })
}

async function start(
  peer: TestPeer,
  trust: TrustStore,
  extra: { decisionLog?: { append(r: DecisionRecord): Promise<unknown> } } = {}
) {
  const ws = await Workspace.start({
    identity: peer.identity,
    chain: peer.chain,
    trust,
    root: siteA.ca.certificate, // workspace A, whatever else the store trusts
    bundleDir: mkdtempSync(join(tmpdir(), `pg-adv-root-${peer.name}-`)),
    announceIntervalMs: 200,
    advertise: { services: [{ kind: 'share', name: `${peer.name}-docs`, port: 4000 }] },
    ...extra
  })
  running.push(ws)
  return ws
}

beforeAll(async () => {
  siteA = await makeTestPki({ caName: 'Site A CA', peers: [{ name: 'alice' }, { name: 'bob' }] })
  siteB = await makeTestPki({ caName: 'Site B CA', peers: [{ name: 'mallory' }] })
})

afterAll(async () => {
  await Promise.all(running.map((w) => w.close()))
})

describe('a peer of another root in the trust store is not a member of the workspace', () => {
  it('is not listed, not served the bundle, and not logged as a workspace member', async () => {
    const sink = {
      async append(r: DecisionRecord) {
        records.push(r)
        return { seq: records.length }
      }
    }
    const alice = await start(siteA.peers.alice as TestPeer, await bothRoots(), { decisionLog: sink })
    const mallory = await start(siteB.peers.mallory as TestPeer, await bothRoots())
    const bob = await startMember(siteA, siteA.peers.bob as TestPeer) // workspace A, one root: the control
    running.push(bob)
    // alice holds a bundle: mallory (who trusts root A) sees its version announced and asks for it
    const crl = (await siteA.ca.crl()).der
    await alice.publish(
      signBundle({ version: 1, issuedAtMs: Date.now(), crls: [crl], policy: 'version: 1\nrules: []\n' }, siteA.ca)
    )
    mesh([alice, mallory, bob])

    const malloryId = (siteB.peers.mallory as TestPeer).peerId
    const bobId = (siteA.peers.bob as TestPeer).peerId
    const seen = (ws: Workspace, id: string) => ws.peers().find((p) => p.peerId === id)
    // bob gets the bundle from alice (the control); alice has met mallory over a channel both ways:
    // mallory's pulls reach alice's service, alice's probe of mallory reaches mallory's
    let aliceProbedMallory = false
    alice.on('refused', (r: { from: string }) => {
      if (r.from.endsWith(`:${mallory.servicePort}`)) aliceProbedMallory = true
    })
    const serviceRefusedMallory = () =>
      records.some((r) => r.kind === 'connection' && r.event === 'refused' && r.peer?.peerId === malloryId)
    await until(
      [alice, bob, mallory],
      ['peer', 'bundle', 'refused'],
      () =>
        bob.bundleVersion === 1 &&
        seen(alice, bobId)?.state === 'member' &&
        (seen(alice, malloryId)?.state === 'member' || aliceProbedMallory) &&
        (mallory.bundleVersion === 1 || serviceRefusedMallory()),
      'bob in, and alice has met mallory both ways',
      50_000
    )

    // listed: bob is a member with his services; mallory is not, and what she offers is not passed on
    expect(alice.members().map((m) => m.peerId)).toContain(bobId)
    expect(alice.members().map((m) => m.peerId)).not.toContain(malloryId)
    expect(seen(alice, malloryId)?.state).toBe('unverified')
    expect(seen(alice, malloryId)?.services).toEqual([])
    // served: mallory never got workspace A's bundle
    expect(mallory.bundleVersion).toBe(0)
    // logged: no "workspace member" entry for mallory; her refused fetch is an entry of its own
    const aboutMallory = records.filter((r) => 'peer' in r && r.peer?.peerId === malloryId)
    expect(aboutMallory.some((r) => r.kind === 'connection' && r.event === 'accepted')).toBe(false)
    expect(
      aboutMallory.some((r) => r.kind === 'connection' && r.event === 'refused' && r.code === 'workspace-peer-unverified')
    ).toBe(true)
  }, 60_000)
})
