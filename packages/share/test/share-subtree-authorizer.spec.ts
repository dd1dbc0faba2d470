/**
 * SPEC.md §8, invariant S2 with a custom `Authorizer`: a subtree question is put only to an
 * authorizer that declares `subtrees: true`. One that ignores `scope` answers for a folder's name
 * alone, so before the fix `mv a a-moved` went through although the authorizer denied `a/b/f`;
 * now a directory rename under such an authorizer is refused (`share-subtree-unsupported`, logged
 * as a `deny-error` decision) and a directory removal removes only an empty folder.
 *
 * The property builds random trees with random denied paths and tries every ancestor of a denied
 * path: under the scope-ignoring authorizer nothing moves or goes; under one that declares and
 * honours `subtrees`, the server agrees with a reference (allowed iff nothing below is denied).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Decision, DecisionRecord, PeerInfo } from '@peerguard/interface'
import {
  type AccessRequest,
  type Authorizer,
  connectShare,
  createShareServer,
  policyAuthorizer,
  type ShareClient,
  type ShareServer
} from '@peerguard/share'
import fc from 'fast-check'

const allow: Decision = { allowed: true, code: 'allow', reason: 'test allows', matchedGroups: [] }
const deny: Decision = { allowed: false, code: 'deny-rule', reason: 'test denies', matchedGroups: [] }

/** Denied paths (share-relative) of the run in progress; every authorizer below reads them. */
let denied: string[] = []
const under = (path: string, d: string): boolean => path === d || path.startsWith(`${d}/`)
const isDenied = (path: string): boolean => denied.some((d) => under(path, d))

/** Answers for `request.path` only: the scope is ignored (the hole this spec is about). */
const ignoresScope: Authorizer = (_peer: PeerInfo, request: AccessRequest) => (isDenied(request.path) ? deny : allow)
/** Honours the scope and says so: a subtree is allowed only if no denied path lies in it. */
const honoursScope: Authorizer = Object.assign(
  (_peer: PeerInfo, request: AccessRequest) =>
    isDenied(request.path) || (request.scope === 'tree' && denied.some((d) => under(d, request.path))) ? deny : allow,
  { subtrees: true }
)

interface Side {
  server: ShareServer
  client: ShareClient
  records: DecisionRecord[]
  asked: Array<Pick<AccessRequest, 'verb' | 'path' | 'scope'>>
}

let dir: string
const sides: Record<'ignoring' | 'honouring', Side> = {} as never

async function start(authorize: Authorizer): Promise<Side> {
  const records: DecisionRecord[] = []
  const asked: Side['asked'] = []
  const wrapped = Object.assign(
    (peer: PeerInfo, request: AccessRequest) => {
      asked.push({ verb: request.verb, path: request.path, ...(request.scope === undefined ? {} : { scope: request.scope }) })
      return authorize(peer, request)
    },
    authorize.subtrees === undefined ? {} : { subtrees: authorize.subtrees }
  )
  const server = createShareServer({
    root: dir,
    shareName: 'office',
    authorize: wrapped,
    log: {
      append: async (r) => {
        records.push(r)
      }
    }
  })
  const { port } = await server.listen({ host: '127.0.0.1' })
  return { server, client: await connectShare({ host: '127.0.0.1', port }), records, asked }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-subtree-auth-'))
  sides.ignoring = await start(ignoresScope)
  sides.honouring = await start(honoursScope)
})

