import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import {
  createTrustStore,
  fileCaStore,
  initCaDirectory,
  initIntermediateDirectory,
  openCaDirectory,
  readCaDirectory,
  verifyPeerChain
} from '@peerguard/pki'
import { CaBadPassphraseError, CaExistsError, CaNotFoundError } from '@peerguard/pki/errors'

const run = promisify(execFile)
/** fileCaStore with its @internal test hook (not in the published types). */
const hookedCaStore = (path: string, o: Parameters<typeof fileCaStore>[1] & { onStaleLock?: () => Promise<void> }) =>
  fileCaStore(path, o)
const FAST = { N: 2 ** 10, r: 8, p: 1 }
let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pki-dir-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true, maxRetries: 5 })
})

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const f of (await readdir(dir)).sort()) out[f] = (await readFile(join(dir, f))).toString('base64')
  return out
}

describe('CA directory', () => {
  it('init writes ca.pem (0644), an encrypted ca.key (0600) and the database', async () => {
    const dir = join(root, 'ca1')
    const ca = await initCaDirectory(dir, { name: 'Home LAN CA', passphrase: 'correct horse', scrypt: FAST })
    expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'ca.pem'))).mode & 0o777).toBe(0o644)
    expect((await readFile(join(dir, 'ca.pem'), 'utf8')).startsWith('-----BEGIN CERTIFICATE-----')).toBe(true)
    const key = await readFile(join(dir, 'ca.key'))
    expect(key.includes(Buffer.from(ca.keyEntry.secret))).toBe(false)
    const again = await openCaDirectory(dir, { passphrase: 'correct horse' })
    expect(Buffer.from(again.certificate)).toEqual(Buffer.from(ca.certificate))
    const cert = await again.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
    const { database } = await readCaDirectory(dir)
    expect(database.certificates.map((c) => c.serial)).toEqual([cert.serial])
  })

  it('refuses a second init, a wrong passphrase and a missing directory, changing nothing', async () => {
    const dir = join(root, 'ca2')
    await initCaDirectory(dir, { name: 'CA two', passphrase: 'pw', scrypt: FAST })
    const before = await snapshot(dir)
    await expect(initCaDirectory(dir, { name: 'CA two', passphrase: 'pw', scrypt: FAST })).rejects.toThrow(CaExistsError)
    await expect(openCaDirectory(dir, { passphrase: 'wrong' })).rejects.toThrow(CaBadPassphraseError)
    await expect(openCaDirectory(dir)).rejects.toMatchObject({ code: 'ca-bad-passphrase' })
    await expect(openCaDirectory(join(root, 'nope'), { passphrase: 'pw' })).rejects.toThrow(CaNotFoundError)
    const ca = await openCaDirectory(dir, { passphrase: 'pw' })
    await expect(ca.revoke('abcdef')).rejects.toMatchObject({ code: 'ca-unknown-serial' })
    await expect(ca.issuePeer({ publicKey: new Uint8Array(31), name: 'x' })).rejects.toMatchObject({ code: 'invalid-argument' })
    // a beforeCommit hook that fails (an output file that cannot be written) records nothing
    const failing = () => {
      throw new Error('disk full')
    }
    await expect(ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'x', beforeCommit: failing })).rejects.toThrow(
      'disk full'
    )
    await expect(ca.crl({ beforeCommit: failing })).rejects.toThrow('disk full')
    expect(await snapshot(dir)).toEqual(before)
  })

  it('a corrupt database is ca-database-corrupt', async () => {
    const dir = join(root, 'ca3')
    await initCaDirectory(dir, { name: 'CA three', scrypt: FAST })
    await writeFile(join(dir, 'ca.db.json'), '{"version":1,"crlNumber":0,"certificates":[{"serial":"zz"}]}')
    const ca = await openCaDirectory(dir).catch((e: unknown) => e)
    expect(ca).toMatchObject({ code: 'ca-database-corrupt' })
  })

  it('concurrent issuers in one process never reuse a serial and lose no record', async () => {
    const dir = join(root, 'ca4')
    await initCaDirectory(dir, { name: 'CA four', scrypt: FAST })
    const cas = await Promise.all(Array.from({ length: 4 }, () => openCaDirectory(dir)))
    const issued = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (cas[i % 4] as (typeof cas)[number]).issuePeer({ publicKey: generateKeyPair().publicKey, name: `peer-${i}` })
      )
    )
    const serials = new Set(issued.map((c) => c.serial))
    expect(serials.size).toBe(40)
    const { database } = await readCaDirectory(dir)
    expect(new Set(database.certificates.map((c) => c.serial))).toEqual(serials)
    expect(await readdir(dir)).not.toContain('ca.db.json.lock')
  })

  it('concurrent issuers in separate processes never reuse a serial (needs the built package)', async () => {
    const dir = join(root, 'ca5')
    await initCaDirectory(dir, { name: 'CA five', scrypt: FAST })
    const script = `
      import { generateKeyPair } from '@peerguard/identity'
      import { openCaDirectory } from '@peerguard/pki'
      const ca = await openCaDirectory(process.argv[1])
      const out = []
      for (let i = 0; i < 10; i++) out.push((await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'p' + i })).serial)
      console.log(JSON.stringify(out))`
    const procs = Array.from({ length: 6 }, () =>
      run(process.execPath, ['--input-type=module', '-e', script, dir], { cwd: process.cwd() })
    )
    const results = await Promise.all(procs)
    const serials = results.flatMap((r) => JSON.parse(r.stdout) as string[])
    expect(serials).toHaveLength(60)
    expect(new Set(serials).size).toBe(60)
    const { database } = await readCaDirectory(dir)
    expect(database.certificates).toHaveLength(60)
    expect(new Set(database.certificates.map((c) => c.serial)).size).toBe(60)
  }, 60_000)

  it('short-lived issuers in separate processes lose no record (a released lock is not broken as stale)', async () => {
    // Each process takes the lock once, releases it and exits at once: another may have read the
    // lock while it was held, find its pid gone a moment later and (before the fix) remove the
    // lock a third process had just taken — both then wrote the database and one record was lost.
    const dir = join(root, 'ca5b')
    await initCaDirectory(dir, { name: 'CA five b', scrypt: FAST })
    const script = `
      import { generateKeyPair } from '@peerguard/identity'
      import { openCaDirectory } from '@peerguard/pki'
      const ca = await openCaDirectory(process.argv[1])
      console.log((await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'p' })).serial)`
    const serials: string[] = []
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          run(process.execPath, ['--input-type=module', '-e', script, dir], { cwd: process.cwd() })
        )
      )
      serials.push(...results.map((r) => r.stdout.trim()))
    }
    expect(new Set(serials).size).toBe(36)
    const { database } = await readCaDirectory(dir)
    expect(new Set(database.certificates.map((c) => c.serial))).toEqual(new Set(serials))
    expect(await readdir(dir)).not.toContain('ca.db.json.lock')
  }, 180_000)

  it('a lock judged stale but replaced by a live owner before it is broken is left alone', async () => {
    const dir = join(root, 'ca6b')
    await initCaDirectory(dir, { name: 'CA six b', scrypt: FAST })
    const lock = join(dir, 'ca.db.json.lock')
    const replace = async (text: string): Promise<void> => {
      await writeFile(`${lock}.new`, text)
      await rename(`${lock}.new`, lock)
    }
    // a dead owner's lock; between the judgement and the break, it is released and a live process
    // (our parent) takes the lock: the breaker must see it is not the file it judged
    await writeFile(lock, '999999999\n')
    let interleaved = 0
    const store = hookedCaStore(join(dir, 'ca.db.json'), {
      lockTimeoutMs: 300,
      onStaleLock: async () => {
        if (interleaved++ === 0) await replace(`${process.ppid}\n`)
      }
    })
    await expect(store.transaction(() => 1)).rejects.toMatchObject({ code: 'ca-locked' })
    expect(interleaved).toBe(1)
    expect(await readFile(lock, 'utf8')).toBe(`${process.ppid}\n`)
    // the same with an empty lock left by an owner that died before writing its pid (stale by age)
    await writeFile(lock, '')
    await utimes(lock, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000))
    interleaved = 0
    const byAge = hookedCaStore(join(dir, 'ca.db.json'), {
      lockTimeoutMs: 300,
      onStaleLock: async () => {
        if (interleaved++ === 0) await replace('')
      }
    })
    await expect(byAge.transaction(() => 1)).rejects.toMatchObject({ code: 'ca-locked' })
    expect(interleaved).toBe(1)
    await rm(lock)
    // nothing interleaved: the stale lock is broken and the transaction runs
    await writeFile(lock, '999999999\n')
    await expect(fileCaStore(join(dir, 'ca.db.json')).transaction(() => 2)).resolves.toBe(2)
    expect(await readdir(dir)).not.toContain('ca.db.json.lock')
    expect(await readdir(dir)).not.toContain('ca.db.json.lock.break')
  })

  it("a live owner's lock is never broken, however old; a breaker that died leaves nothing stuck", async () => {
    const dir = join(root, 'ca6c')
    await initCaDirectory(dir, { name: 'CA six c', scrypt: FAST })
    const lock = join(dir, 'ca.db.json.lock')
    await writeFile(lock, `${process.ppid}\n`)
    await utimes(lock, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    const store = fileCaStore(join(dir, 'ca.db.json'), { lockTimeoutMs: 200, staleLockMs: 1000 })
    await expect(store.transaction(() => 1)).rejects.toMatchObject({
      code: 'ca-locked',
      details: { hint: expect.stringContaining('remove') }
    })
    expect(await readFile(lock, 'utf8')).toBe(`${process.ppid}\n`)
    // a dead owner's lock plus a break file left by a breaker that died mid-way, long ago
    await writeFile(lock, '999999999\n')
    await writeFile(`${lock}.break`, '')
    await utimes(`${lock}.break`, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    await expect(fileCaStore(join(dir, 'ca.db.json'), { staleLockMs: 1000 }).transaction(() => 3)).resolves.toBe(3)
    expect(await readdir(dir)).not.toContain('ca.db.json.lock')
    expect(await readdir(dir)).not.toContain('ca.db.json.lock.break')
  })

  it('a lock it cannot read (a folder in its place) is waited for, then ca-locked — never spun on', async () => {
    const dir = join(root, 'ca6d')
    await initCaDirectory(dir, { name: 'CA six d', scrypt: FAST })
    const lock = join(dir, 'ca.db.json.lock')
    await mkdir(lock)
    const started = Date.now()
    await expect(fileCaStore(join(dir, 'ca.db.json'), { lockTimeoutMs: 300 }).transaction(() => 1)).rejects.toMatchObject({
      code: 'ca-locked'
    })
    expect(Date.now() - started).toBeLessThan(20_000)
    await rm(lock, { recursive: true })
  })

  it('a stale lock from a dead process is removed; a live one times out with ca-locked', async () => {
    const dir = join(root, 'ca6')
    await initCaDirectory(dir, { name: 'CA six', scrypt: FAST })
    await writeFile(join(dir, 'ca.db.json.lock'), '999999999\n')
    const ca = await openCaDirectory(dir)
    await expect(ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'after-stale' })).resolves.toBeDefined()
    await writeFile(join(dir, 'ca.db.json.lock'), `${process.ppid}\n`)
    const store = fileCaStore(join(dir, 'ca.db.json'), { lockTimeoutMs: 200 })
    await expect(store.transaction(() => 1)).rejects.toMatchObject({ code: 'ca-locked' })
    await rm(join(dir, 'ca.db.json.lock'))
  })

  it('an intermediate directory issues peers that verify against the root', async () => {
    const rootDir = join(root, 'root7')
    const rootCa = await initCaDirectory(rootDir, { name: 'Root seven', passphrase: 'r', scrypt: FAST })
    const inter = await initIntermediateDirectory(join(root, 'inter7'), rootCa, {
      name: 'Issuing seven',
      passphrase: 'i',
      scrypt: FAST
    })
    const reopened = await openCaDirectory(join(root, 'inter7'), { passphrase: 'i' })
    expect(reopened.chain).toHaveLength(2)
    const cert = await reopened.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'carol' })
    const crls = [(await rootCa.crl()).der, (await reopened.crl()).der]
    const peer = await verifyPeerChain(cert.chain, { trust: createTrustStore({ roots: [rootCa.certificatePem], crls }) })
    expect(peer.name).toBe('carol')
    expect(inter.name).toBe('Issuing seven')
    const { database } = await readCaDirectory(rootDir)
    expect(database.certificates.map((c) => c.kind)).toEqual(['intermediate'])
  })
})
