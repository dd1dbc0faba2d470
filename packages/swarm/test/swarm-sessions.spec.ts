/**
 * Serving sessions: `sessions()` shows each fetching peer's bytes and current operation while it
 * runs, and each admitted session ends in ONE outcome entry (never one per piece): `ok` with the
 * bytes served when the peer leaves, `failed` with the refusal code when a re-check after a policy
 * change closes it, `swarm-closed` when the serving peer stops (close() waits for the entry).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Decision, DecisionRecord, PolicyDecider } from '@peerguard/interface'
import { createSwarmPeer, type SwarmManifest, type SwarmPeer } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

const SIZE = 3 * 1024 * 1024 + 777
const PIECE = 64 * 1024
const PIECES = Math.ceil(SIZE / PIECE)

let dir: string
let pki: TestPki
let file: string
const open: SwarmPeer[] = []

/** A policy whose answer the test flips: fetching allowed (rule `fetch`) or not (deny-default). */
function switchable(): PolicyDecider & { allowFetch: boolean } {
  const p = {
    allowFetch: true,
    decide(req: { action: string }): Decision {
      if (req.action === 'put' || p.allowFetch)
        return {
          allowed: true,
          code: 'allow',
          reason: 'test',
          matchedGroups: [],
          rule: { id: req.action === 'put' ? 'seed' : 'fetch' }
        }
      return { allowed: false, code: 'deny-default', reason: 'no rule allows it', matchedGroups: [] }
    }
  }
  return p
}

/** An in-memory decision sink that numbers entries like a DecisionLog does. */
function memoryLog(): { entries: DecisionRecord[]; append(r: DecisionRecord): { seq: number } } {
  const entries: DecisionRecord[] = []
  return {
    entries,
    append(r) {
      entries.push(r)
      return { seq: entries.length - 1 }
    }
  }
}

async function seeder(
  policy: PolicyDecider,
  log: ReturnType<typeof memoryLog>
): Promise<{ peer: SwarmPeer; manifest: SwarmManifest; address: string }> {
  const who = pki.peers.seeder as TestPeer
  const peer = createSwarmPeer({
    identity: who.identity,
    chain: who.chain,
    trust: pki.trust,
    policy,
    log,
    maxUploadBytesPerSecond: 1024 * 1024
  })
  open.push(peer)
  const manifest = await peer.publish(file, { name: 'sessions', pieceSize: PIECE })
  await peer.seed(manifest, file)
  const { port } = await peer.listen()
  return { peer, manifest, address: `127.0.0.1:${port}` }
}

function leech(): SwarmPeer {
  const who = pki.peers.leech as TestPeer
  const peer = createSwarmPeer({ identity: who.identity, chain: who.chain, trust: pki.trust, stallTimeoutMs: 60_000 })
  open.push(peer)
  return peer
}

const outcomes = (log: ReturnType<typeof memoryLog>): DecisionRecord[] => log.entries.filter((e) => e.kind === 'outcome')

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-swarm-sessions-'))
  pki = await makeTestPki({
    peers: [
      { name: 'seeder', groups: ['team'] },
      { name: 'leech', groups: ['team'] }
    ]
  })
  file = join(dir, 'data.bin')
  await writeFile(file, randomBytes(SIZE))
}, 30_000)

