/**
 * The on-disk fixtures: `makeLanCa` writes a CA a hardened command accepts (the trust folder and
 * the root + CRL files verify the issued chains, a revocation shows after `writeCrl`), and
 * `spawnAndWait` resolves on the ready line and rejects with the output when a process exits first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadIdentity } from '@peerguard/identity'
import { createTrustStore, loadTrustStore, normalizeSerial, parseCrl, verifyPeerChain } from '@peerguard/pki'
import { type LanCa, makeLanCa, SpawnExitedError, spawnAndWait } from '@peerguard/test-utils'

let dir: string
let lan: LanCa

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-lan-ca-'))
  lan = await makeLanCa({ dir, name: 'Fixture CA', peers: [{ name: 'alice', groups: ['staff'] }, 'bob'] })
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('makeLanCa', () => {
  it('writes keys and chains that verify under the trust folder, and the credential flags', async () => {
    const trust = await loadTrustStore(lan.trustDir)
    const alice = lan.peer('alice')
    const verified = await verifyPeerChain(alice.chain, { trust })
    expect(verified).toMatchObject({ peerId: alice.peerId, name: 'alice', groups: ['staff'] })
    expect((await loadIdentity(alice.key)).peerId.toString()).toBe(alice.peerId)
    expect(await readFile(alice.cert, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(lan.creds('bob')).toEqual([
      '--identity',
      join(dir, 'bob.key'),
      '--cert',
      join(dir, 'bob.pem'),
      '--trust',
      lan.root,
      '--crl',
      lan.crl
    ])
    expect(lan.creds('bob', { trust: 'dir' }).slice(-2)).toEqual(['--trust', lan.trustDir])
    expect(() => lan.peer('mallory')).toThrow('no peer named mallory')
  })

  it('writeCrl publishes a revocation in both places', async () => {
    const carol = await lan.issue('carol', ['guests'])
    await lan.ca.revoke(carol.serial)
    await lan.writeCrl()
    for (const path of [lan.crl, join(lan.trustDir, 'ca.crl')]) {
      const crl = parseCrl(await readFile(path, 'utf8'))
      expect(crl.revoked.has(normalizeSerial(carol.serial))).toBe(true)
    }
    const trust = createTrustStore({ roots: [lan.ca.certificate], crls: [(await lan.ca.crl()).der] })
    await expect(verifyPeerChain(carol.chain, { trust })).rejects.toMatchObject({ code: 'cert-revoked' })
  })
})

describe('spawnAndWait', () => {
  it('resolves on the ready line with its match; stop() ends the process', async () => {
    const script = "console.log('listening on 127.0.0.1:4242'); setInterval(() => {}, 1000)"
    const s = await spawnAndWait(process.execPath, ['-e', script], { readyLine: / on (127\.0\.0\.1:\d+)/ })
    expect(s.match[1]).toBe('127.0.0.1:4242')
    expect(s.out()).toContain('listening')
    expect(await s.stop()).toBeNull() // ended by SIGTERM
  })

  it('rejects with the exit code and the output when the process exits first', async () => {
    const err = await spawnAndWait(process.execPath, ['-e', "console.error('no policy'); process.exit(2)"], {
      readyLine: /listening/
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SpawnExitedError)
    expect(err).toMatchObject({ code: 2, stderr: 'no policy\n' })
  })

  it('matches stderr when asked', async () => {
    const s = await spawnAndWait(process.execPath, ['-e', "console.error('ready'); setInterval(() => {}, 1000)"], {
      readyLine: /ready/,
      stream: 'stderr'
    })
    expect(s.err()).toBe('ready\n')
    await s.stop('SIGKILL')
  })
})
