/**
 * Attacker: several joiners holding the same stolen or shared token, racing against each other and
 * across CA processes that share the CA directory (a `peerguard node` with `enrollment:` and a
 * `ca serve-enrollment` beside it), and across CA restarts. Invariant (SECURITY.md, enrollment;
 * workspace SPEC §6.2): a token is claimed at most once, ever — one winner among any number of
 * concurrent claims in any number of processes, the marker names the winner, and a restarted CA
 * (a fresh TokenStore in a fresh process) refuses it as used.
 * Real processes (the built @peerguard/workspace) and real files.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { TokenStore } from '@peerguard/workspace'
import fc from 'fast-check'
import { ensureCliBuilt, ROOT } from '../../packages/cli/test/built-cli.js'

const DIST = join(ROOT, 'packages', 'workspace', 'dist', 'index.js')

/** One CA process: claims `tokenId` for `peerId` (or only looks it up) and prints the outcome. */
function caProcess(caDir: string, tokenId: string, peerId: string, op: 'claim' | 'lookup'): Promise<string> {
  const script = `
    const { TokenStore } = await import(${JSON.stringify(DIST)})
    const store = new TokenStore(${JSON.stringify(caDir)})
    const id = Buffer.from(${JSON.stringify(tokenId)}, 'hex')
    try { await store.${op}(id${op === 'claim' ? `, ${JSON.stringify(peerId)}` : ''}); process.stdout.write('ok') }
    catch (err) { process.stdout.write(err.code ?? 'internal') }`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.on('error', reject)
    child.on('close', () => resolve(out))
  })
}

async function newToken(): Promise<{ caDir: string; tokenId: string }> {
  const caDir = await mkdtemp(join(tmpdir(), 'pg-adv-claim-'))
  const made = await new TokenStore(caDir).create({ name: 'laptop', ttlMs: 600_000, rootFingerprint: new Uint8Array(32) })
  return { caDir, tokenId: made.record.tokenId }
}

beforeAll(() => {
  ensureCliBuilt()
}, 600_000)

describe('one token, many claimants', () => {
  it('8 CA processes claiming at once: exactly one wins, the marker names it; a restarted CA refuses the token', async () => {
    const { caDir, tokenId } = await newToken()
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => caProcess(caDir, tokenId, `peer-${i}`, 'claim')))
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1)
    expect(outcomes.filter((o) => o !== 'ok')).toEqual(Array(7).fill('enroll-token-used'))
    const marker = JSON.parse(await readFile(join(caDir, 'enroll-tokens', `${tokenId}.used`), 'utf8')) as { peerId: string }
    expect(marker.peerId).toBe(`peer-${outcomes.indexOf('ok')}`)
    expect(await caProcess(caDir, tokenId, '', 'lookup')).toBe('enroll-token-used')
    expect(await caProcess(caDir, tokenId, 'late', 'claim')).toBe('enroll-token-used')
  }, 120_000)

  it('model: any interleaving of claims over several stores (restarts included) has at most one winner', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ store: fc.nat(3), restart: fc.boolean(), together: fc.integer({ min: 1, max: 4 }) }), {
          minLength: 1,
          maxLength: 8
        }),
        async (steps) => {
          const { caDir, tokenId } = await newToken()
          const stores = Array.from({ length: 4 }, () => new TokenStore(caDir))
          const id = Buffer.from(tokenId, 'hex')
          let wins = 0
          for (const [n, step] of steps.entries()) {
            if (step.restart) stores[step.store] = new TokenStore(caDir)
            const store = stores[step.store] as TokenStore
            const got = await Promise.all(
              Array.from({ length: step.together }, (_, i) =>
                store.claim(id, `p${n}-${i}`).then(
                  () => 'ok',
                  (err: { code?: string }) => err.code
                )
              )
            )
            wins += got.filter((g) => g === 'ok').length
            expect(got.filter((g) => g !== 'ok').every((g) => g === 'enroll-token-used')).toBe(true)
          }
          expect(wins).toBe(1)
        }
      ),
      { numRuns: 25 }
    )
  }, 120_000)
})
