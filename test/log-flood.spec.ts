/**
 * An unauthenticated flood cannot grow the decision log (issue 11 item 7): 500 connections to a
 * real hardened share server on 127.0.0.1 — garbage handshakes and half-open connections that
 * never finish — end up as a bounded number of `refusal-summary` entries, while an authenticated
 * peer's decisions are still logged one by one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DecisionLog, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer, type ShareServer } from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-read
    allow: [read]
    peers: [staff]
    resources: ["share:office/**"]
`

let dir: string
let pki: TestPki
let server: ShareServer
let log: DecisionLog
let logPath: string
let port: number

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-flood-'))
  const root = join(dir, 'office')
  await mkdir(root)
  await writeFile(join(root, 'notice.txt'), 'hello\n')
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['staff'] }
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
    log,
    handshakeTimeoutMs: 1500
  })
  ;({ port } = await server.listen())
}, 60_000)

afterAll(async () => {
  await server?.close()
  await log?.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** Open a connection; send garbage (a bad handshake) or nothing (half-open); resolve when the server closes it. */
function abuse(kind: 'garbage' | 'silent'): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => resolve())
    s.on('connect', () => {
      if (kind === 'garbage') s.write(Buffer.alloc(200, 0x41))
    })
    // never wait forever: the server's handshake deadline closes silent ones
    setTimeout(() => s.destroy(), 20_000).unref()
  })
}

describe('decision log under an unauthenticated flood', () => {
  it('500 bad or half-open handshakes become a bounded number of summary entries', async () => {
    const before = (await readFile(logPath, 'utf8')).split('\n').filter(Boolean).length
    const refused: string[] = []
    server.on('refused', (e: { code: string }) => refused.push(e.code))
    const waves = 5
    for (let w = 0; w < waves; w++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => abuse(i % 2 === 0 ? 'garbage' : 'silent')))
    }
    // an authenticated peer still gets in, and its operation is logged on its own
    const bob = pki.peers.bob!
    const client = await connectShare(
      { host: '127.0.0.1', port },
      { transport: channelTransport({ identity: bob.identity, chain: bob.chain, trust: pki.trust }) }
    )
    expect((await client.readFile('notice.txt')).toString()).toBe('hello\n')
    client.close()
    // every abusive connection was closed by the server (garbage at once, silent ones at the
    // handshake deadline); wait for the refusals to be counted
    const deadline = Date.now() + 30_000
    while (refused.length < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    await server.close() // flushes the open summary windows
    const entries = (await readFile(logPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
    const added = entries.slice(before)
    const summaries = added.filter((e) => e.kind === 'refusal-summary')
    const refusedOneByOne = added.filter((e) => e.kind === 'connection' && e.event === 'refused')
    // one address (127.0.0.1), one window: a handful of entries at most, not 500
    expect(summaries.length).toBeGreaterThanOrEqual(1)
    expect(summaries.length).toBeLessThanOrEqual(3)
    expect(refusedOneByOne).toHaveLength(0)
    // every refusal the server reported is counted in the summaries (a listener limit may close
    // some connections before they reach the share server; those are not decisions of the share)
    expect(refused.length).toBeGreaterThan(0)
    expect(summaries.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(refused.length)
    expect(summaries[0]).toMatchObject({ address: '127.0.0.1', code: 'log-refusal-summary' })
    expect(added.length).toBeLessThan(20)
    // the authenticated peer's decisions are individual entries
    expect(added.some((e) => e.kind === 'operation' && e.peer?.name === 'bob')).toBe(true)
    await log.close()
    expect((await verifyDecisionLogFile(logPath)).ok).toBe(true)
  }, 120_000)
})
