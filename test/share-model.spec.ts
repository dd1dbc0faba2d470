/**
 * Seeded model-based test of the hardened share (packages/share/SPEC.md §9, "Model test").
 *
 * Three peers under a random policy (allows on random prefixes and names, denies under allowed
 * prefixes) run random get/put/rm/mv/mkdir/list/stat requests over real Noise channels against a
 * real folder, while symbolic links (into the root and out of it) appear directly on disk. A
 * reference — a map of the tree plus its own evaluation of the rules on real paths, not the
 * policy engine — predicts every reply code and the whole tree after every step; nothing outside
 * the root may change and no temporary file may remain.
 *
 * Steps run in batches of one to three concurrent requests. A batch whose requests touch disjoint
 * top-level folders must equal the sequential prediction; an overlapping batch must equal the
 * prediction of SOME order of its requests (linearisable), where a request answered
 * `share-file-changed` (its folder changed under it) counts as having done nothing.
 *
 * PEERGUARD_MODEL_STEPS (default 2000) sets the number of batches; PEERGUARD_MODEL_SEED replays a
 * run. The seed is printed on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer, type ShareClient } from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const STEPS = Number(process.env.PEERGUARD_MODEL_STEPS ?? 2000)
const SEED = Number(process.env.PEERGUARD_MODEL_SEED ?? randomBytes(4).readUInt32BE(0))
const STEPS_PER_EPISODE = 100
const PEERS = ['p0', 'p1', 'p2'] as const
const NAMES = ['a', 'b', 's'] as const
const VERBS = ['list', 'get', 'put', 'delete', 'rename'] as const
type Verb = (typeof VERBS)[number]

// ---- a seeded generator (mulberry32) ----
function rng(seed: number) {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
  return { next, int, pick, chance: (p: number) => next() < p }
}
type Rng = ReturnType<typeof rng>

// ---- the policy and its reference evaluation ----
interface Rule {
  id: string
  effect: 'allow' | 'deny'
  verbs: Verb[]
  peer: number
  tree: boolean // `P/**` (P and everything below) or exactly P
  path: string[]
}

function randomPath(r: Rng, min: number, max: number): string[] {
  const n = min + r.int(max - min + 1)
  return Array.from({ length: n }, () => r.pick(NAMES))
}

function randomVerbs(r: Rng): Verb[] {
  const vs = VERBS.filter(() => r.chance(0.6))
  return vs.length === 0 ? [r.pick(VERBS)] : vs
}

function randomPolicy(r: Rng): Rule[] {
  const rules: Rule[] = []
  for (let p = 0; p < PEERS.length; p++) {
    const allows = 2 + r.int(2)
    for (let i = 0; i < allows; i++) {
      const tree = r.chance(0.85)
      rules.push({
        id: `allow-${p}-${i}`,
        effect: 'allow',
        verbs: r.chance(0.5) ? [...VERBS] : randomVerbs(r),
        peer: p,
        tree,
        path: randomPath(r, tree ? 0 : 1, tree ? 1 : 3)
      })
    }
  }
  const denies = r.int(4)
  for (let i = 0; i < denies; i++) {
    const under = r.pick(rules.filter((x) => x.tree))
    const tree = r.chance(0.8)
    rules.push({
      id: `deny-${i}`,
      effect: 'deny',
      verbs: randomVerbs(r),
      peer: under.peer,
      tree,
      path: [...under.path, ...randomPath(r, 1, 2)]
    })
  }
  return rules
}

function policyYaml(rules: Rule[]): string {
  const lines = ['version: 1', 'groups:', ...PEERS.map((p) => `  ${p}: ["ou:${p}"]`), 'rules:']
  for (const x of rules) {
    const res = x.path.length === 0 ? (x.tree ? 'share:m/**' : 'share:m') : `share:m/${x.path.join('/')}${x.tree ? '/**' : ''}`
    lines.push(
      `  - id: ${x.id}`,
      `    ${x.effect}: [${x.verbs.join(', ')}]`,
      `    peers: [${PEERS[x.peer]}]`,
      `    resources: ["${res}"]`
    )
  }
  return `${lines.join('\n')}\n`
}

const isPrefix = (p: readonly string[], of: readonly string[]): boolean => p.length <= of.length && p.every((n, i) => of[i] === n)
const matches = (x: Rule, res: readonly string[]): boolean =>
  x.tree ? isPrefix(x.path, res) : x.path.length === res.length && isPrefix(x.path, res)

class Reference {
  constructor(readonly rules: Rule[]) {}
  allows(peer: number, verb: Verb, res: readonly string[]): boolean {
    const mine = this.rules.filter((x) => x.peer === peer && x.verbs.includes(verb))
    if (mine.some((x) => x.effect === 'deny' && matches(x, res))) return false
    return mine.some((x) => x.effect === 'allow' && matches(x, res))
  }
  allowsTree(peer: number, verb: Verb, res: readonly string[]): boolean {
    if (!this.allows(peer, verb, res)) return false
    const mine = this.rules.filter((x) => x.peer === peer && x.verbs.includes(verb))
    if (mine.some((x) => x.effect === 'deny' && (isPrefix(res, x.path) || (x.tree && isPrefix(x.path, res))))) return false
    return mine.some((x) => x.effect === 'allow' && x.tree && isPrefix(x.path, res))
  }
}

// ---- the tree model ----
type Node = { type: 'file'; content: string } | { type: 'dir' } | { type: 'link'; target: string }
type Tree = Map<string, Node>
const key = (names: readonly string[]): string => names.join('/')

type Op =
  | { kind: 'write'; peer: number; path: string[]; mode: 'create' | 'overwrite' | 'append'; content: string }
  | { kind: 'read' | 'stat' | 'list' | 'delete'; peer: number; path: string[] }
  | { kind: 'mkdir'; peer: number; path: string[]; parents: boolean }
  | { kind: 'rename'; peer: number; from: string[]; to: string[]; overwrite: boolean }
  | { kind: 'symlink'; path: string[]; target: string }

const tops = (op: Op): Set<string> => new Set((op.kind === 'rename' ? [op.from, op.to] : [op.path]).map((p) => p[0] as string))

/** The code a link at `path` gets from the server: escape when its text leads out of `root`, else refused. */
function linkCode(path: readonly string[], target: string, root: string): string {
  if (target.startsWith('/')) return target.startsWith(`${root}/`) ? 'share-symlink-refused' : 'share-symlink-escape'
  const j = posix.normalize(posix.join(...path.slice(0, -1), target))
  return j === '..' || j.startsWith('../') ? 'share-symlink-escape' : 'share-symlink-refused'
}

