/**
 * The share server's re-check API: `recheck()` runs `connectionCheck` over every open connection
 * and closes the refused ones (logged, `dropped` event); a check that throws refuses; a connection
 * whose handshake overlapped a recheck is checked again as it registers, the others are not.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { ConnectionCheck, PeerInfo } from '@peerguard/interface'
import {
  channelTransport,
  connectShare,
  createShareServer,
  type DroppedEvent,
  type ShareServer,
  type ShareTransport
} from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

let dir: string
let pki: TestPki
let server: ShareServer
let port: number
const records: Array<Record<string, unknown>> = []
const dropped: DroppedEvent[] = []
/** Who the check refuses right now (by certificate name). */
const refusedNames = new Set<string>()
let throwing = false

const check: ConnectionCheck = (peer: PeerInfo) => {
  if (throwing) throw new Error('trust store unreadable')
  return refusedNames.has(peer.name ?? '') ? { code: 'cert-revoked', reason: `${peer.name} was revoked` } : undefined
}

/** Connect as `who`; `beforePreface` runs after the handshake, before the client's first byte. */
async function connectAs(who: TestPeer, beforePreface?: () => Promise<unknown>): Promise<{ closed: Promise<void> }> {
  const base = channelTransport({ identity: who.identity, chain: who.chain, trust: pki.trust })
  let stream: Duplex | undefined
  const transport: ShareTransport = {
    mode: base.mode,
    accept: (s) => base.accept(s),
    connect: async (s) => {
      const r = await base.connect(s)
      stream = r.stream
      await beforePreface?.()
      return r
    }
  }
  const client = await connectShare({ host: '127.0.0.1', port }, { transport })
  const closed = new Promise<void>((r) => (stream as Duplex).once('close', () => r()))
  await client.list('')
  return { closed }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-recheck-'))
  pki = await makeTestPki({ peers: ['alice', 'bob', 'carol', 'nas'] })
  const nas = pki.peers.nas as TestPeer
  server = createShareServer({
    root: dir,
    transport: channelTransport({ identity: nas.identity, chain: nas.chain, trust: pki.trust }),
    authorize: () => ({ allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }),
    connectionCheck: check,
    log: {
      append: async (r) => {
        records.push(r as unknown as Record<string, unknown>)
      }
    }
  })
  server.on('dropped', (e: DroppedEvent) => dropped.push(e))
  port = (await server.listen()).port
})

afterAll(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('ShareServer.recheck', () => {
  it('closes the connections the check refuses, keeps the others, logs and emits each', async () => {
    const alice = await connectAs(pki.peers.alice as TestPeer)
    const bob = await connectAs(pki.peers.bob as TestPeer)
    let aliceClosed = false
    void alice.closed.then(() => {
      aliceClosed = true
    })
    refusedNames.add('bob')
    expect(await server.recheck()).toBe(1)
    await bob.closed
    expect(aliceClosed).toBe(false)
    expect(dropped.at(-1)).toMatchObject({ code: 'cert-revoked', peer: expect.objectContaining({ name: 'bob' }) })
    expect(records.at(-1)).toMatchObject({
      kind: 'connection',
      event: 'refused',
      code: 'cert-revoked',
      reason: 'open connection closed: bob was revoked',
      peer: expect.objectContaining({ name: 'bob' })
    })
    refusedNames.clear()
  })

  it('does not consult the check for a handshake that no recheck overlapped', async () => {
    refusedNames.add('carol')
    const before = dropped.length
    const carol = await connectAs(pki.peers.carol as TestPeer)
    expect(dropped.length).toBe(before)
    // ...but the next recheck does
    expect(await server.recheck()).toBeGreaterThanOrEqual(1)
    await carol.closed
    refusedNames.clear()
  })

  it('checks a connection again as it registers when a recheck ran during its handshake', async () => {
    refusedNames.add('carol')
    await expect(connectAs(pki.peers.carol as TestPeer, () => server.recheck())).rejects.toThrow()
    expect(dropped.at(-1)).toMatchObject({ code: 'cert-revoked', peer: expect.objectContaining({ name: 'carol' }) })
    refusedNames.clear()
  })

  it('a check that throws refuses (fail closed)', async () => {
    const alice = await connectAs(pki.peers.alice as TestPeer)
    throwing = true
    try {
      expect(await server.recheck()).toBeGreaterThanOrEqual(1)
      await alice.closed
      expect(dropped.at(-1)).toMatchObject({ code: 'internal', reason: expect.stringMatching(/trust store unreadable/) })
    } finally {
      throwing = false
    }
  })

  it('refuses a connectionCheck that is not a function', () => {
    expect(() => createShareServer({ root: dir, connectionCheck: 42 as unknown as ConnectionCheck })).toThrow(
      'connectionCheck: expected a function'
    )
  })
})