afterAll(async () => {
  await Promise.all(open.map((p) => p.close()))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('swarm serving sessions', () => {
  it('shows the session while it runs and logs one ok outcome with the bytes when the peer leaves', async () => {
    const log = memoryLog()
    const s = await seeder(switchable(), log)
    const fetcher = leech()
    const seen: Array<{ peerId: string; bytesOut: number; operations: readonly string[] }> = []
    await fetcher.fetch(s.manifest, {
      peers: [s.address],
      out: join(dir, 'one.bin'),
      onProgress: () => {
        const now = s.peer.sessions()
        const one = now[0]
        if (now.length === 1 && one !== undefined)
          seen.push({ peerId: one.peer.peerId, bytesOut: one.bytesOut, operations: one.operations })
      }
    })
    expect(seen.length).toBeGreaterThan(2)
    expect((seen.at(-1)?.bytesOut ?? 0) > (seen[0]?.bytesOut ?? 0)).toBe(true)
    expect(seen[0]?.operations[0]).toMatch(/^fetch swarm:sessions \(\d+ requests pending\)$/)
    expect(seen[0]?.peerId).toBe((pki.peers.leech as TestPeer).peerId)
    await fetcher.close()
    await s.peer.close()
    const admitted = log.entries.findIndex((e) => e.kind === 'operation' && e.verb === 'fetch')
    expect(outcomes(log)).toEqual([
      expect.objectContaining({
        outcome: 'ok',
        code: 'ok',
        op: 'fetch',
        resource: 'swarm:sessions',
        bytes: SIZE,
        decisions: [admitted],
        reason: expect.stringMatching(new RegExp(`served \\d+ blocks of ${PIECES} pieces$`))
      })
    ])
    const o = outcomes(log)[0] as { bytesOut: number; bytesIn: number; durationMs: number }
    expect(o.bytesOut).toBeGreaterThan(SIZE)
    expect(o.bytesIn).toBeGreaterThan(0)
    expect(o.durationMs).toBeGreaterThan(0)
    // one entry per session: the publish check, the admission, the outcome — nothing per piece
    expect(log.entries).toHaveLength(3)
  }, 60_000)

  it('a re-check after the policy changed closes the session; its outcome is failed with the code', async () => {
    const log = memoryLog()
    const policy = switchable()
    const s = await seeder(policy, log)
    const fetcher = leech()
    let flipped: Promise<number> | undefined
    const fetching = fetcher.fetch(s.manifest, {
      peers: [s.address],
      out: join(dir, 'two.bin'),
      onProgress: () => {
        if (flipped !== undefined) return
        policy.allowFetch = false
        flipped = s.peer.recheck({ trust: false })
      }
    })
    await expect(fetching).rejects.toMatchObject({ code: expect.stringMatching(/^swarm-/) })
    expect(await flipped).toBe(1)
    await s.peer.close()
    expect(outcomes(log)).toEqual([
      expect.objectContaining({ outcome: 'failed', code: 'deny-default', op: 'fetch', resource: 'swarm:sessions' })
    ])
    expect((outcomes(log)[0] as { bytes: number }).bytes).toBeLessThan(SIZE)
  }, 60_000)

  it('stopping the serving peer ends a running session as swarm-closed; close() waits for the entry', async () => {
    const log = memoryLog()
    const s = await seeder(switchable(), log)
    const fetcher = leech()
    let closing: Promise<void> | undefined
    const fetching = fetcher.fetch(s.manifest, {
      peers: [s.address],
      out: join(dir, 'three.bin'),
      onProgress: () => {
        closing ??= s.peer.close()
      }
    })
    fetching.catch(() => {})
    for (let i = 0; closing === undefined && i < 600; i++) await new Promise((r) => setTimeout(r, 50))
    await closing
    expect(outcomes(log)).toEqual([expect.objectContaining({ outcome: 'failed', code: 'swarm-closed', op: 'fetch' })])
    await fetcher.close()
  }, 60_000)

  it('a re-check in any turn between the admission and the first piece decides the new session too', async () => {
    // The policy changes while the admission entry is being written; the re-check lands k microtask
    // turns after the log answered — before or after the decision was final, before or after the
    // connection knew its swarm. Whatever k, the fetch is refused (at admission or by the re-check).
    const small = join(dir, 'small.bin')
    await writeFile(small, randomBytes(200_000))
    for (let k = 0; k <= 12; k++) {
      const policy = switchable()
      let peer: SwarmPeer | undefined
      let flipped: Promise<number> | undefined
      const entries: DecisionRecord[] = []
      const log = {
        append(r: DecisionRecord) {
          entries.push(r)
          if (r.kind === 'operation' && r.verb === 'fetch' && flipped === undefined) {
            let hops = k
            const later = (): void => {
              if (hops-- > 0) queueMicrotask(later)
              else {
                policy.allowFetch = false
                flipped = (peer as SwarmPeer).recheck({ trust: false })
              }
            }
            queueMicrotask(later)
          }
          return Promise.resolve({ seq: entries.length - 1 })
        }
      }
      const who = pki.peers.seeder as TestPeer
      peer = createSwarmPeer({ identity: who.identity, chain: who.chain, trust: pki.trust, policy, log })
      open.push(peer)
      const manifest = await peer.publish(small, { name: `turn-${k}`, pieceSize: 16 * 1024 })
      await peer.seed(manifest, small)
      const { port } = await peer.listen()
      const fetcher = leech()
      await expect(
        fetcher.fetch(manifest, { peers: [`127.0.0.1:${port}`], out: join(dir, `turn-${k}.bin`) })
      ).rejects.toMatchObject({ code: expect.stringMatching(/^swarm-/) })
      expect(flipped).toBeDefined()
      await flipped
      await fetcher.close()
      await peer.close()
    }
  }, 120_000)

  it('a re-check on the fetching side drops a seeder the new policy no longer lets seed, and logs it', async () => {
    const s = await seeder(switchable(), memoryLog())
    const who = pki.peers.leech as TestPeer
    let seedAllowed = true
    const policy: PolicyDecider = {
      decide(req: { action: string }): Decision {
        if (req.action !== 'put' || seedAllowed)
          return { allowed: true, code: 'allow', reason: 'test', matchedGroups: [], rule: { id: 'seed' } }
        return { allowed: false, code: 'deny-default', reason: 'no rule allows it', matchedGroups: [] }
      }
    }
    const log = memoryLog()
    const fetcher = createSwarmPeer({ identity: who.identity, chain: who.chain, trust: pki.trust, policy, log })
    open.push(fetcher)
    let flipped: Promise<number> | undefined
    const fetching = fetcher.fetch(s.manifest, {
      peers: [s.address],
      out: join(dir, 'seeder-recheck.bin'),
      onProgress: () => {
        if (flipped !== undefined) return
        seedAllowed = false
        flipped = fetcher.recheck({ trust: false })
      }
    })
    await expect(fetching).rejects.toMatchObject({
      code: 'swarm-stalled',
      details: {
        dropped: [
          expect.objectContaining({
            code: 'deny-default',
            reason: expect.stringMatching(/^open connection closed: seed swarm:sessions/)
          })
        ]
      }
    })
    expect(await flipped).toBe(1)
    expect(log.entries).toContainEqual(expect.objectContaining({ kind: 'connection', event: 'refused', code: 'deny-default' }))
    await fetcher.close()
  }, 60_000)
})
