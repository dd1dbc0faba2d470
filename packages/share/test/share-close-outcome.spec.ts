/**
 * close() lets the operations it aborts write their outcome before it resolves: the owner closes
 * the decision log right after (share serve, the node), and an outcome appended later landed after
 * the log's stop record and last checkpoint. The log here is slow to write outcomes (a busy disk).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { DecisionRecord } from '@peerguard/interface'
import { connectShare, createShareServer } from '@peerguard/share'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-share-close-'))
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 3))
})
afterAll(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }))

describe('ShareServer.close', () => {
  it('resolves after the outcome of a read it cut off is on the record', async () => {
    const records: DecisionRecord[] = []
    const server = createShareServer({
      root: dir,
      log: {
        append: async (r) => {
          if (r.kind === 'outcome') await new Promise((res) => setTimeout(res, 300))
          records.push(r)
        }
      }
    })
    const { port } = await server.listen({ host: '127.0.0.1' })
    const client = await connectShare({ host: '127.0.0.1', port })
    let started: () => void = () => {}
    const reading = new Promise<void>((r) => (started = r))
    const read = client
      .read('big.bin', () => new Promise((r) => setTimeout(r, 20)), { onStart: () => started() })
      .catch((e: { code?: string }) => e.code)
    await reading
    await server.close()
    expect(records.filter((r) => r.kind === 'outcome')).toEqual([
      expect.objectContaining({ kind: 'outcome', outcome: 'failed', op: 'read' })
    ])
    client.close()
    expect(await read).toEqual(expect.any(String))
  })
})
