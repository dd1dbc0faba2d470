import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

/** Black-box: the built binary in its own process. */
function peerguardProcess(args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function peerguardAsync(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function snapshot(sub: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const f of readdirSync(join(dir, sub)).sort()) out[f] = (await readFile(join(dir, sub, f))).toString('base64')
  return out
}

let dir: string
beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-ca-'))
  await writeFile(join(dir, 'ca.pass'), 'ca passphrase\n')
  await writeFile(join(dir, 'wrong.pass'), 'not it\n')
  await writeFile(join(dir, 'alice.pass'), 'alice passphrase\n')
  expect((await peerguard(['ca', 'init', '--dir', 'lan', '--name', 'Home LAN CA', '--passphrase-file', 'ca.pass'])).code).toBe(0)
  expect((await peerguard(['id', 'new', '--out', 'alice.key', '--passphrase-file', 'alice.pass'])).code).toBe(0)
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard ca init', () => {
  it('writes the certificate, the encrypted key and the database; --json describes them', async () => {
    const r = await peerguard([
      'ca',
      'init',
      '--dir',
      'p256',
      '--name',
      'P-256 CA',
      '--key-type',
      'p256',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'P-256 CA', keyType: 'p256', encrypted: true, intermediate: false })
    expect((await stat(join(dir, 'p256', 'ca.key'))).mode & 0o777).toBe(0o600)
    expect(await readFile(join(dir, 'p256', 'ca.pem'), 'utf8')).toContain('BEGIN CERTIFICATE')
  })

  it('refuses to overwrite a CA (exit 3, ca-exists) and warns about an unencrypted key', async () => {
    const before = await snapshot('lan')
    const again = await peerguard(['ca', 'init', '--dir', 'lan', '--name', 'Again', '--passphrase-file', 'ca.pass', '--json'])
    expect(again.code).toBe(3)
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'ca-exists' } })
    expect(await snapshot('lan')).toEqual(before)
    const plain = await peerguard(['ca', 'init', '--dir', 'plain', '--name', 'Plain CA'])
    expect(plain.code).toBe(0)
    expect(plain.stderr).toContain('warning: plain/ca.key is not encrypted')
    const bad = await peerguard(['ca', 'init', '--dir', 'x', '--name', 'X', '--key-type', 'rsa'])
    expect(bad.code).toBe(2)
  })

  it('makes an intermediate CA under a parent', async () => {
    const r = await peerguard([
      'ca',
      'init',
      '--dir',
      'issuing',
      '--name',
      'Issuing CA',
      '--parent',
      'lan',
      '--parent-passphrase-file',
      'ca.pass',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ intermediate: true })
    const issued = await peerguard([
      'ca',
      'issue',
      '--ca',
      'issuing',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'alice',
      '--out',
      'alice-inter.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(issued.code).toBe(0)
    // revocation is required for every CA of the chain: the root's CRL alone is not enough
    expect((await peerguard(['ca', 'crl', '--ca', 'lan', '--passphrase-file', 'ca.pass'])).code).toBe(0)
    const onlyRoot = await peerguard([
      'cert',
      'verify',
      'alice-inter.pem',
      '--trust',
      'lan/ca.pem',
      '--crl',
      'lan/crl.pem',
      '--json'
    ])
    expect(onlyRoot.code).toBe(1)
    expect(JSON.parse(onlyRoot.stdout)).toMatchObject({ error: { code: 'crl-missing', details: { issuer: 'CN=Issuing CA' } } })
    expect((await peerguard(['ca', 'crl', '--ca', 'issuing', '--passphrase-file', 'ca.pass'])).code).toBe(0)
    const v = await peerguard([
      'cert',
      'verify',
      'alice-inter.pem',
      '--trust',
      'lan/ca.pem',
      '--crl',
      'lan/crl.pem',
      '--crl',
      'issuing/crl.pem'
    ])
    expect(v.code).toBe(0)
    const list = JSON.parse((await peerguard(['ca', 'list', '--ca', 'lan', '--json'])).stdout) as {
      certificates: Array<{ kind: string }>
    }
    expect(list.certificates.some((c) => c.kind === 'intermediate')).toBe(true)
  })
})

