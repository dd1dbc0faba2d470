/**
 * The hardened share end to end over loopback: real certificates from @peerguard/pki, the Noise
 * channel from @peerguard/channel, the office policy from @peerguard/policy and the decision log
 * from @peerguard/decision-log — no mocks.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DecisionLog, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import {
  channelTransport,
  connectShare,
  createShareServer,
  hardenedTransport,
  policyAuthorizer,
  type ShareServer
} from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const POLICY = `
version: 1
description: share test office
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
  everyone: [staff, guests]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: everyone-reads-public
    allow: [read]
    peers: [everyone]
    resources: ["share:office/public/**"]
`

let dir: string
let root: string
let logPath: string
let pki: TestPki
let server: ShareServer
let log: DecisionLog
let port: number

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-hard-'))
  root = join(dir, 'office')
  await mkdir(join(root, 'public'), { recursive: true })
  await mkdir(join(root, 'docs'))
  await writeFile(join(root, 'public', 'notice.txt'), 'lunch at noon\n')
  await writeFile(join(root, 'docs', 'salaries.csv'), 'alice,100\n')
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['guests'] }
    ]
  })
  const alice = pki.peers.alice!
  logPath = join(dir, 'decisions.jsonl')
  log = await openDecisionLog({ path: logPath, identity: alice.identity, checkpointIntervalMs: 0 })
  server = createShareServer({
    root,
    shareName: 'office',
    transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: pki.trust }),
    authorize: policyAuthorizer(loadPolicy(POLICY)),
    log
  })
  ;({ port } = await server.listen())
})

afterAll(async () => {
  await server.close()
  await log.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

function clientOf(name: 'alice' | 'bob') {
  const p = pki.peers[name]!
  return connectShare(
    { host: '127.0.0.1', port },
    {
      transport: channelTransport({
        identity: p.identity,
        chain: p.chain,
        trust: pki.trust,
        expectedPeerId: pki.peers.alice!.peerId
      })
    }
  )
}

describe('hardened share: certificates, policy and the decision log', () => {
  it('a guest reads a public file and is denied a write, which changes nothing', async () => {
    const bob = await clientOf('bob')
    expect(bob.remotePeer?.peerId).toBe(pki.peers.alice!.peerId)
    expect((await bob.readFile('public/notice.txt')).toString()).toBe('lunch at noon\n')
    await expect(bob.writeFile('public/notice.txt', 'hacked')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(bob.writeFile('public/new.txt', 'x')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(bob.readFile('docs/salaries.csv')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(bob.delete('public/notice.txt')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(bob.rename('public/notice.txt', 'public/moved.txt')).rejects.toMatchObject({ code: 'share-denied' })
    await expect(bob.mkdir('public/dir')).rejects.toMatchObject({ code: 'share-denied' })
    expect(await readFile(join(root, 'public', 'notice.txt'), 'utf8')).toBe('lunch at noon\n')
    expect((await readdir(join(root, 'public'))).sort()).toEqual(['notice.txt'])
    bob.close()
  })

  it('staff write, and the path checks still apply to an authorised peer', async () => {
    const alice = await clientOf('alice')
    await alice.writeFile('docs/plan.txt', 'the plan')
    expect(await readFile(join(root, 'docs', 'plan.txt'), 'utf8')).toBe('the plan')
    await expect(alice.readFile('../decisions.jsonl')).rejects.toMatchObject({ code: 'share-path-traversal' })
    alice.close()
  })

  it('a peer without a certificate is refused at the handshake', async () => {
    const mallory = generateKeyPair()
    const transport = hardenedTransport({
      inbound: () => Promise.reject(new Error('unused')),
      outbound: (s) => secureOutbound(s, { identity: mallory, trust: pki.trust })
    })
    await expect(connectShare({ host: '127.0.0.1', port }, { transport, timeoutMs: 3000 })).rejects.toHaveProperty('code')
  })

  it('a peer with a certificate from another CA is refused at the handshake', async () => {
    const other = await makeTestPki({ caName: 'Evil CA', peers: [{ name: 'eve', groups: ['staff'] }] })
    const eve = other.peers.eve!
    const transport = channelTransport({ identity: eve.identity, chain: eve.chain, trust: pki.trust })
    await expect(connectShare({ host: '127.0.0.1', port }, { transport, timeoutMs: 3000 })).rejects.toHaveProperty('code')
  })

  it('every decision is in the decision log, which verifies against the node key', async () => {
    await server.close() // the last test of this server: writes the open refusal summary
    await log.checkpoint()
    const report = await verifyDecisionLogFile(logPath, { key: pki.peers.alice!.peerId })
    expect(report.ok).toBe(true)
    const entries = (await readFile(logPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    // mallory and eve were refused before authentication: counted per address, not one entry each
    const summaries = entries.filter((e) => e.kind === 'refusal-summary' && e.address === '127.0.0.1')
    expect(summaries.reduce((n, e) => n + e.count, 0)).toBeGreaterThanOrEqual(2)
    expect(entries.some((e) => e.kind === 'connection' && e.event === 'accepted' && e.peer?.name === 'bob')).toBe(true)
    const bobRead = entries.find((e) => e.kind === 'operation' && e.peer?.name === 'bob' && e.verb === 'get' && e.allowed)
    expect(bobRead).toMatchObject({ resource: 'share:office/public/notice.txt', rule: { id: 'everyone-reads-public' } })
    const bobWrite = entries.find((e) => e.kind === 'operation' && e.peer?.name === 'bob' && e.verb === 'put')
    expect(bobWrite).toMatchObject({ allowed: false, code: 'deny-default' })
    expect(
      entries.some(
        (e) => e.kind === 'operation' && e.peer?.name === 'alice' && e.verb === 'put' && e.allowed && e.rule?.id === 'staff-all'
      )
    ).toBe(true)
  })

  it('fails closed: a hardened server needs a policy, and a failing authorizer denies', async () => {
    const alice = pki.peers.alice!
    expect(() =>
      createShareServer({ root, transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: pki.trust }) })
    ).toThrow(/authorize/)
    const s = createShareServer({
      root,
      shareName: 'office',
      transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: pki.trust }),
      authorize: () => {
        throw new Error('policy engine down')
      }
    })
    const { port: p } = await s.listen()
    const c = await connectShare(
      { host: '127.0.0.1', port: p },
      { transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: pki.trust }) }
    )
    await expect(c.readFile('public/notice.txt')).rejects.toMatchObject({ code: 'share-denied' })
    c.close()
    await s.close()
  })
})