afterAll(async () => {
  for (const side of Object.values(sides)) {
    side.client.close()
    await side.server.close()
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** Every path under `base` (relative to it), without following links: path → `dir` or `file`. */
async function tree(base: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir(join(base, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`
    const st = await lstat(join(base, p))
    out[p] = st.isDirectory() ? 'dir' : `file ${st.ino}`
    if (st.isDirectory()) Object.assign(out, await tree(base, p))
  }
  return out
}

const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: { code?: unknown }) => (typeof err.code === 'string' ? err.code : 'thrown')
  )

describe('which authorizers are asked subtree questions', () => {
  it('policyAuthorizer declares subtrees; a plain function or a non-true flag does not', () => {
    expect(policyAuthorizer({ decide: () => allow }).subtrees).toBe(true)
    expect(ignoresScope.subtrees).toBeUndefined()
  })

  it('a directory rename under a scope-ignoring authorizer is refused, logged, and the authorizer is never asked a subtree question', async () => {
    const { client, records, asked } = sides.ignoring
    await mkdir(join(dir, 'empty'), { recursive: true })
    denied = []
    records.length = 0
    asked.length = 0
    await expect(client.rename('empty', 'empty-moved')).rejects.toMatchObject({ code: 'share-subtree-unsupported' })
    expect((await lstat(join(dir, 'empty'))).isDirectory()).toBe(true)
    expect(asked.some((a) => a.scope === 'tree')).toBe(false)
    expect(records).toContainEqual(
      expect.objectContaining({
        kind: 'operation',
        allowed: false,
        code: 'deny-error',
        verb: 'rename',
        resource: 'share:office/empty'
      })
    )
    // a file still renames: only directories need a subtree decision
    await writeFile(join(dir, 'empty', 'note'), 'n')
    await client.rename('empty/note', 'empty/note2')
    // an empty directory is removed on its path decision alone (rmdir removes nothing below it)
    await rm(join(dir, 'empty', 'note2'))
    asked.length = 0
    await client.delete('empty')
    expect(asked).toEqual([{ verb: 'delete', path: 'empty' }])
    await expect(lstat(join(dir, 'empty'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a flag other than `true` declares nothing', async () => {
    const flagged = Object.assign((_p: PeerInfo, _r: AccessRequest) => allow, { subtrees: 'yes' as unknown as boolean })
    const side = await start(flagged)
    try {
      await mkdir(join(dir, 'flagged'), { recursive: true })
      await expect(side.client.rename('flagged', 'flagged-2')).rejects.toMatchObject({ code: 'share-subtree-unsupported' })
    } finally {
      side.client.close()
      await side.server.close()
      await rm(join(dir, 'flagged'), { recursive: true, force: true })
    }
  })
})

const NAMES = ['a', 'b', 'c'] as const
/** Folders (each holding a file `f`), and indices into their nodes (folders and files) to deny. */
const world = fc.record({
  folders: fc.uniqueArray(fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }), {
    minLength: 1,
    maxLength: 6,
    selector: (p) => p.join('/')
  }),
  picks: fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3 })
})

let run = 0

describe('a deny below a folder holds against a rename or removal of any ancestor (random trees)', () => {
  it('scope-ignoring: nothing above a denied path moves or goes; scope-honouring: agrees with the reference', async () => {
    await fc.assert(
      fc.asyncProperty(world, async ({ folders, picks }) => {
        const base = `run${run++}`
        const folderPaths = [...new Set(folders.flatMap((f) => f.map((_, i) => f.slice(0, i + 1).join('/'))))]
        for (const f of folderPaths) {
          await mkdir(join(dir, base, f), { recursive: true })
          await writeFile(join(dir, base, f, 'f'), f)
        }
        const nodes = [...folderPaths, ...folderPaths.map((f) => `${f}/f`)].sort()
        denied = [...new Set(picks.map((i) => `${base}/${nodes[i % nodes.length]}`))]
        // every folder strictly above a denied path, the run's own folder included
        const ancestors = [base, ...folderPaths.map((f) => `${base}/${f}`)].filter((a) =>
          denied.some((d) => d.startsWith(`${a}/`))
        )
        const before = await tree(join(dir, base))
        for (const a of ancestors) {
          if (isDenied(a)) continue // the path decision itself denies it: not the case at issue
          expect(await code(sides.ignoring.client.rename(a, `${a}-moved`))).toBe('share-subtree-unsupported')
          expect(await code(sides.ignoring.client.delete(a))).toBe('share-directory-not-empty')
          expect(await code(sides.honouring.client.rename(a, `${a}-moved`))).toBe('share-denied')
        }
        expect(await tree(join(dir, base))).toEqual(before)
        // the reference for the honouring side: a folder with nothing denied in it moves
        const free = folderPaths.map((f) => `${base}/${f}`).filter((f) => !denied.some((d) => under(d, f) || under(f, d)))
        const top = free.find((f) => !free.some((g) => f.startsWith(`${g}/`)))
        if (top !== undefined) {
          expect(await code(sides.honouring.client.rename(top, `${top}-moved`))).toBe('ok')
          expect(await code(sides.honouring.client.rename(`${top}-moved`, top))).toBe('ok')
        }
        expect(Object.keys(await tree(join(dir, base)))).toEqual(Object.keys(before))
        denied = []
        await rm(join(dir, base), { recursive: true, force: true })
      }),
      { numRuns: 40, examples: [[{ folders: [['a', 'b']], picks: [2] }]] }
    )
  }, 120_000)
})
