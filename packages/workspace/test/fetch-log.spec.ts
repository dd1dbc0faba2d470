/**
 * The bundle service is an enforcement point like the others: every member's fetch is on the
 * decision log before it is answered (fail closed), its outcome after, and refused handshakes are
 * summarised per address — a real DecisionLog file, verified afterwards.
 */
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'
import { openDecisionLog, verifyDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import type { DecisionRecord } from '@peerguard/interface'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { fetchBundle, signBundle, type Workspace } from '../src/index.js'
import { startMember } from './helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['admin', 'alice', 'bob'] })
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer
const open: Workspace[] = []

afterAll(async () => {
  await Promise.all(open.map((w) => w.close()))
})

async function fetchAs(name: string, ws: Workspace, haveVersion: number) {
  return fetchBundle({
    host: '127.0.0.1',
    port: ws.servicePort,
    haveVersion,
    channel: { identity: peer(name).identity, chain: peer(name).chain, trust: await pki.trustWithCrl() }
  })
}

const entries = async (path: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('the bundle service on the decision log', () => {
  it('records each fetch before answering it and its outcome after; refused handshakes as a summary', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'pg-ws-log-')), 'decisions.log')
    const key = generateKeyPair()
    const log = await openDecisionLog({ path, identity: key })
    const admin = await startMember(pki, peer('admin'), { decisionLog: log })
    open.push(admin)
    await admin.publish(signBundle({ version: 3, issuedAtMs: Date.now(), crls: [] }, pki.ca))

    const got = await fetchAs('alice', admin, 0)
    expect(got.bundle?.length).toBeGreaterThan(0)
    expect((await fetchAs('bob', admin, 3)).bundle).toBeUndefined()
    // an unauthenticated connection: garbage instead of a handshake
    await new Promise<void>((resolve) => {
      const s = connect(admin.servicePort, '127.0.0.1', () => s.end(Buffer.alloc(64, 0x41)))
      s.on('close', () => resolve())
      s.on('error', () => {})
    })
    await admin.close()
    await log.close()

    expect(verifyDecisionLog(await readFile(path), { key: key.publicKey }).firstBad).toBeUndefined()
    const all = await entries(path)
    const fetches = all.filter((e) => e.resource === 'workspace:bundle')
    const byPeer = (name: string) => fetches.filter((e) => (e.peer as { name?: string } | undefined)?.name === name)
    const [aliceAccepted, aliceOutcome] = byPeer('alice')
    expect(aliceAccepted).toMatchObject({ kind: 'connection', event: 'accepted', code: 'allow', action: 'get' })
    expect(aliceOutcome).toMatchObject({
      kind: 'outcome',
      outcome: 'ok',
      op: 'fetch',
      reason: 'bundle version 3 sent (the peer had 0)',
      bytes: got.bundle?.length,
      decisions: [aliceAccepted?.seq]
    })
    expect(byPeer('bob').map((e) => [e.kind, e.reason])).toEqual([
      ['connection', 'workspace member: bundle fetch'],
      ['outcome', 'nothing newer than version 3']
    ])
    const summaries = all.filter((e) => e.kind === 'refusal-summary')
    expect(summaries).toEqual([expect.objectContaining({ address: '127.0.0.1', count: 1 })])
  })

  it('fails closed: a fetch whose acceptance cannot be written gets no answer', async () => {
    const failing = {
      append(_record: DecisionRecord): never {
        throw new Error('disk full')
      }
    }
    const admin = await startMember(pki, peer('admin'), { decisionLog: failing })
    open.push(admin)
    await admin.publish(signBundle({ version: 1, issuedAtMs: Date.now(), crls: [] }, pki.ca))
    const refused = new Promise((resolve) =>
      admin.on('refused', (r: { code: string }) => r.code === 'log-unavailable' && resolve(r))
    )
    await expect(fetchAs('alice', admin, 0)).rejects.toMatchObject({ code: 'workspace-fetch-failed' })
    await expect(refused).resolves.toMatchObject({ code: 'log-unavailable' })
  })

  it('refuses a decision log that is not one', async () => {
    await expect(startMember(pki, peer('admin'), { decisionLog: {} as never })).rejects.toMatchObject({
      code: 'workspace-config-invalid',
      message: 'decisionLog: expected a decision log (an object with append)'
    })
  })
})
