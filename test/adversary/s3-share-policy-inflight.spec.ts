/**
 * Attacker's review, round 3: a policy reload while an upload streams. A peer started an upload
 * while `put` was allowed; the policy in force then forbids it (a reload, `recheck({ trust: false })`).
 * The upload landed anyway when it ended — long after the new policy applied (SECURITY.md: a
 * re-policied peer loses access on a running server). An upload that a reload overlapped is decided
 * again before it commits; refused, nothing lands and the refusal is on the record. Likewise a
 * download in progress: it went on to the last byte; it is decided again at the reload and stops.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import type { Decision, DecisionRecord, PolicyDecider } from '@peerguard/interface'
import {
  channelTransport,
  connectShare,
  createShareServer,
  policyAuthorizer,
  type ShareClient,
  type ShareServer
} from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { leftovers, outcome, slowSource } from './share-harness.js'

let pki: TestPki
let dir: string
let server: ShareServer
let client: ShareClient
let allowPut = true
let allowGet = true
const records: DecisionRecord[] = []

/** The policy in force; a reload flips `allowPut` (a live policy delegates like this). */
const policy: PolicyDecider = {
  decide(req): Decision {
    if (req.action === 'get' ? allowGet : req.action !== 'put' || allowPut)
      return { allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }
    return { allowed: false, code: 'deny-rule', reason: 'uploads closed', matchedGroups: [] }
  },
  decideTree(req): Decision {
    return this.decide(req)
  }
}

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['mallory', 'nas'] })
}, 30_000)

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-s3-policy-inflight-'))
  await mkdir(join(dir, 'root', 'docs'), { recursive: true })
  await writeFile(join(dir, 'root', 'docs', 'plan.txt'), 'the plan\n')
  allowPut = true
  allowGet = true
  records.length = 0
  const nas = pki.peers.nas as TestPeer
  server = createShareServer({
    root: join(dir, 'root'),
    shareName: 'office',
    transport: channelTransport({ identity: nas.identity, chain: nas.chain, trust: pki.trust }),
    authorize: policyAuthorizer(policy),
    connectionCheck: () => undefined,
    log: {
      append: async (r: DecisionRecord) => {
        records.push(r)
        return { seq: records.length - 1 }
      }
    }
  })
  const { port } = await server.listen()
  const m = pki.peers.mallory as TestPeer
  client = await connectShare(
    { host: '127.0.0.1', port },
    { transport: channelTransport({ identity: m.identity, chain: m.chain, trust: pki.trust }) }
  )
})

afterEach(async () => {
  client.close()
  await server.close()
  expect(await leftovers(dir)).toEqual([])
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('s3: a policy reload during an upload', () => {
  it.each([['overwrite'], ['create'], ['append']] as const)(
    'an upload (%s) that the reloaded policy forbids does not land',
    async (mode) => {
      const path = mode === 'create' ? 'docs/new.txt' : 'docs/plan.txt'
      const slow = slowSource(Buffer.from('forged '), Buffer.from('plan\n'))
      const upload = outcome(client.write(path, slow.source, { size: slow.size, mode }))
      await slow.sent
      allowPut = false
      await server.recheck({ trust: false })
      slow.release()
      expect(await upload).toBe('share-denied')
      expect(await readFile(join(dir, 'root', 'docs', 'plan.txt'), 'utf8')).toBe('the plan\n')
      expect(await outcome(readFile(join(dir, 'root', 'docs', 'new.txt')))).not.toBe('ok')
      const last = records.filter((r) => r.kind === 'operation').at(-1)
      expect(last).toMatchObject({
        allowed: false,
        verb: 'put',
        op: 'write',
        code: 'deny-rule',
        resource: `share:office/${path}`
      })
      // the upload was allowed first: its outcome closes it on the record (failed, share-denied),
      // naming the allowed decision and the denial, so no allowed decision is left without an end
      const closing = records.at(-1) as DecisionRecord & { decisions?: number[] }
      expect(closing).toMatchObject({ kind: 'outcome', outcome: 'failed', code: 'share-denied', op: 'write' })
      const named = (closing.decisions ?? []).map((seq) => records[seq])
      expect(named.at(-1)).toBe(last)
      expect(named[0]).toMatchObject({ kind: 'operation', allowed: true, verb: 'put' })
    }
  )

  it('an upload no reload overlapped is decided once (one entry, then its outcome)', async () => {
    await client.writeFile('docs/plan.txt', 'new plan\n')
    expect(records.filter((r) => r.kind === 'operation')).toHaveLength(1)
    expect(records.at(-1)).toMatchObject({ kind: 'outcome', outcome: 'ok' })
  })

  it('an upload still allowed after the reload lands', async () => {
    const slow = slowSource(Buffer.from('new '), Buffer.from('plan\n'))
    const upload = outcome(client.write('docs/plan.txt', slow.source, { size: slow.size }))
    await slow.sent
    await server.recheck({ trust: false })
    slow.release()
    expect(await upload).toBe('ok')
    expect(await readFile(join(dir, 'root', 'docs', 'plan.txt'), 'utf8')).toBe('new plan\n')
  })

  it('a download that the reloaded policy forbids stops (share-denied) before the end', async () => {
    const size = 32 * 1024 * 1024
    await writeFile(join(dir, 'root', 'docs', 'big.bin'), Buffer.alloc(size, 7))
    let received = 0
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let first!: () => void
    const started = new Promise<void>((r) => {
      first = r
    })
    const read = outcome(
      client.read('docs/big.bin', async (chunk) => {
        received += chunk.length
        first()
        await gate // a slow reader: the server stops at its send buffer
      })
    )
    await started
    allowGet = false
    await server.recheck({ trust: false })
    release()
    expect(await read).toBe('share-denied')
    expect(received).toBeLessThan(size)
    expect(records.filter((r) => r.kind === 'operation').at(-1)).toMatchObject({
      allowed: false,
      verb: 'get',
      op: 'read',
      resource: 'share:office/docs/big.bin'
    })
  }, 60_000)
})
