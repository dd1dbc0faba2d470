/**
 * An operation that waited — for the namespace lock, or for its path's turn behind another writer —
 * asks `onTurn` before any system call: the server refuses there an operation whose connection a
 * re-check closed while it waited (the peer was revoked), so nothing it asked for happens after the
 * revocation applied. Real files; the lock is held by the test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ShareError } from '../src/errors.js'
import { ShareRoot } from '../src/share-root.js'

let dir: string
let root: ShareRoot
let revoked = false

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-turn-'))
  root = new ShareRoot(dir)
  root.onTurn = () => {
    if (revoked) throw new ShareError('share-connection-closed', 'closed while waiting')
  }
})

afterAll(async () => {
  await root.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** Hold the namespace lock exclusively until the returned release is called. */
function holdLock(): () => void {
  let release!: () => void
  const held = new Promise<void>((r) => {
    release = r
  })
  void root.lock.exclusive(() => held)
  return release
}

describe('ShareRoot: an operation that waited asks onTurn before touching the disk', () => {
  it('a delete refused at its turn leaves the file; one allowed at its turn removes it', async () => {
    for (const refuse of [true, false]) {
      revoked = false
      await writeFile(join(dir, 'plan.txt'), 'the plan\n')
      const seen = await root.peek(['plan.txt'])
      const release = holdLock()
      const removal = root.remove(['plan.txt'], seen as NonNullable<typeof seen>).then(
        () => 'removed',
        (err: ShareError) => err.code
      )
      revoked = refuse // the re-check lands while the delete waits
      release()
      expect(await removal).toBe(refuse ? 'share-connection-closed' : 'removed')
      expect(existsSync(join(dir, 'plan.txt'))).toBe(refuse)
    }
    revoked = false
  })

  it('a rename refused at its turn moves nothing', async () => {
    await writeFile(join(dir, 'a.txt'), 'a\n')
    const seen = await root.peek(['a.txt'])
    const release = holdLock()
    const moving = root.rename(['a.txt'], ['b.txt'], false, seen as NonNullable<typeof seen>).then(
      () => 'moved',
      (err: ShareError) => err.code
    )
    revoked = true
    release()
    expect(await moving).toBe('share-connection-closed')
    revoked = false
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('a\n')
    expect(existsSync(join(dir, 'b.txt'))).toBe(false)
  })
})
