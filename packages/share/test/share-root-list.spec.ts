import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { lstatSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MAX_LIST_ENTRIES, ShareRoot, typeOf } from '../src/share-root.js'

// `list` stats entries concurrently (bounded): the result must be exactly what one lstat at a
// time gives — every entry but temporary uploads, each with its own type, size and mtime — and
// the cut at MAX_LIST_ENTRIES must stay where it was.
describe('ShareRoot.list', () => {
  let dir: string
  let root: ShareRoot | undefined

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pg-list-'))
    await mkdir(join(dir, 'many'))
    for (let i = 0; i < 300; i++) {
      const p = join(dir, 'many', `f${String(i).padStart(3, '0')}`)
      if (i % 50 === 7) await mkdir(p)
      else if (i % 50 === 8) await symlink('/nonexistent-target', p)
      else await writeFile(p, Buffer.alloc(i))
    }
    await writeFile(join(dir, 'many', '.pgtmp-upload'), 'partial')
    await mkdir(join(dir, 'full'))
    await Promise.all(Array.from({ length: MAX_LIST_ENTRIES + 3 }, (_, i) => writeFile(join(dir, 'full', `n${i}`), '')))
    root = new ShareRoot(dir)
  }, 120_000)

  afterAll(async () => {
    await root?.close()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('gives every entry but temporary uploads, each described as lstat describes it, sorted', async () => {
    const { entries, truncated } = await (root as ShareRoot).list(['many'])
    expect(truncated).toBe(false)
    expect(entries).toHaveLength(300)
    expect(entries.map((e) => e.name)).toEqual(Array.from({ length: 300 }, (_, i) => `f${String(i).padStart(3, '0')}`))
    for (const e of entries) {
      const st = lstatSync(join(dir, 'many', e.name))
      expect(e).toEqual({ name: e.name, type: typeOf(st), size: st.size, mtimeMs: st.mtimeMs })
    }
    expect(entries.filter((e) => e.type === 'dir')).toHaveLength(6)
    expect(entries.filter((e) => e.type === 'symlink')).toHaveLength(6)
  })

  it(`stops at ${MAX_LIST_ENTRIES} entries and says it was truncated`, async () => {
    const { entries, truncated } = await (root as ShareRoot).list(['full'])
    expect(truncated).toBe(true)
    expect(entries).toHaveLength(MAX_LIST_ENTRIES)
    expect(new Set(entries.map((e) => e.name)).size).toBe(MAX_LIST_ENTRIES)
  })
})
