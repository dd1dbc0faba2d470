/**
 * `peerguard workspace publish --bundle-dir` (or `ca crl --publish`) while the node is still
 * applying the previous bundle it took from `<bundle-dir>/publish.pgwb` (attacker's review,
 * round 3: concurrency between publish and apply). The node took the file by reading it and, once
 * the bundle was applied, removing it by name — so a newer bundle written meanwhile (a revocation
 * the admin just published) was deleted unread: it never spread, and nothing said so. Invariant:
 * every bundle the admin writes there is taken, with a version above the one being applied — the
 * node claims the file (rename) before reading it, so a bundle written later is a new file, taken
 * next; `workspace publish` counts the claimed one when it picks the next version.
 */
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { parseBundle, type Workspace } from '@peerguard/workspace'
import { bufferedIO } from '../src/io.js'
import { NodeWorkspace, PUBLISH_FILE } from '../src/node/workspace-node.js'
import { runCli } from './run-cli.js'

jest.setTimeout(60_000)

let dir: string
let bundleDir: string

async function publish(): Promise<void> {
  const r = await runCli(['workspace', 'publish', '--ca', 'ca', '--passphrase-file', 'ca.pass', '--bundle-dir', bundleDir], {
    cwd: dir
  })
  if (r.code !== 0) throw new Error(`workspace publish: exit ${r.code}\n${r.stderr}`)
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-publish-race-'))
  bundleDir = join(dir, 'bundles')
  await mkdir(bundleDir, { mode: 0o700 })
  await writeFile(join(dir, 'ca.pass'), 'correct horse battery staple\n')
  const r = await runCli(['ca', 'init', '--dir', 'ca', '--name', 'Race CA', '--passphrase-file', 'ca.pass'], { cwd: dir })
  if (r.code !== 0) throw new Error(r.stderr)
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('the node takes every bundle published into its bundle dir', () => {
  it('a bundle published while the previous one is applied is taken next, with the next version', async () => {
    const taken: number[] = []
    // the workspace: while version 1 is applied, the admin publishes again
    const workspace = {
      async publish(bytes: Uint8Array) {
        const { version } = parseBundle(bytes)
        taken.push(version)
        if (taken.length === 1) await publish()
        return { version }
      },
      async close() {}
    } as unknown as Workspace
    // NodeWorkspace's constructor is internal (startNodeWorkspace builds one): a fake workspace, no watch
    type Make = new (w: Workspace, watch: { ready: Promise<void>; close(): void }, dir: string) => NodeWorkspace
    const node = new (NodeWorkspace as unknown as Make)(workspace, { ready: Promise.resolve(), close() {} }, bundleDir)
    const io = bufferedIO()
    await publish()
    await node.takePublished(io)
    // the file watch fires for the second bundle: the node takes it then
    await node.takePublished(io)
    expect(taken).toEqual([1, 2])
    expect(await readdir(bundleDir)).toEqual([]) // nothing left behind (the fake applies, stores nothing)
    expect(io.stderr.join('\n')).toMatch(/published bundle version 2/)
  })
  it('a bundle claimed by a node that stopped before applying it is taken at the next start', async () => {
    await publish() // version 1 again: nothing was applied in this folder
    const claimed = join(bundleDir, `${PUBLISH_FILE}.0123456789ab.taking`)
    await rename(join(bundleDir, PUBLISH_FILE), claimed) // the node claimed it, then died
    const taken: number[] = []
    const workspace = {
      async publish(bytes: Uint8Array) {
        taken.push(parseBundle(bytes).version)
        return { version: parseBundle(bytes).version }
      },
      async close() {}
    } as unknown as Workspace
    type Make = new (w: Workspace, watch: { ready: Promise<void>; close(): void }, dir: string) => NodeWorkspace
    const node = new (NodeWorkspace as unknown as Make)(workspace, { ready: Promise.resolve(), close() {} }, bundleDir)
    await node.takeLeftovers(bufferedIO())
    expect(taken).toEqual([1])
    expect(await readdir(bundleDir)).toEqual([])
  })
})
