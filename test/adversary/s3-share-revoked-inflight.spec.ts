/**
 * Attacker's review, round 3: a peer revoked while its operation's decision is being written to
 * the log. `recheck()` closes the connection in that turn (SECURITY.md "Live reload"), but the
 * operation went on once the entry was written: the revoked peer's delete, rename or mkdir changed
 * the share after the revocation applied. A mutation whose connection a re-check closed does not
 * touch the disk (`share-connection-closed`); an allowed entry may stand, its outcome says failed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import type { ConnectionCheck, DecisionRecord, PeerInfo } from '@peerguard/interface'
import { channelTransport, connectShare, createShareServer, type ShareClient, type ShareServer } from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { outcome, slowSource, snapshot } from './share-harness.js'

let pki: TestPki
let dir: string
let root: string
let server: ShareServer
let client: ShareClient
let revoked = false
/** The verb whose decision entry triggers the revocation while it is written. */
let trigger: string | undefined
const records: DecisionRecord[] = []

const check: ConnectionCheck = (peer: PeerInfo) =>
  revoked && peer.name === 'mallory' ? { code: 'cert-revoked', reason: 'mallory was revoked' } : undefined

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['mallory', 'nas'] })
}, 30_000)

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-s3-revoked-'))
  root = join(dir, 'root')
  await mkdir(join(root, 'docs'), { recursive: true })
  await writeFile(join(root, 'docs', 'plan.txt'), 'the plan\n')
  revoked = false
  trigger = undefined
  records.length = 0
  const nas = pki.peers.nas as TestPeer
  server = createShareServer({
    root,
    shareName: 'office',
    transport: channelTransport({ identity: nas.identity, chain: nas.chain, trust: pki.trust }),
    authorize: Object.assign(() => ({ allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }), { subtrees: true }),
    connectionCheck: check,
    log: {
      append: async (r: DecisionRecord) => {
        records.push(r)
        if (r.kind === 'operation' && r.allowed && r.verb === trigger) {
          // the entry is being written (a slow disk): the CRL revoking the peer arrives meanwhile
          trigger = undefined
          revoked = true
          await server.recheck()
        }
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
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('s3: a revoked peer’s operation in flight does not touch the share', () => {
  const cases: Array<[string, string, () => Promise<unknown>]> = [
    ['delete', 'delete', () => client.delete('docs/plan.txt')],
    ['rename', 'rename', () => client.rename('docs/plan.txt', 'docs/gone.txt')],
    ['mkdir', 'put', () => client.mkdir('docs/new')],
    ['write', 'put', () => client.writeFile('docs/plan.txt', 'forged\n')]
  ]
  it.each(cases)('%s decided as the revocation arrives changes nothing', async (_op, verb, run) => {
    const before = await snapshot(root)
    trigger = verb
    expect(await outcome(run())).toBe('share-connection-closed')
    expect(revoked).toBe(true)
    // every operation has ended and logged its outcome once close() returns
    await server.close()
    expect(await snapshot(root)).toEqual(before)
    expect(records).toContainEqual(expect.objectContaining({ kind: 'connection', event: 'refused', code: 'cert-revoked' }))
    expect(records).toContainEqual(
      expect.objectContaining({ kind: 'outcome', outcome: 'failed', code: 'share-connection-closed' })
    )
  })

  it('an upload streaming when the revocation arrives is discarded (holds: the connection closes, the upload aborts)', async () => {
    const before = await snapshot(root)
    const slow = slowSource(Buffer.from('forged '), Buffer.from('content\n'))
    const upload = outcome(client.write('docs/plan.txt', slow.source, { size: slow.size }))
    await slow.sent
    revoked = true
    expect(await server.recheck()).toBe(1)
    slow.release()
    expect(await upload).toBe('share-connection-closed')
    await server.close()
    // the temporary file came and went (the folder's mtime moved); every name and file is as it was
    const after = await snapshot(root)
    expect(Object.keys(after)).toEqual(Object.keys(before))
    expect(after['docs/plan.txt']).toBe(before['docs/plan.txt'])
  })
})