/** The error walking `dirs` as folders (undefined when they all are folders). */
function walkTree(tree: Tree, dirs: readonly string[], root: string): string | undefined {
  for (let i = 1; i <= dirs.length; i++) {
    const n = tree.get(key(dirs.slice(0, i)))
    if (n === undefined) return 'share-not-found'
    if (n.type === 'link') return linkCode(dirs.slice(0, i), n.target, root)
    if (n.type === 'file') return 'share-not-directory'
  }
  return undefined
}

/** Apply one op to `tree` as the server must; returns the reply code. Mutates `tree` only on success. */
function apply(tree: Tree, ref: Reference, op: Op, listable: (peer: number, parent: string[]) => boolean, root: string): string {
  const at = (p: readonly string[]): Node | undefined => (p.length === 0 ? { type: 'dir' } : tree.get(key(p)))
  const walk = (dirs: readonly string[]): string | undefined => walkTree(tree, dirs, root)
  const code = (p: readonly string[], n: { target: string }): string => linkCode(p, n.target, root)
  const below = (p: readonly string[]): string[] => [...tree.keys()].filter((k) => k.startsWith(`${key(p)}/`))
  if (op.kind === 'symlink') {
    tree.set(key(op.path), { type: 'link', target: op.target })
    return 'ok'
  }
  const peer = op.peer
  const deny = (verb: Verb, p: readonly string[]): boolean => !ref.allows(peer, verb, p)
  switch (op.kind) {
    case 'list': {
      if (deny('list', op.path)) return 'share-denied'
      return walk(op.path) ?? 'ok'
    }
    case 'stat':
    case 'read': {
      if (deny(op.kind === 'read' ? 'get' : 'list', op.path)) return 'share-denied'
      const w = walk(op.path.slice(0, -1))
      if (w !== undefined) return w
      const n = at(op.path)
      if (n === undefined) return 'share-not-found'
      if (op.kind === 'stat') return 'ok'
      if (n.type === 'link') return code(op.path, n)
      if (n.type === 'dir') return 'share-is-directory'
      return 'ok'
    }
    case 'write': {
      if (deny('put', op.path)) return 'share-denied'
      const parent = op.path.slice(0, -1)
      const drop = op.mode === 'create' && !listable(peer, parent)
      if (drop && deny('put', [...parent, `${op.path[op.path.length - 1]}~000000000000`])) return 'share-denied'
      const w = walk(parent)
      if (w !== undefined) return w
      const n = at(op.path)
      if (drop && n !== undefined) return 'ok-dropped'
      if (n?.type === 'link') return code(op.path, n)
      if (n?.type === 'dir') return 'share-is-directory'
      if (n !== undefined && op.mode === 'create') return 'share-already-exists'
      const old = n?.type === 'file' && op.mode === 'append' ? n.content : ''
      tree.set(key(op.path), { type: 'file', content: old + op.content })
      return 'ok'
    }
    case 'delete': {
      if (deny('delete', op.path)) return 'share-denied'
      const w = walk(op.path.slice(0, -1))
      if (w !== undefined) return w
      const n = at(op.path)
      if (n === undefined) return 'share-not-found'
      if (n.type === 'dir') {
        if (!ref.allowsTree(peer, 'delete', op.path)) return 'share-denied'
        if (below(op.path).length > 0) return 'share-directory-not-empty'
      }
      tree.delete(key(op.path))
      return 'ok'
    }
    case 'mkdir': {
      if (deny('put', op.path)) return 'share-denied'
      for (let i = 1; i <= op.path.length; i++) {
        const prefix = op.path.slice(0, i)
        const last = i === op.path.length
        const n = at(prefix)
        if (n === undefined) {
          if (!last && !op.parents) return 'share-not-found'
          if (!last && deny('put', prefix)) return 'share-denied'
          tree.set(key(prefix), { type: 'dir' })
          continue
        }
        if (last) {
          if (op.parents && n.type === 'dir') return 'ok'
          return n.type === 'link' ? code(prefix, n) : 'share-already-exists'
        }
        if (n.type === 'link') return code(prefix, n)
        if (n.type === 'file') return 'share-not-directory'
      }
      return 'ok'
    }
    case 'rename': {
      const { from, to } = op
      if (deny('rename', from) || deny('put', to)) return 'share-denied'
      const w = walk(from.slice(0, -1))
      if (w !== undefined) return w
      const n = at(from)
      if (n === undefined) return 'share-not-found'
      if (n.type === 'dir') {
        if (!ref.allowsTree(peer, 'rename', from) || !ref.allowsTree(peer, 'put', to)) return 'share-denied'
        if (!ref.allowsTree(peer, 'get', from) || !ref.allowsTree(peer, 'list', from)) return 'share-denied'
      } else {
        for (const v of ['get', 'list'] as const) if (ref.allows(peer, v, to) && deny(v, from)) return 'share-denied'
      }
      if (to.length > from.length && isPrefix(from, to)) return 'share-path-invalid'
      const w2 = walk(from.slice(0, -1)) ?? walk(to.slice(0, -1))
      if (w2 !== undefined) return w2
      const m = at(to)
      if (m !== undefined && !op.overwrite) return 'share-already-exists'
      if (key(from) === key(to)) return 'ok'
      if (from.length > to.length && isPrefix(to, from)) return 'share-directory-not-empty' // rename(2): ENOTEMPTY first
      if (m !== undefined) {
        if (n.type === 'dir' && m.type !== 'dir') return 'share-not-directory'
        if (n.type !== 'dir' && m.type === 'dir') return 'share-is-directory'
        if (m.type === 'dir' && below(to).length > 0) return 'share-directory-not-empty'
      }
      const moved = [key(from), ...below(from)]
      const entries = moved.map((k) => [k, tree.get(k) as Node] as const)
      for (const k of moved) tree.delete(k)
      for (const [k, v] of entries) tree.set(key(to) + k.slice(key(from).length), v)
      return 'ok'
    }
  }
}

