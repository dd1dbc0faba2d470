/**
 * Model-based property test of the hardened share: random policies give three peers random
 * permissions on two folders; random sequences of operations run over real loopback channels
 * against a real folder. A reference model (a map of files and the permission table itself, not
 * the policy engine) predicts every outcome; the share must never reach a state the policy
 * forbids, and every allowed operation must do exactly what the model says.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, connectShare, createShareServer, policyAuthorizer, type ShareClient } from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

const VERBS = ['list', 'get', 'put', 'delete', 'rename'] as const
type Verb = (typeof VERBS)[number]
const FOLDERS = ['a', 'b'] as const
const NAMES = ['x.txt', 'y.txt', 'z.txt'] as const
const PEERS = ['p0', 'p1', 'p2'] as const

type Perms = Record<string, Record<string, Verb[]>> // peer -> folder -> verbs

type Op =
  | { kind: 'write'; peer: number; path: string; content: string }
  | { kind: 'read'; peer: number; path: string }
  | { kind: 'stat'; peer: number; path: string }
  | { kind: 'delete'; peer: number; path: string }
  | { kind: 'rename'; peer: number; from: string; to: string }

const pathArb = fc.tuple(fc.constantFrom(...FOLDERS), fc.constantFrom(...NAMES)).map(([f, n]) => `${f}/${n}`)
const peerArb = fc.nat(PEERS.length - 1)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), peer: peerArb, path: pathArb, content: fc.string({ maxLength: 20 }) }),
  fc.record({ kind: fc.constant('read' as const), peer: peerArb, path: pathArb }),
  fc.record({ kind: fc.constant('stat' as const), peer: peerArb, path: pathArb }),
  fc.record({ kind: fc.constant('delete' as const), peer: peerArb, path: pathArb }),
  fc.record({ kind: fc.constant('rename' as const), peer: peerArb, from: pathArb, to: pathArb }).filter((o) => o.from !== o.to)
)
const permsArb: fc.Arbitrary<Perms> = fc.record(
  Object.fromEntries(PEERS.map((p) => [p, fc.record(Object.fromEntries(FOLDERS.map((f) => [f, fc.subarray([...VERBS])])))]))
) as fc.Arbitrary<Perms>

function policyText(perms: Perms): string {
  const lines = ['version: 1', 'groups:']
  for (const p of PEERS) lines.push(`  ${p}: ["ou:${p}"]`)
  lines.push('rules:', '  - id: nothing', '    allow: [get]', '    peers: [p0]', '    resources: ["share:m/none/**"]')
  for (const p of PEERS) {
    for (const f of FOLDERS) {
      const verbs = perms[p]?.[f] ?? []
      if (verbs.length === 0) continue
      lines.push(
        `  - id: ${p}-${f}`,
        `    allow: [${verbs.join(', ')}]`,
        `    peers: [${p}]`,
        `    resources: ["share:m/${f}/**"]`
      )
    }
  }
  return `${lines.join('\n')}\n`
}

let pki: TestPki
let dir: string

beforeAll(async () => {
  pki = await makeTestPki({ peers: [{ name: 'server', groups: [] }, ...PEERS.map((p) => ({ name: p, groups: [p] }))] })
  dir = await mkdtemp(join(tmpdir(), 'pg-model-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function diskState(root: string): Promise<Map<string, string>> {
  const state = new Map<string, string>()
  for (const f of FOLDERS) {
    for (const n of await readdir(join(root, f))) {
      expect(n.startsWith('.pgtmp-')).toBe(false) // no temporary file is ever left behind
      state.set(`${f}/${n}`, await readFile(join(root, f, n), 'utf8'))
    }
  }
  return state
}

describe('hardened share against a reference model', () => {
  it('random operations by peers with random permissions never reach a forbidden state', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(permsArb, fc.array(opArb, { minLength: 1, maxLength: 25 }), async (perms, ops) => {
        const root = join(dir, `run-${run++}`)
        await mkdir(join(root, 'a'), { recursive: true })
        await mkdir(join(root, 'b'))
        const server = pki.peers.server!
        const share = createShareServer({
          root,
          shareName: 'm',
          transport: channelTransport({ identity: server.identity, chain: server.chain, trust: pki.trust }),
          authorize: policyAuthorizer(loadPolicy(policyText(perms)))
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
          const model = new Map<string, string>()
          const can = (peer: number, verb: Verb, path: string): boolean =>
            perms[PEERS[peer] as string]?.[path.split('/')[0] as string]?.includes(verb) === true
          for (const op of ops) {
            const c = clients[op.peer] as ShareClient
            const outcome = await run1(c, op)
            let expected: string
            switch (op.kind) {
              case 'write':
                expected = can(op.peer, 'put', op.path) ? 'ok' : 'share-denied'
                if (expected === 'ok') model.set(op.path, op.content)
                break
              case 'read':
              case 'stat':
                expected = !can(op.peer, op.kind === 'read' ? 'get' : 'list', op.path)
                  ? 'share-denied'
                  : model.has(op.path)
                    ? 'ok'
                    : 'share-not-found'
                if (op.kind === 'read' && expected === 'ok') expect(outcome.content).toBe(model.get(op.path))
                break
              case 'delete':
                expected = !can(op.peer, 'delete', op.path) ? 'share-denied' : model.has(op.path) ? 'ok' : 'share-not-found'
                if (expected === 'ok') model.delete(op.path)
                break
              case 'rename':
                expected =
                  !can(op.peer, 'rename', op.from) || !can(op.peer, 'put', op.to)
                    ? 'share-denied'
                    : !model.has(op.from)
                      ? 'share-not-found'
                      : model.has(op.to)
                        ? 'share-already-exists'
                        : 'ok'
                if (expected === 'ok') {
                  model.set(op.to, model.get(op.from) as string)
                  model.delete(op.from)
                }
                break
            }
            if (outcome.code !== expected)
              throw new Error(`${JSON.stringify(op)}: expected ${expected}, got ${outcome.code}\n${policyText(perms)}`)
            expect(await diskState(root)).toEqual(model)
          }
        } finally {
          for (const c of clients) c.close()
          await share.close()
          await rm(root, { recursive: true, force: true })
        }
      }),
      { numRuns: 30 }
    )
  }, 120000)
})

async function run1(c: ShareClient, op: Op): Promise<{ code: string; content?: string }> {
  try {
    switch (op.kind) {
      case 'write':
        await c.writeFile(op.path, op.content)
        return { code: 'ok' }
      case 'read':
        return { code: 'ok', content: (await c.readFile(op.path)).toString() }
      case 'stat':
        await c.stat(op.path)
        return { code: 'ok' }
      case 'delete':
        await c.delete(op.path)
        return { code: 'ok' }
      case 'rename':
        await c.rename(op.from, op.to)
        return { code: 'ok' }
    }
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err) }
  }
}