describe('peerguard ca issue / renew / revoke / crl / list', () => {
  it('issues from a key file, a peer ID and groups; the output verifies', async () => {
    const r = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'alice',
      '--group',
      'family',
      '--group',
      'admins',
      '--days',
      '7',
      '--out',
      'alice.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { peerId: string; serial: string; groups: string[]; notAfter: string }
    expect(out.groups).toEqual(['family', 'admins'])
    expect(Date.parse(out.notAfter) - Date.now()).toBeLessThan(7 * 86_400_000 + 60_000)
    const byId = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--peer-id',
      out.peerId,
      '--name',
      'alice2',
      '--out',
      'alice2.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(byId.code).toBe(0)
    expect(JSON.parse(byId.stdout)).toMatchObject({ peerId: out.peerId })
  })

  it('a failing issue changes nothing: wrong passphrase, existing --out, no key source', async () => {
    const before = await snapshot('lan')
    const wrong = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'a',
      '--out',
      'w.pem',
      '--passphrase-file',
      'wrong.pass',
      '--json'
    ])
    expect(wrong.code).toBe(3)
    expect(JSON.parse(wrong.stdout)).toMatchObject({ error: { code: 'ca-bad-passphrase' } })
    expect(wrong.stderr).toContain('hint: check the file given with --passphrase-file')
    expect(existsSync(join(dir, 'w.pem'))).toBe(false)
    const exists = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'a',
      '--out',
      'alice.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(exists.code).toBe(3)
    expect(exists.stderr).toContain('already exists')
    const none = await peerguard(['ca', 'issue', '--ca', 'lan', '--name', 'a', '--out', 'n.pem', '--passphrase-file', 'ca.pass'])
    expect(none.code).toBe(2)
    const badName = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'a\tb',
      '--out',
      'n.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(badName.code).toBe(2)
    const noDir = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--key',
      'alice.key',
      '--key-passphrase-file',
      'alice.pass',
      '--name',
      'a',
      '--out',
      'no/such/dir/a.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(noDir.code).toBe(3)
    const crlNoDir = await peerguard(['ca', 'crl', '--ca', 'lan', '--out', 'no/such/dir/crl.pem', '--passphrase-file', 'ca.pass'])
    expect(crlNoDir.code).toBe(3)
    const notCa = await peerguard(['ca', 'issue', '--ca', 'nowhere', '--peer-id', 'x', '--name', 'a', '--out', 'n.pem'])
    expect(notCa.code).toBe(3)
    expect(await snapshot('lan')).toEqual(before)
  })

  it('renews, revokes by file and serial, signs a CRL and lists the state', async () => {
    const renew = await peerguard([
      'ca',
      'renew',
      '--ca',
      'lan',
      'alice.pem',
      '--out',
      'alice-renewed.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(renew.code).toBe(0)
    const renewed = JSON.parse(renew.stdout) as { serial: string; name: string; groups: string[] }
    expect(renewed).toMatchObject({ name: 'alice', groups: ['family', 'admins'] })
    const rev = await peerguard([
      'ca',
      'revoke',
      '--ca',
      'lan',
      'alice.pem',
      '--reason',
      'superseded',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(rev.code).toBe(0)
    expect(JSON.parse(rev.stdout)).toMatchObject({ status: 'revoked', reason: 'superseded' })
    const bySerial = await peerguard([
      'ca',
      'revoke',
      '--ca',
      'lan',
      '--serial',
      renewed.serial.toUpperCase(),
      '--passphrase-file',
      'ca.pass'
    ])
    expect(bySerial.code).toBe(0)
    const unknown = await peerguard([
      'ca',
      'revoke',
      '--ca',
      'lan',
      '--serial',
      '0badc0de',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(unknown.code).toBe(3)
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'ca-unknown-serial' } })
    const both = await peerguard(['ca', 'revoke', '--ca', 'lan', 'alice.pem', '--serial', '01', '--passphrase-file', 'ca.pass'])
    expect(both.code).toBe(2)
    const crl = await peerguard(['ca', 'crl', '--ca', 'lan', '--out', 'crl.pem', '--passphrase-file', 'ca.pass', '--json'])
    expect(crl.code).toBe(0)
    expect(JSON.parse(crl.stdout)).toMatchObject({ number: 2 }) // #1 was signed in the intermediate test
    expect((JSON.parse(crl.stdout) as { revoked: string[] }).revoked).toContain(renewed.serial)
    const list = await peerguard(['ca', 'list', '--ca', 'lan'])
    expect(list.code).toBe(0)
    expect(list.stdout).toContain('last CRL #2')
    expect(list.stdout).toMatch(/revoked\s+peer\s+alice/)
    const v = await peerguard(['cert', 'verify', 'alice-renewed.pem', '--trust', 'lan/ca.pem', '--crl', 'crl.pem'])
    expect(v.code).toBe(1)
    expect(v.stdout).toContain('cert-revoked')
    // a revoked certificate is never renewed (here revoked as superseded; any reason counts)
    const issuedBefore = (await snapshot('lan'))['ca.db.json']
    const again = await peerguard([
      'ca',
      'renew',
      '--ca',
      'lan',
      'alice.pem',
      '--out',
      'alice-again.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(again.code).toBe(3)
    expect(JSON.parse(again.stdout)).toMatchObject({
      error: { code: 'ca-certificate-revoked', details: { reason: 'superseded' } }
    })
    expect(existsSync(join(dir, 'alice-again.pem'))).toBe(false)
    expect((await snapshot('lan'))['ca.db.json']).toEqual(issuedBefore)
  })

  it('parallel `ca issue` processes never hand out one serial twice', async () => {
    expect((await peerguard(['ca', 'init', '--dir', 'busy', '--name', 'Busy CA', '--passphrase-file', 'ca.pass'])).code).toBe(0)
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        peerguardAsync([
          'ca',
          'issue',
          '--ca',
          'busy',
          '--key',
          'alice.key',
          '--key-passphrase-file',
          'alice.pass',
          '--name',
          `p${i}`,
          '--out',
          `busy-${i}.pem`,
          '--passphrase-file',
          'ca.pass',
          '--json'
        ])
      )
    )
    for (const r of runs) expect(r.code).toBe(0)
    const serials = runs.map((r) => (JSON.parse(r.stdout) as { serial: string }).serial)
    expect(new Set(serials).size).toBe(8)
    const list = JSON.parse((await peerguard(['ca', 'list', '--ca', 'busy', '--json'])).stdout) as {
      certificates: Array<{ serial: string }>
    }
    expect(new Set(list.certificates.map((c) => c.serial))).toEqual(new Set(serials))
  }, 180_000)

  it('every command has help with an example', () => {
    for (const sub of ['init', 'issue', 'renew', 'revoke', 'crl', 'list']) {
      const r = peerguardProcess(['ca', sub, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('Example:')
    }
  })
})