// ---- the real run ----
let pki: TestPki
let dir: string

beforeAll(async () => {
  pki = await makeTestPki({ peers: [{ name: 'server', groups: [] }, ...PEERS.map((p) => ({ name: p, groups: [p] }))] })
  dir = await mkdtemp(join(tmpdir(), 'pg-model-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

async function diskTree(root: string): Promise<Tree> {
  const tree: Tree = new Map()
  const walkDisk = async (rel: string[]): Promise<void> => {
    for (const name of await readdir(join(root, ...rel))) {
      const p = [...rel, name]
      const st = await lstat(join(root, ...p))
      if (st.isSymbolicLink()) tree.set(key(p), { type: 'link', target: await readlink(join(root, ...p)) })
      else if (st.isDirectory()) {
        tree.set(key(p), { type: 'dir' })
        await walkDisk(p)
      } else tree.set(key(p), { type: 'file', content: await readFile(join(root, ...p), 'utf8') })
    }
  }
  await walkDisk([])
  return tree
}

const plain = (t: Tree): Record<string, string> =>
  Object.fromEntries(
    [...t].map(([k, v]) => [k, v.type === 'file' ? `file:${v.content}` : v.type === 'link' ? `link:${v.target}` : 'dir'])
  )

function randomOp(r: Rng, root: string, outside: string): Op {
  const peer = r.int(PEERS.length)
  const path = randomPath(r, 1, 3)
  const roll = r.int(100)
  if (roll < 25)
    return {
      kind: 'write',
      peer,
      path,
      mode: r.pick(['create', 'overwrite', 'append'] as const),
      content: r.pick(['x', 'yy', 'zzz'])
    }
  if (roll < 35) return { kind: 'read', peer, path }
  if (roll < 42) return { kind: 'stat', peer, path }
  if (roll < 48) return { kind: 'list', peer, path: path.slice(0, -1).length === 0 ? path : path.slice(0, -1) }
  if (roll < 58) return { kind: 'delete', peer, path }
  if (roll < 75) return { kind: 'mkdir', peer, path, parents: r.chance(0.5) }
  if (roll < 92) return { kind: 'rename', peer, from: path, to: randomPath(r, 1, 3), overwrite: r.chance(0.3) }
  const target = r.pick([
    '../'.repeat(path.length - 1) + r.pick(NAMES), // in the root
    join(root, r.pick(NAMES)), // absolute, in the root
    `${'../'.repeat(path.length)}outside`, // relative, out
    outside // absolute, out
  ])
  return { kind: 'symlink', path, target }
}

async function run(c: ShareClient, op: Exclude<Op, { kind: 'symlink' }>): Promise<{ code: string; content?: string }> {
  const p = (x: string[]) => x.join('/')
  try {
    switch (op.kind) {
      case 'write': {
        await c.writeFile(p(op.path), op.content, { mode: op.mode })
        return { code: 'ok' }
      }
      case 'read':
        return { code: 'ok', content: (await c.readFile(p(op.path))).toString() }
      case 'stat':
        await c.stat(p(op.path))
        return { code: 'ok' }
      case 'list':
        await c.list(p(op.path))
        return { code: 'ok' }
      case 'delete':
        await c.delete(p(op.path))
        return { code: 'ok' }
      case 'mkdir':
        await c.mkdir(p(op.path), { parents: op.parents })
        return { code: 'ok' }
      case 'rename':
        await c.rename(p(op.from), p(op.to), { overwrite: op.overwrite })
        return { code: 'ok' }
    }
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err) }
  }
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs]
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]))
}

