/**
 * Attacker's review, round 3: a policy reload while a fetching peer's admission is being logged.
 * The seeder decides a HELLO, then awaits the decision log; `recheck()` after a reload skipped a
 * connection that had no swarm yet, so a peer whose `get` the new policy revokes was served with
 * the decision of the old one once the entry was written (SECURITY.md "Live reload": every open
 * connection is decided again, none slips through). The admission is decided again when a
 * reload happened while it was logged; the refusal is logged.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Decision, DecisionRecord, PolicyDecider } from '@peerguard/interface'
import { createSwarmPeer, type SwarmPeer } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

let dir: string
let pki: TestPki
let file: string
const open: SwarmPeer[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-s3-swarm-'))
  pki = await makeTestPki({
    peers: [
      { name: 'seeder', groups: ['team'] },
      { name: 'leech', groups: ['team'] }
    ]
  })
  file = join(dir, 'data.bin')
  await writeFile(file, randomBytes(256 * 1024 + 5))
}, 30_000)

afterAll(async () => {
  await Promise.all(open.map((p) => p.close()))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** The policy in force: the test "reloads" it by flipping `allowFetch` (a live policy delegates like this). */
function livePolicy(): PolicyDecider & { allowFetch: boolean } {
  const p = {
    allowFetch: true,
    decide(req: { action: string }): Decision {
      if (req.action === 'put' || p.allowFetch) return { allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }
      return { allowed: false, code: 'deny-default', reason: 'no rule allows it', matchedGroups: [] }
    }
  }
  return p
}

describe('s3: a reload while an admission is being logged', () => {
  it('a peer whose fetch the reloaded policy revokes is not served', async () => {
    const policy = livePolicy()
    const entries: DecisionRecord[] = []
    let seeder!: SwarmPeer
    let reloaded = false
    const log = {
      async append(r: DecisionRecord): Promise<{ seq: number }> {
        entries.push(r)
        const seq = entries.length - 1
        if (!reloaded && r.kind === 'operation' && r.verb === 'fetch') {
          // the entry is being written (a slow disk): the policy is reloaded meanwhile
          reloaded = true
          policy.allowFetch = false
          await seeder.recheck({ trust: false })
        }
        return { seq }
      }
    }
    const s = pki.peers.seeder as TestPeer
    seeder = createSwarmPeer({ identity: s.identity, chain: s.chain, trust: pki.trust, policy, log })
    open.push(seeder)
    const manifest = await seeder.publish(file, { name: 'reload', pieceSize: 64 * 1024 })
    await seeder.seed(manifest, file)
    const { port } = await seeder.listen()
    const l = pki.peers.leech as TestPeer
    const leech = createSwarmPeer({ identity: l.identity, chain: l.chain, trust: pki.trust, stallTimeoutMs: 5_000 })
    open.push(leech)
    const out = join(dir, 'got.bin')
    const result = await leech.fetch(manifest, { peers: [`127.0.0.1:${port}`], out }).then(
      () => 'fetched',
      (err: { code?: string }) => err.code ?? 'error'
    )
    expect(reloaded).toBe(true)
    expect(result).not.toBe('fetched')
    expect(
      await stat(out).then(
        () => 'exists',
        () => 'absent'
      )
    ).toBe('absent')
    // the refusal after the reload is on the record
    expect(entries).toContainEqual(expect.objectContaining({ kind: 'connection', event: 'refused', code: 'deny-default' }))
  }, 60_000)
})
