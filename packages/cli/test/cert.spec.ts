import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

/** Black-box: the built binary in its own process. */
function peerguardProcess(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

let dir: string
let peerId: string
beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-cert-'))
  await writeFile(join(dir, 'ca.pass'), 'ca passphrase\n')
  await writeFile(join(dir, 'p12.pass'), 'bundle\n')
  expect((await peerguard(['ca', 'init', '--dir', 'lan', '--name', 'Home LAN CA', '--passphrase-file', 'ca.pass'])).code).toBe(0)
  expect((await peerguard(['ca', 'init', '--dir', 'other', '--name', 'Other CA', '--passphrase-file', 'ca.pass'])).code).toBe(0)
  // revocation is required by default: each CA keeps its newest CRL as crl.pem in its directory
  expect((await peerguard(['ca', 'crl', '--ca', 'lan', '--days', '60', '--passphrase-file', 'ca.pass'])).code).toBe(0)
  expect((await peerguard(['ca', 'crl', '--ca', 'other', '--passphrase-file', 'ca.pass'])).code).toBe(0)
  peerId = (await peerguard(['id', 'new', '--out', 'bob.key'])).stdout.trim()
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard cert request → ca issue --csr → cert verify', () => {
  it('a CSR made with the peer key is signed and verifies (exit 0, --json)', async () => {
    const req = await peerguard(['cert', 'request', '--key', 'bob.key', '--name', 'bob', '--out', 'bob.csr', '--json'])
    expect(req.code).toBe(0)
    expect(JSON.parse(req.stdout)).toMatchObject({ name: 'bob', peerId })
    expect(await readFile(join(dir, 'bob.csr'), 'utf8')).toContain('BEGIN CERTIFICATE REQUEST')
    expect(
      (
        await peerguard([
          'ca',
          'issue',
          '--ca',
          'lan',
          '--csr',
          'bob.csr',
          '--group',
          'guests',
          '--out',
          'bob.pem',
          '--passphrase-file',
          'ca.pass'
        ])
      ).code
    ).toBe(0)
    const v = await peerguard([
      'cert',
      'verify',
      'bob.pem',
      '--trust',
      'lan/ca.pem',
      '--crl',
      'lan/crl.pem',
      '--peer',
      peerId,
      '--json'
    ])
    expect(v.code).toBe(0)
    expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, peerId, name: 'bob', groups: ['guests'] })
    // a CA directory as the trust folder: ca.pem and its crl.pem
    const plain = await peerguard(['cert', 'verify', 'bob.pem', '--trust', 'lan'])
    expect(plain.code).toBe(0)
    expect(plain.stdout).toContain(`ok: bob.pem: "bob" peer ${peerId}`)
    const show = await peerguard(['cert', 'show', 'bob.pem', '--json'])
    expect(JSON.parse(show.stdout)).toMatchObject({
      subject: 'CN=bob, OU=guests',
      keyType: 'ed25519',
      uris: [`peerguard://peer/${peerId}`]
    })
  })

  it('invalid certificates exit 1 with the reason code', async () => {
    const cases: Array<[string[], string]> = [
      [['bob.pem', '--trust', 'other'], 'cert-unknown-issuer'],
      [['bob.pem', '--trust', 'lan', '--at', new Date(Date.now() + 40 * 86_400_000).toISOString()], 'cert-expired'],
      [['bob.pem', '--trust', 'lan', '--at', new Date(Date.now() - 86_400_000).toISOString()], 'cert-not-yet-valid'],
      [['bob.pem', '--trust', 'lan', '--peer', 'AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA'], ''],
      [['lan/ca.pem', '--trust', 'lan'], 'cert-wrong-usage'],
      [['bob.pem', '--trust', 'lan/ca.pem'], 'crl-missing']
    ]
    for (const [args, code] of cases) {
      const r = await peerguard(['cert', 'verify', ...args])
      if (code === '') {
        expect(r.code).not.toBe(0)
        continue
      }
      expect(r.code).toBe(1)
      expect(r.stdout).toContain(`invalid: ${args[0]}: ${code}`)
      expect(r.stderr).toMatch(/^peerguard: error: /)
    }
    // another peer's ID: cert-peer-mismatch
    const carol = (await peerguard(['id', 'new', '--out', 'carol.key'])).stdout.trim()
    const mismatch = await peerguard(['cert', 'verify', 'bob.pem', '--trust', 'lan', '--peer', carol, '--json'])
    expect(mismatch.code).toBe(1)
    expect(JSON.parse(mismatch.stdout)).toMatchObject({ valid: false, error: { code: 'cert-peer-mismatch' } })
    // a stale CRL
    expect(
      (await peerguard(['ca', 'crl', '--ca', 'lan', '--out', 'short.crl.pem', '--days', '1', '--passphrase-file', 'ca.pass']))
        .code
    ).toBe(0)
    const stale = await peerguard([
      'cert',
      'verify',
      'bob.pem',
      '--trust',
      'lan/ca.pem',
      '--crl',
      'short.crl.pem',
      '--at',
      new Date(Date.now() + 3 * 86_400_000).toISOString(),
      '--json'
    ])
    expect(stale.code).toBe(1)
    expect(JSON.parse(stale.stdout)).toMatchObject({ error: { code: 'crl-stale' } })
    // a CRL from the wrong key (another CA renamed would be ignored; same name needed): damage the signature
    const crlPem = await readFile(join(dir, 'short.crl.pem'), 'utf8')
    const lines = crlPem.trim().split('\n')
    const body = Buffer.from(lines.slice(1, -1).join(''), 'base64')
    body[body.length - 2] = (body[body.length - 2] as number) ^ 0xff
    await writeFile(join(dir, 'bad.crl'), body)
    const badSig = await peerguard(['cert', 'verify', 'bob.pem', '--trust', 'lan/ca.pem', '--crl', 'bad.crl', '--json'])
    expect(badSig.code).toBe(1)
    expect(JSON.parse(badSig.stdout)).toMatchObject({ error: { code: 'crl-bad-signature' } })
  })

  it('garbage in: cert-malformed, crl-malformed, csr-malformed, exit 3', async () => {
    await writeFile(join(dir, 'garbage.pem'), 'hello\n')
    await writeFile(join(dir, 'garbage.der'), Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2]))
    for (const f of ['garbage.pem', 'garbage.der']) {
      const r = await peerguard(['cert', 'verify', f, '--trust', 'lan/ca.pem', '--json'])
      expect(r.code).toBe(3)
      expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'cert-malformed' } })
    }
    const crl = await peerguard(['cert', 'verify', 'bob.pem', '--trust', 'lan/ca.pem', '--crl', 'garbage.der', '--json'])
    expect(crl.code).toBe(3)
    expect(JSON.parse(crl.stdout)).toMatchObject({ error: { code: 'crl-malformed' } })
    const csr = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--csr',
      'garbage.pem',
      '--out',
      'g.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(csr.code).toBe(3)
    expect(JSON.parse(csr.stdout)).toMatchObject({ error: { code: 'csr-malformed' } })
    expect((await peerguard(['cert', 'verify', 'missing.pem', '--trust', 'lan/ca.pem'])).code).toBe(3)
  })

  it('cert p12 writes a bundle openssl opens, and refuses Ed25519 for windows', async () => {
    expect(
      (
        await peerguard([
          'ca',
          'issue',
          '--ca',
          'lan',
          '--key',
          'bob.key',
          '--name',
          'bob',
          '--out',
          'bob2.pem',
          '--passphrase-file',
          'ca.pass'
        ])
      ).code
    ).toBe(0)
    const ok = await peerguard([
      'cert',
      'p12',
      '--cert',
      'bob2.pem',
      '--key',
      'bob.key',
      '--p12-passphrase-file',
      'p12.pass',
      '--out',
      'bob.p12'
    ])
    expect(ok.code).toBe(0)
    const info = spawnSync('/usr/bin/openssl', ['pkcs12', '-in', 'bob.p12', '-passin', 'pass:bundle', '-nokeys'], {
      cwd: dir,
      encoding: 'utf8'
    })
    expect(info.status).toBe(0)
    expect(info.stdout).toContain('subject=CN = bob')
    const win = await peerguard([
      'cert',
      'p12',
      '--cert',
      'bob2.pem',
      '--key',
      'bob.key',
      '--p12-passphrase-file',
      'p12.pass',
      '--out',
      'bob-win.p12',
      '--target',
      'windows',
      '--json'
    ])
    expect(win.code).toBe(3)
    expect(JSON.parse(win.stdout)).toMatchObject({ error: { code: 'pkcs12-unsupported-key' } })
    expect(win.stderr).toContain('hint:')
    expect(win.stderr).toContain('p256')
  })

  it('DER in and out: a .der certificate and CRL verify like PEM', async () => {
    expect(
      (
        await peerguard([
          'ca',
          'issue',
          '--ca',
          'lan',
          '--key',
          'bob.key',
          '--name',
          'bob',
          '--out',
          'bob.der',
          '--passphrase-file',
          'ca.pass'
        ])
      ).code
    ).toBe(0)
    expect((await peerguard(['ca', 'crl', '--ca', 'lan', '--out', 'lan-crl.der', '--passphrase-file', 'ca.pass'])).code).toBe(0)
    const der = spawnSync('/usr/bin/openssl', ['x509', '-inform', 'DER', '-in', 'bob.der', '-noout', '-subject'], {
      cwd: dir,
      encoding: 'utf8'
    })
    expect(der.stdout).toContain('CN = bob')
    const crl = spawnSync(
      '/usr/bin/openssl',
      ['crl', '-inform', 'DER', '-in', 'lan-crl.der', '-noout', '-CAfile', 'lan/ca.pem'],
      { cwd: dir, encoding: 'utf8' }
    )
    expect(`${crl.stdout}${crl.stderr}`).toContain('verify OK')
    const v = await peerguard(['cert', 'verify', 'bob.der', '--trust', 'lan/ca.pem', '--crl', 'lan-crl.der', '--json'])
    expect(v.code).toBe(0)
    expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, name: 'bob' })
  })

  it('a P-256 request (key kept on the peer) is issued and bundles for windows', async () => {
    const req = await peerguard([
      'cert',
      'request',
      '--key',
      'bob.key',
      '--name',
      'bob-printer',
      '--key-type',
      'p256',
      '--p256-key-out',
      'bob-p256.key',
      '--out',
      'bob-p256.csr',
      '--json'
    ])
    expect(req.code).toBe(0)
    expect(JSON.parse(req.stdout)).toMatchObject({ keyType: 'p256', peerId })
    expect(statSync(join(dir, 'bob-p256.key')).mode & 0o777).toBe(0o600)
    const issued = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan',
      '--csr',
      'bob-p256.csr',
      '--out',
      'bob-p256.pem',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(issued.code).toBe(0)
    expect(JSON.parse(issued.stdout)).toMatchObject({ peerId, name: 'bob-printer' })
    expect(JSON.parse((await peerguard(['cert', 'show', 'bob-p256.pem', '--json'])).stdout)).toMatchObject({ keyType: 'p256' })
    const v = await peerguard(['cert', 'verify', 'bob-p256.pem', '--trust', 'lan', '--peer', peerId])
    expect(v.code).toBe(0)
    const p12 = await peerguard([
      'cert',
      'p12',
      '--cert',
      'bob-p256.pem',
      '--key',
      'bob-p256.key',
      '--p12-passphrase-file',
      'p12.pass',
      '--target',
      'windows',
      '--out',
      'bob-win.p12'
    ])
    expect(p12.code).toBe(0)
    const info = spawnSync('/usr/bin/openssl', ['pkcs12', '-in', 'bob-win.p12', '-passin', 'pass:bundle', '-nodes'], {
      cwd: dir,
      encoding: 'utf8'
    })
    expect(info.status).toBe(0)
    expect(info.stdout).toContain('-----BEGIN PRIVATE KEY-----')
    expect(
      (await peerguard(['cert', 'request', '--key', 'bob.key', '--name', 'x', '--key-type', 'p256', '--out', 'x.csr'])).code
    ).toBe(2)
  })

  it('every command has help with an example', () => {
    for (const sub of ['request', 'verify', 'show', 'p12']) {
      const r = peerguardProcess(['cert', sub, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('Example:')
    }
  })
})
