/**
 * Attacker: a member (or anyone who kept an old bundle — bundles are served to every member) that
 * replays an older CA-signed bundle, e.g. one whose policy granted it more or whose CRL did not
 * yet revoke it. Invariant (SECURITY.md, workspace SPEC §3): a member never goes back to a bundle
 * older than the newest it applied — not while running, not after a restart, and not after its
 * stored bundle file was lost or damaged (the version floor is kept beside it: fail closed).
 * Real members on loopback (UDP announcements, fetch over peerguard channels), real files.
 */
import { spawn } from 'node:child_process'
import { rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { BUNDLE_FILE, signBundle, type Workspace } from '@peerguard/workspace'
import { ensureCliBuilt, ROOT } from '../../packages/cli/test/built-cli.js'
import { mesh, nextRefusal, startMember } from '../../packages/workspace/test/helpers.js'

const pki: TestPki = await makeTestPki({ peers: ['alice', 'mallory'] })
const crl = (await pki.ca.crl()).der
const bundle = (version: number): Uint8Array => signBundle({ version, issuedAtMs: version, crls: [crl] }, pki.ca)
const started: Workspace[] = []
const start = async (name: 'alice' | 'mallory', bundleDir?: string): Promise<Workspace> => {
  const ws = await startMember(pki, pki.peers[name] as TestPeer, bundleDir === undefined ? {} : { bundleDir })
  started.push(ws)
  return ws
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.close()))
})

const damage = {
  none: async (_file: string) => {},
  deleted: (file: string) => rm(file),
  garbage: (file: string) => writeFile(file, Buffer.from('PGWB not a bundle')),
  truncated: (file: string) => truncate(file, 40)
}

describe('bundle rollback across a restart', () => {
  it.each(Object.keys(damage) as Array<keyof typeof damage>)(
    'stored bundle %s: an older bundle served by a member is refused as stale; the newest is taken again',
    async (kind) => {
      const first = await start('alice')
      await first.publish(bundle(5))
      const dir = first.bundleDir as string
      await first.close()
      await damage[kind](join(dir, BUNDLE_FILE))

      const alice = await start('alice', dir)
      const mallory = await start('mallory')
      await mallory.publish(bundle(3)) // the old bundle mallory keeps and serves
      // held 5: alice does not even fetch version 3; lost: she fetches it and must refuse it
      const stale = kind === 'none' ? Promise.resolve() : nextRefusal(alice, 'workspace-bundle-stale', 30_000)
      mesh([alice, mallory])
      await stale
      await expect(alice.publish(bundle(3))).rejects.toMatchObject({ code: 'workspace-bundle-stale' })
      expect(alice.bundleVersion).toBe(kind === 'none' ? 5 : 0)
      // the newest version itself is still taken (re-fetched from an honest member)
      if (kind !== 'none') {
        await alice.publish(bundle(5))
        expect(alice.bundleVersion).toBe(5)
      }
      await expect(alice.publish(bundle(4))).rejects.toMatchObject({ code: 'workspace-bundle-stale' })
    },
    60_000
  )
})

describe('the version floor itself', () => {
  it.each(['', '05\n', '-1\n', '1e3\n', '99999999999999999\n', 'x\n'])(
    'a damaged floor (%j) fails the start (workspace-bundle-malformed): it is never read as no floor',
    async (text) => {
      const first = await start('alice')
      await first.publish(bundle(2))
      const dir = first.bundleDir as string
      await first.close()
      await writeFile(join(dir, 'bundle.floor'), text)
      await expect(start('alice', dir)).rejects.toMatchObject({ code: 'workspace-bundle-malformed' })
    },
    30_000
  )
})

describe('a crash between applying a bundle and storing it', () => {
  beforeAll(() => {
    ensureCliBuilt() // the member process runs the built package
  }, 600_000)

  it('the restarted member does not re-apply the older stored bundle over what it applied, and takes the newer again', async () => {
    const first = await start('alice')
    await first.publish(bundle(4))
    const dir = first.bundleDir as string
    await first.close()
    // a member process applies version 5 (its node files now hold 5) and dies before storing it
    const p = pki.peers.alice as TestPeer
    const script = `
      const { Workspace } = await import(${JSON.stringify(join(ROOT, 'packages', 'workspace', 'dist', 'index.js'))})
      const { createTrustStore } = await import('@peerguard/pki')
      const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
      const { keyPairFromSeed } = await import('@peerguard/identity')
      const ws = await Workspace.start({
        identity: keyPairFromSeed(hex(${JSON.stringify(Buffer.from(p.identity.secretKey.subarray(0, 32)).toString('hex'))})),
        chain: ${JSON.stringify(p.chain.map((c) => Buffer.from(c).toString('hex')))}.map(hex),
        trust: createTrustStore({ roots: [hex(${JSON.stringify(Buffer.from(pki.ca.certificate).toString('hex'))})], crls: [hex(${JSON.stringify(Buffer.from(crl).toString('hex'))})] }),
        bundleDir: ${JSON.stringify(dir)},
        apply: async (b) => { if (b.version === 5) { process.stdout.write('applied 5'); process.kill(process.pid, 'SIGKILL') } }
      })
      await ws.publish(hex(${JSON.stringify(Buffer.from(bundle(5)).toString('hex'))}))`
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit']
      })
      let text = ''
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString()
      })
      child.on('error', reject)
      child.on('close', () => resolve(text))
    })
    expect(out).toBe('applied 5')

    const applied: number[] = []
    const alice = await startMember(pki, p, {
      bundleDir: dir,
      apply: async (b) => {
        applied.push(b.version)
      }
    })
    started.push(alice)
    expect(applied).toEqual([]) // version 4 would overwrite what 5 put in force
    await expect(alice.publish(bundle(4))).rejects.toMatchObject({ code: 'workspace-bundle-stale' })
    await alice.publish(bundle(5))
    expect([alice.bundleVersion, applied]).toEqual([5, [5]])
  }, 120_000)
})