describe('hardened share against a seeded reference model', () => {
  it(`${STEPS} random batches of concurrent requests and on-disk links agree with the reference`, async () => {
    const r = rng(SEED)
    let step = 0
    let context = ''
    try {
      for (let episode = 0; step < STEPS; episode++) {
        const rules = randomPolicy(r)
        const ref = new Reference(rules)
        await mkdir(join(dir, `e${episode}`, 'root'), { recursive: true })
        const root = await realpath(join(dir, `e${episode}`, 'root')) // link texts name the real root
        const outside = join(dir, `e${episode}`, 'outside')
        await mkdir(outside)
        await writeFile(join(outside, 'secret'), 'SECRET')
        const server = pki.peers.server!
        const share = createShareServer({
          root,
          shareName: 'm',
          transport: channelTransport({ identity: server.identity, chain: server.chain, trust: pki.trust }),
          authorize: policyAuthorizer(loadPolicy(policyYaml(rules))),
          maxConcurrentPerPeer: 16
        })
        const addr = await share.listen()
        const clients: ShareClient[] = []
        try {
          for (const p of PEERS) {
            const peer = pki.peers[p]!
            clients.push(
              await connectShare(addr, {
                transport: channelTransport({ identity: peer.identity, chain: peer.chain, trust: pki.trust })
              })
            )
          }
          let tree: Tree = new Map()
          for (const top of NAMES) {
            if (!r.chance(0.7)) continue
            await mkdir(join(root, top))
            tree.set(top, { type: 'dir' })
            for (const name of NAMES) {
              if (r.chance(0.4)) {
                await writeFile(join(root, top, name), 'init')
                tree.set(`${top}/${name}`, { type: 'file', content: 'init' })
              } else if (r.chance(0.3)) {
                await mkdir(join(root, top, name))
                tree.set(`${top}/${name}`, { type: 'dir' })
              }
            }
          }
          const listable = (peer: number, parent: string[]) => ref.allows(peer, 'list', parent)
          for (let s = 0; s < STEPS_PER_EPISODE && step < STEPS; s++, step++) {
            const size = 1 + r.int(3)
            const batch: Op[] = []
            for (let tries = 0; batch.length < size && tries < 20; tries++) {
              const op = randomOp(r, root, outside)
              const racy = (o: Op): boolean =>
                o.kind === 'symlink' || (o.kind === 'write' && (o.mode !== 'create' || !listable(o.peer, o.path.slice(0, -1))))
              const clash = batch.filter((b) => [...tops(b)].some((t) => tops(op).has(t)))
              // overlapping requests must be linearisable: no read-modify-write, no random drop name, no disk link
              if (clash.length > 0 && (racy(op) || clash.some(racy))) continue
              // links are made with symlink(2), which follows links in the parent: only under real folders
              if (op.kind === 'symlink' && (walkTree(tree, op.path.slice(0, -1), root) !== undefined || tree.has(key(op.path))))
                continue
              batch.push(op)
            }
            context = `seed ${SEED} step ${step} (episode ${episode})\npolicy:\n${policyYaml(rules)}batch: ${JSON.stringify(batch)}\nbefore: ${JSON.stringify(plain(tree))}`
            const results = await Promise.all(
              batch.map(async (op) => {
                if (op.kind !== 'symlink') return run(clients[op.peer] as ShareClient, op)
                await symlink(op.target, join(root, ...op.path))
                return { code: 'ok' }
              })
            )
            const disk = await diskTree(root)
            let matched: Tree | undefined
            for (const order of permutations(batch.map((_, i) => i))) {
              const t: Tree = new Map([...tree].map(([k, v]) => [k, { ...v }]))
              let ok = true
              for (const i of order) {
                const op = batch[i] as Op
                const got = results[i] as { code: string; content?: string }
                if (op.kind !== 'symlink' && got.code === 'share-file-changed') continue // aborted: did nothing
                const before = op.kind === 'read' ? t.get(key(op.path)) : undefined
                let want = apply(t, ref, op, listable, root)
                if (want === 'ok-dropped') {
                  // the upload went to <name>~<12 hex>: adopt the one new such name on disk
                  const name = (op as { path: string[] }).path
                  const base = key(name)
                  const found = [...disk.keys()].filter((k) => k.startsWith(`${base}~`) && !t.has(k))
                  if (found.length !== 1) ok = false
                  else t.set(found[0] as string, disk.get(found[0] as string) as Node)
                  want = 'ok'
                }
                if (want !== got.code) ok = false
                if (op.kind === 'read' && want === 'ok' && before?.type === 'file' && got.content !== before.content) ok = false
                if (!ok) break
              }
              if (ok && JSON.stringify(plain(new Map([...t].sort()))) === JSON.stringify(plain(new Map([...disk].sort())))) {
                matched = t
                break
              }
            }
            if (matched === undefined) {
              const expected = batch.map((op) =>
                apply(new Map([...tree].map(([k, v]) => [k, { ...v }])), ref, op, listable, root)
              )
              throw new Error(
                `${context}\nreplies: ${JSON.stringify(results.map((x) => x.code))}\nsequential prediction: ${JSON.stringify(expected)}\ndisk: ${JSON.stringify(plain(disk))}`
              )
            }
            tree = matched
            expect(await readdir(outside)).toEqual(['secret'])
            expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('SECRET')
            expect([...disk.keys()].filter((k) => k.split('/').some((n) => n.startsWith('.pgtmp-')))).toEqual([])
          }
        } finally {
          for (const c of clients) c.close()
          await share.close()
        }
      }
    } catch (err) {
      process.stderr.write(`share model test failed: replay with PEERGUARD_MODEL_SEED=${SEED} (${context.split('\n')[0]})\n`)
      throw err
    }
  }, 600_000)
})
