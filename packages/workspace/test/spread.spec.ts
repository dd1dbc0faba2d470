import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { isPeerguardError } from '@peerguard/interface'
import { verifyPeerChainSync } from '@peerguard/pki'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { fetchBundle, signBundle, type Workspace } from '../src/index.js'
import { mesh, nextRefusal, startMember, until } from './helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['admin', 'alice', 'bob', 'carol'] })
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer

function codeOf(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    if (isPeerguardError(err)) return err.code
    throw err
  }
  return 'none'
}

describe('three members and an admin on loopback: revocation spreads', () => {
  const ws: Record<string, Workspace> = {}
  const all = (): Workspace[] => Object.values(ws)
  let v1: Uint8Array

  beforeAll(async () => {
    for (const name of ['admin', 'alice', 'bob', 'carol']) ws[name] = await startMember(pki, peer(name))
    mesh(all())
    await until(all(), ['peer'], () => all().every((w) => w.members().length === 3), 'every member sees the other three')
  })

  afterAll(async () => {
    await Promise.all(all().map((w) => w.close()))
  })

  it('lists the others with their names, verified', () => {
    const alice = ws.alice as Workspace
    expect(
      alice
        .members()
        .map((m) => m.name)
        .sort()
    ).toEqual(['admin', 'bob', 'carol'])
    expect(alice.members().every((m) => m.state === 'member' && m.code === undefined)).toBe(true)
  })

  it('a revocation published on the admin reaches every member, and each then refuses the revoked peer', async () => {
    await pki.ca.revoke(peer('carol').certificate.serial)
    const crl = (await pki.ca.crl()).der
    v1 = signBundle({ version: 1, issuedAtMs: Date.now(), crls: [crl] }, pki.ca)
    const members = [ws.alice, ws.bob] as Workspace[]
    await (ws.admin as Workspace).publish(v1)
    await until(members, ['bundle'], () => members.every((w) => w.bundleVersion === 1), 'alice and bob hold version 1')
    for (const w of members) {
      expect(w.members().map((m) => m.name)).not.toContain('carol')
      expect(w.peers().find((p) => p.name === 'carol')?.state).toBe('revoked')
    }
    // the trust store each member enforces refuses carol's chain
    for (const name of ['alice', 'bob'])
      expect(codeOf(() => verifyPeerChainSync(peer('carol').chain, { trust: (ws[name] as Workspace).trust }))).toBe(
        'cert-revoked'
      )
    // carol cannot open a channel to alice's workspace service any more
    const alice = ws.alice as Workspace
    await expect(
      fetchBundle({
        host: '127.0.0.1',
        port: alice.servicePort,
        haveVersion: 0,
        channel: { identity: peer('carol').identity, chain: peer('carol').chain, trust: await pki.trustWithCrl() }
      })
    ).rejects.toMatchObject({ code: 'workspace-fetch-failed' })
    // and her announcements are refused as revoked
    await expect(nextRefusal(alice, 'workspace-announce-revoked')).resolves.toMatchObject({ code: 'workspace-announce-revoked' })
  })

  it('refuses a replayed, a forged and a foreign bundle with their codes', async () => {
    const alice = ws.alice as Workspace
    await expect(alice.publish(v1)).rejects.toMatchObject({ code: 'workspace-bundle-stale' })
    const forged = Uint8Array.from(signBundle({ version: 99, issuedAtMs: 1, crls: [] }, pki.ca))
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    await expect(alice.publish(forged)).rejects.toMatchObject({ code: 'workspace-bundle-signature' })
    const other = await makeTestPki({ caName: 'Other CA', peers: [] })
    await expect(alice.publish(signBundle({ version: 99, issuedAtMs: 1, crls: [] }, other.ca))).rejects.toMatchObject({
      code: 'workspace-bundle-workspace'
    })
    expect(alice.bundleVersion).toBe(1)
  })

  it('a member offline during a change catches up when it returns, from its stored bundle onwards', async () => {
    const bob = ws.bob as Workspace
    const bobDir = bob.bundleDir as string
    await bob.close()
    delete ws.bob
    const crl = (await pki.ca.crl()).der
    await (ws.admin as Workspace).publish(signBundle({ version: 2, issuedAtMs: Date.now(), crls: [crl] }, pki.ca))
    const back = await startMember(pki, peer('bob'), { bundleDir: bobDir })
    ws.bob = back
    expect(back.bundleVersion).toBe(1) // its stored bundle
    mesh(all())
    await until([back], ['bundle'], () => back.bundleVersion === 2, 'bob catches up to version 2')
    expect(codeOf(() => verifyPeerChainSync(peer('carol').chain, { trust: back.trust }))).toBe('cert-revoked')
  })
})
