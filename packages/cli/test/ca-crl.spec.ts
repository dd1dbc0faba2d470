/**
 * The CRL lifecycle on the command line: `ca crl --renew-before`, CRL distribution points that
 * OpenSSL reads and checks, and `ca publish` answering curl, openssl and `fetchCrl` on 127.0.0.1.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { createTrustStore, fetchCrl, parseCrl } from '@peerguard/pki'
import { needs } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

const OPENSSL = '/usr/bin/openssl'
const CURL = '/usr/bin/curl'
const withOpenssl = needs('openssl', 'ca-crl: openssl reads the published CRL').it
const withCurl = needs(['curl', 'openssl'], 'ca-crl: curl fetches the published CRL').it

let dir: string
/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

function run(cmd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-crl-'))
  await writeFile(join(dir, 'ca.pass'), 'ca passphrase\n')
  const init = await peerguard([
    'ca',
    'init',
    '--dir',
    'lan-ca',
    '--name',
    'Home LAN CA',
    '--crl-url',
    'http://127.0.0.1:9/lan-ca.crl',
    '--passphrase-file',
    'ca.pass',
    '--json'
  ])
  expect(init.code).toBe(0)
  expect(JSON.parse(init.stdout)).toMatchObject({ crlDistributionPoints: ['http://127.0.0.1:9/lan-ca.crl'] })
  for (const name of ['alice', 'bob']) {
    expect((await peerguard(['id', 'new', '--out', `${name}.key`])).code).toBe(0)
    const issued = await peerguard(['ca', 'issue', '--ca', 'lan-ca', '--key', `${name}.key`, '--name', name])
    expect(issued.code).toBe(2) // --out is required
    expect(
      (
        await peerguard([
          'ca',
          'issue',
          '--ca',
          'lan-ca',
          '--key',
          `${name}.key`,
          '--name',
          name,
          '--out',
          `${name}.pem`,
          '--passphrase-file',
          'ca.pass'
        ])
      ).code
    ).toBe(0)
  }
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard ca crl --renew-before', () => {
  it('re-signs only when the CRL goes stale within the window or lacks a revocation; exit 0 either way', async () => {
    const first = await peerguard([
      'ca',
      'crl',
      '--ca',
      'lan-ca',
      '--days',
      '7',
      '--renew-before',
      '2d',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(first.code).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ renewed: true, number: 1, file: 'lan-ca/crl.pem' })
    const again = await peerguard(['ca', 'crl', '--ca', 'lan-ca', '--renew-before', '2d', '--passphrase-file', 'ca.pass'])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(
      /^kept CRL #1 in lan-ca\/crl\.pem: current until .* \(6d 23h left, every revocation listed\); nothing to do/
    )
    // within the window (a 7-day CRL has less than 8 days left): re-signed
    const near = await peerguard([
      'ca',
      'crl',
      '--ca',
      'lan-ca',
      '--renew-before',
      '8d',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(near.code).toBe(0)
    expect(JSON.parse(near.stdout)).toMatchObject({ renewed: true, number: 2 })
    expect(near.stderr).toContain('every run re-signs')
    // a revocation the CRL does not list yet: re-signed even though the CRL is fresh
    expect(
      (
        await peerguard([
          'ca',
          'revoke',
          '--ca',
          'lan-ca',
          'bob.pem',
          '--reason',
          'keyCompromise',
          '--passphrase-file',
          'ca.pass'
        ])
      ).code
    ).toBe(0)
    const revoked = await peerguard([
      'ca',
      'crl',
      '--ca',
      'lan-ca',
      '--renew-before',
      '2d',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(JSON.parse(revoked.stdout)).toMatchObject({ renewed: true, number: 3 })
    expect((JSON.parse(revoked.stdout) as { revoked: string[] }).revoked).toHaveLength(1)
    // with --out, the --out file is the one judged (missing: re-signed), and both files are written
    const out = await peerguard([
      'ca',
      'crl',
      '--ca',
      'lan-ca',
      '--out',
      'pub.crl',
      '--renew-before',
      '2d',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(JSON.parse(out.stdout)).toMatchObject({ renewed: true, number: 4, file: 'pub.crl' })
    expect(parseCrl(await readFile(join(dir, 'pub.crl'), 'latin1')).number).toBe('04')
    expect(parseCrl(await readFile(join(dir, 'lan-ca', 'crl.pem'), 'latin1')).number).toBe('04')
    const kept = await peerguard(['ca', 'crl', '--ca', 'lan-ca', '--out', 'pub.crl', '--renew-before', '2d', '--json'])
    expect(kept.code).toBe(0) // nothing to sign: no passphrase needed
    expect(JSON.parse(kept.stdout)).toMatchObject({ renewed: false, number: 4 })
    // a file that is not this CA's CRL is replaced
    await writeFile(join(dir, 'pub.crl'), 'garbage')
    const replaced = await peerguard([
      'ca',
      'crl',
      '--ca',
      'lan-ca',
      '--out',
      'pub.crl',
      '--renew-before',
      '2d',
      '--passphrase-file',
      'ca.pass',
      '--json'
    ])
    expect(JSON.parse(replaced.stdout)).toMatchObject({ renewed: true, number: 5 })
    const bad = await peerguard(['ca', 'crl', '--ca', 'lan-ca', '--renew-before', 'soon'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--renew-before: expected a duration')
  })
})

describe('CRL distribution points in issued certificates', () => {
  withOpenssl('openssl reads the URL and verifies with -crl_check against our CRL', async () => {
    const text = run(OPENSSL, ['x509', '-in', 'alice.pem', '-noout', '-text'])
    expect(text.code).toBe(0)
    expect(text.out).toMatch(/X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/127\.0\.0\.1:9\/lan-ca\.crl/)
    const ok = run(OPENSSL, ['verify', '-crl_check', '-CAfile', 'lan-ca/ca.pem', '-CRLfile', 'lan-ca/crl.pem', 'alice.pem'])
    expect(ok.out).toContain('alice.pem: OK')
    const revoked = run(OPENSSL, ['verify', '-crl_check', '-CAfile', 'lan-ca/ca.pem', '-CRLfile', 'lan-ca/crl.pem', 'bob.pem'])
    expect(revoked.code).not.toBe(0)
    expect(revoked.out).toContain('certificate revoked')
    // and peerguard agrees
    expect((await peerguard(['cert', 'verify', 'alice.pem', '--trust', 'lan-ca'])).code).toBe(0)
    expect((await peerguard(['cert', 'verify', 'bob.pem', '--trust', 'lan-ca'])).stdout).toContain('cert-revoked')
    const show = JSON.parse((await peerguard(['cert', 'show', 'alice.pem', '--json'])).stdout) as Record<string, unknown>
    expect(show.subject).toBe('CN=alice')
  })

  withOpenssl('--crl-url on issue overrides the CA setting', async () => {
    expect((await peerguard(['id', 'new', '--out', 'carol.key'])).code).toBe(0)
    const r = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan-ca',
      '--key',
      'carol.key',
      '--name',
      'carol',
      '--crl-url',
      'http://10.1.2.3/other.crl',
      '--out',
      'carol.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(r.code).toBe(0)
    expect(run(OPENSSL, ['x509', '-in', 'carol.pem', '-noout', '-ext', 'crlDistributionPoints']).out).toContain(
      'URI:http://10.1.2.3/other.crl'
    )
    const https = await peerguard([
      'ca',
      'issue',
      '--ca',
      'lan-ca',
      '--key',
      'carol.key',
      '--name',
      'carol',
      '--crl-url',
      'https://x/y.crl',
      '--out',
      'c2.pem',
      '--passphrase-file',
      'ca.pass'
    ])
    expect(https.code).toBe(2)
    expect(https.stderr).toContain('expected an http:// URL')
  })
})

describe('peerguard ca publish', () => {
  let server: ChildProcess | undefined
  let base = ''
  let stderr = ''
  beforeAll(async () => {
    server = spawn(process.execPath, [BIN, 'ca', 'publish', '--ca', 'lan-ca', '--listen', '127.0.0.1:0', '--json'], { cwd: dir })
    server.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const line = await new Promise<string>((resolve, reject) => {
      let out = ''
      server?.stdout?.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve(out.split('\n')[0] as string)
      })
      server?.once('exit', (code) => reject(new Error(`publish exited ${code}: ${stderr}`)))
    })
    const event = JSON.parse(line) as { event: string; crl: string }
    expect(event.event).toBe('publishing')
    base = event.crl.replace(/\/lan-ca\.crl$/, '')
  }, 180_000)
  afterAll(async () => {
    if (server === undefined || server.exitCode !== null) return
    const exited = new Promise((resolve) => server?.once('exit', resolve))
    server.kill('SIGTERM')
    await exited
  })

  it('serves the current CRL as DER to fetchCrl; the node installs it after verifying it', async () => {
    const der = await fetchCrl(`${base}/lan-ca.crl`)
    const onDisk = parseCrl(await readFile(join(dir, 'lan-ca', 'crl.pem'), 'latin1'))
    expect(Buffer.from(der)).toEqual(Buffer.from(onDisk.der))
    const trust = createTrustStore({ roots: [await readFile(join(dir, 'lan-ca', 'ca.pem'), 'latin1')] })
    expect(trust.addCrl(der, { source: `${base}/lan-ca.crl` })).toMatchObject({ issuer: 'CN=Home LAN CA', replaced: true })
    // a re-signed CRL is served at once (re-read on every request)
    expect((await peerguard(['ca', 'crl', '--ca', 'lan-ca', '--passphrase-file', 'ca.pass'])).code).toBe(0)
    const newer = await fetchCrl(`${base}/lan-ca.crl`)
    expect(parseCrl(newer).number).not.toBe(onDisk.number)
    expect(trust.addCrl(newer).replaced).toBe(true)
  })

  withCurl('curl gets DER with application/pkix-crl, openssl reads it; read only', () => {
    const head = run(CURL, ['-sS', '-D', '-', '-o', 'served.crl', `${base}/lan-ca.crl`])
    expect(head.code).toBe(0)
    expect(head.out).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(head.out).toMatch(/content-type: application\/pkix-crl/i)
    expect(head.out).toMatch(/expires: /i)
    const crl = run(OPENSSL, ['crl', '-inform', 'DER', '-in', 'served.crl', '-noout', '-issuer', '-CAfile', 'lan-ca/ca.pem'])
    expect(crl.out).toContain('issuer=CN = Home LAN CA')
    expect(crl.out).toContain('verify OK')
    const cert = run(CURL, ['-sS', '-o', 'served.crt', '-w', '%{content_type}', `${base}/lan-ca.crt`])
    expect(cert.out).toBe('application/pkix-cert')
    expect(run(OPENSSL, ['x509', '-inform', 'DER', '-in', 'served.crt', '-noout', '-subject']).out).toContain('CN = Home LAN CA')
    const status = (args: string[]): string => run(CURL, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args]).out
    expect(status(['-X', 'POST', '--data', 'x', `${base}/lan-ca.crl`])).toBe('405')
    expect(status(['-X', 'PUT', `${base}/lan-ca.crl`])).toBe('405')
    expect(status(['-I', `${base}/lan-ca.crl`])).toBe('200')
    expect(status(['--path-as-is', `${base}/../lan-ca/ca.key`])).toBe('404')
    expect(status([`${base}/lan-ca/ca.key`])).toBe('404')
    expect(status([`${base}/ca.db.json`])).toBe('404')
    expect(status([`${base}/lan-ca.crl?x=1`])).toBe('200')
  })

  it('refuses what is not a CA directory', async () => {
    const r = await peerguard(['ca', 'publish', '--ca', 'nowhere', '--listen', '127.0.0.1:0'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('nowhere')
  })
})
