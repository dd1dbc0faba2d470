/**
 * Standard TLS tools against peerguard (issue 16): certificates with DNS/IP SANs from
 * `ca issue --dns/--ip`, keys from `id export --pem`, and a `proxy server --tls --allow-group`
 * that curl and openssl s_client reach with their normal hostname and chain checks (no -k, no
 * --resolve). Real processes and sockets on 127.0.0.1 only.
 */
import { needs, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { loadKeystore } from '@peerguard/identity'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(180_000)

const opensslGate = needs('openssl', 'tls-interop: openssl reads the SANs and the exported key, s_client verifies')
const curlGate = needs(['curl', 'openssl'], 'tls-interop: curl talks to a TLS-mode proxy without -k')
const hasOpenssl = opensslGate.ok
const itOpenssl = opensslGate.it
const itCurl = curlGate.it

interface Tool {
  code: number
  stdout: string
  stderr: string
}

/** Run a tool without blocking the event loop (the HTTP backend lives in this process). */
function tool(cmd: string, args: string[], input?: string): Promise<Tool> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: dir, timeout: 120_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
    child.stdin?.end(input ?? '')
  })
}

let dir: string
let backend: Server
let backendPort: number
const children: Spawned[] = []

async function cli(args: string[]): Promise<Tool> {
  const r = await runCli(args, { cwd: dir })
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-tls-'))
  await writeFile(join(dir, 'pem.pass'), 'pem passphrase for curl\n')
  await cli(['ca', 'init', '--dir', 'ca', '--name', 'Interop CA'])
  for (const name of ['nas', 'alice', 'bob']) await cli(['id', 'new', '--out', `${name}.key`])
  await cli(
    ['ca', 'issue', '--ca', 'ca', '--key', 'nas.key', '--name', 'nas', '--group', 'servers'].concat([
      '--dns',
      'localhost',
      '--ip',
      '127.0.0.1',
      '--out',
      'nas.pem'
    ])
  )
  await cli(['ca', 'issue', '--ca', 'ca', '--key', 'alice.key', '--name', 'alice', '--group', 'family', '--out', 'alice.pem'])
  await cli(['ca', 'issue', '--ca', 'ca', '--key', 'bob.key', '--name', 'bob', '--group', 'friends', '--out', 'bob.pem'])
  await cli(['ca', 'crl', '--ca', 'ca', '--out', 'ca.crl'])
  for (const name of ['alice', 'bob'])
    await cli(['id', 'export', `${name}.key`, '--pem', '--pem-passphrase-file', 'pem.pass', '--out', `${name}-key.pem`])
  backend = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(`hello from the backend: ${req.method} ${req.url}\n`)
  })
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
  backendPort = (backend.address() as AddressInfo).port
}, 180_000)

afterAll(async () => {
  for (const c of children) void c.stop('SIGKILL')
  await new Promise((r) => backend?.close(r))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('ca issue --dns/--ip', () => {
  itOpenssl('openssl x509 -text shows the SANs; --json lists them', async () => {
    const text = (await tool('openssl', ['x509', '-noout', '-text', '-in', 'nas.pem'])).stdout
    expect(text).toMatch(/URI:peerguard:\/\/peer\/\S+, DNS:localhost, IP Address:127\.0\.0\.1\n/)
    const json = JSON.parse(
      (
        await cli([
          'ca',
          'issue',
          '--ca',
          'ca',
          '--key',
          'nas.key',
          '--name',
          'nas2',
          '--ip',
          '::1',
          '--out',
          'nas2.pem',
          '--json'
        ])
      ).stdout
    ) as Record<string, unknown>
    expect(json.dnsNames).toEqual([])
    expect(json.ipAddresses).toEqual(['::1'])
    const renewed = JSON.parse((await cli(['ca', 'renew', '--ca', 'ca', 'nas.pem', '--out', 'nas-renewed.pem', '--json'])).stdout)
    expect(renewed).toMatchObject({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  })

  it('refuses a bad --dns or --ip under its flag name, writing nothing', async () => {
    const dns = await runCli(
      ['ca', 'issue', '--ca', 'ca', '--key', 'bob.key', '--name', 'b', '--dns', '*.lan', '--out', 'x.pem'],
      {
        cwd: dir
      }
    )
    expect(dns.code).not.toBe(0)
    expect(dns.stderr).toContain('--dns[0]: "*.lan" is a wildcard')
    const ip = await runCli(
      ['ca', 'issue', '--ca', 'ca', '--key', 'bob.key', '--name', 'b', '--ip', 'nas.lan', '--out', 'x.pem'],
      {
        cwd: dir
      }
    )
    expect(ip.code).not.toBe(0)
    expect(ip.stderr).toContain('--ip[0]: "nas.lan" is not an IPv4 or IPv6 address')
    await expect(stat(join(dir, 'x.pem'))).rejects.toThrow()
  })
})

describe('id export --pem', () => {
  itOpenssl('writes an encrypted PKCS#8 PEM (0600) that openssl reads, with the identity public key', async () => {
    const pem = await readFile(join(dir, 'alice-key.pem'), 'utf8')
    expect(pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true)
    expect((await stat(join(dir, 'alice-key.pem'))).mode & 0o777).toBe(0o600)
    const shown = JSON.parse((await cli(['id', 'show', 'alice.key', '--json'])).stdout) as { publicKey: string }
    const der = execFileSync(
      'openssl',
      ['pkey', '-in', 'alice-key.pem', '-passin', 'file:pem.pass', '-pubout', '-outform', 'DER'],
      {
        cwd: dir
      }
    )
    // Ed25519 SPKI DER: a 12-byte header, then the 32-byte public key (RFC 8410 §4).
    expect(der.length).toBe(44)
    expect(der.subarray(12).toString('base64')).toBe(shown.publicKey)
    const wrong = await tool('openssl', ['pkey', '-in', 'alice-key.pem', '-passin', 'pass:wrong', '-noout'])
    expect(wrong.code).not.toBe(0)
  })

  itOpenssl('exports a P-256 key file (cert request --key-type p256) whose public key is the stored one', async () => {
    await cli(
      ['cert', 'request', '--key', 'alice.key', '--name', 'alice', '--key-type', 'p256'].concat([
        '--p256-key-out',
        'alice-p256.key',
        '--out',
        'alice-p256.csr'
      ])
    )
    const out = JSON.parse(
      (await cli(['id', 'export', 'alice-p256.key', '--pem', '--pem-passphrase-file', 'pem.pass', '--out', 'p256.pem', '--json']))
        .stdout
    ) as Record<string, unknown>
    expect(out).toMatchObject({ keyType: 'p256', encrypted: true })
    const der = execFileSync('openssl', ['pkey', '-in', 'p256.pem', '-passin', 'file:pem.pass', '-pubout', '-outform', 'DER'], {
      cwd: dir
    })
    const entry = await loadKeystore(join(dir, 'alice-p256.key'))
    expect(Buffer.from(der).equals(Buffer.from(entry.publicKey))).toBe(true)
  })

  it('needs --pem and a passphrase choice, refuses to overwrite, and --no-passphrase says so', async () => {
    const noPem = await runCli(['id', 'export', 'alice.key', '--out', 'a.pem', '--no-passphrase'], { cwd: dir })
    expect(noPem.code).not.toBe(0)
    expect(noPem.stderr).toContain('give --pem')
    const noChoice = await runCli(['id', 'export', 'alice.key', '--pem', '--out', 'a.pem'], { cwd: dir })
    expect(noChoice.code).not.toBe(0)
    expect(noChoice.stderr).toContain('give --pem-passphrase-file FILE to encrypt the PEM, or --no-passphrase')
    const both = await runCli(
      ['id', 'export', 'alice.key', '--pem', '--out', 'a.pem', '--no-passphrase', '--pem-passphrase-file', 'pem.pass'],
      { cwd: dir }
    )
    expect(both.code).not.toBe(0)
    await expect(stat(join(dir, 'a.pem'))).rejects.toThrow()

    const again = await runCli(
      ['id', 'export', 'alice.key', '--pem', '--pem-passphrase-file', 'pem.pass', '--out', 'alice-key.pem'],
      {
        cwd: dir
      }
    )
    expect(again.code).not.toBe(0)
    expect(again.stderr).toContain('already exists')

    const plain = await runCli(['id', 'export', 'alice.key', '--pem', '--no-passphrase', '--out', 'a.pem', '--json'], {
      cwd: dir
    })
    expect(plain.code).toBe(0)
    expect(JSON.parse(plain.stdout)).toMatchObject({ file: 'a.pem', keyType: 'ed25519', encrypted: false })
    expect(plain.stderr).toContain('is not encrypted')
    expect(await readFile(join(dir, 'a.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    const forced = await runCli(
      ['id', 'export', 'alice.key', '--pem', '--pem-passphrase-file', 'pem.pass', '--out', 'a.pem', '--force'],
      {
        cwd: dir
      }
    )
    expect(forced.code).toBe(0)
    expect(await readFile(join(dir, 'a.pem'), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
  })
})

interface Running {
  port: number
  stderr: () => string
}

/** Start `peerguard proxy server …` as its own process; wait for its "listening on" line. */
async function startProxy(args: string[]): Promise<Running> {
  const s = await spawnAndWait(process.execPath, [BIN, 'proxy', 'server', ...args], {
    cwd: dir,
    readyLine: /listening on 127\.0\.0\.1:(\d+)/
  })
  children.push(s)
  return { port: Number(s.match[1]), stderr: s.err }
}

const proxyArgs = (extra: string[]): string[] => [
  '--tls',
  '--listen',
  '127.0.0.1:0',
  '--target',
  `127.0.0.1:${backendPort}`,
  '--service',
  'web',
  '--identity',
  'nas.key',
  '--cert',
  'nas.pem',
  '--trust',
  'ca/ca.pem',
  '--crl',
  'ca.crl',
  ...extra
]

/** Wait until `check()` holds (the proxy's stderr is written asynchronously). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1200 && !check(); i++) await new Promise((r) => setTimeout(r, 100))
}

describe('proxy server --tls with --allow-group, reached by curl and openssl s_client', () => {
  let proxy: Running
  beforeAll(async () => {
    if (hasOpenssl) proxy = await startProxy(proxyArgs(['--allow-group', 'family', '--log', 'decisions.log']))
  })

  itCurl(
    'curl reaches the backend at https://127.0.0.1 and https://localhost with only --cacert (no -k, no --resolve)',
    async () => {
      for (const host of ['127.0.0.1', 'localhost']) {
        const r = await tool('curl', [
          '--silent',
          '--show-error',
          '--cacert',
          'ca/ca.pem',
          '--cert',
          'alice.pem',
          '--key',
          'alice-key.pem',
          '--pass',
          'pem passphrase for curl',
          `https://${host}:${proxy.port}/hello`
        ])
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
        expect(r.stdout).toBe('hello from the backend: GET /hello\n')
      }
      await eventually(() => proxy.stderr().includes('accepted alice'))
      expect(proxy.stderr()).toContain('accepted alice')
    }
  )

  itCurl('curl refuses a host name the certificate does not carry', async () => {
    const r = await tool('curl', [
      '--silent',
      '--show-error',
      '--cacert',
      'ca/ca.pem',
      '--cert',
      'alice.pem',
      '--key',
      'alice-key.pem',
      '--pass',
      'pem passphrase for curl',
      // Still 127.0.0.1 on the wire; only the name curl checks differs.
      '--connect-to',
      `not-in-the-certificate.invalid:${proxy.port}:127.0.0.1:${proxy.port}`,
      `https://not-in-the-certificate.invalid:${proxy.port}/`
    ])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/subject name|alternative certificate subject name/)
    expect(r.stdout).toBe('')
  })

  itOpenssl('openssl s_client verifies the chain and the IP (return code 0) and gets the answer', async () => {
    const r = await tool(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${proxy.port}`,
        '-CAfile',
        'ca/ca.pem',
        '-cert',
        'alice.pem',
        '-key',
        'alice-key.pem',
        '-pass',
        'file:pem.pass',
        '-verify_return_error',
        '-verify_ip',
        '127.0.0.1',
        '-ign_eof'
      ],
      'GET /s_client HTTP/1.0\r\n\r\n'
    )
    expect(r.stdout).toContain('Verify return code: 0 (ok)')
    expect(r.stdout).toContain('hello from the backend: GET /s_client')
    expect(r.code).toBe(0)
  })

  itCurl('a peer outside --allow-group is refused, and the refusal is logged', async () => {
    const r = await tool('curl', [
      '--silent',
      '--show-error',
      '--cacert',
      'ca/ca.pem',
      '--cert',
      'bob.pem',
      '--key',
      'bob-key.pem',
      '--pass',
      'pem passphrase for curl',
      `https://127.0.0.1:${proxy.port}/`
    ])
    expect(r.code).not.toBe(0)
    expect(r.stdout).not.toContain('hello from the backend')
    await eventually(() => /refused bob .*deny-default/.test(proxy.stderr()))
    expect(proxy.stderr()).toMatch(/refused bob .*deny-default/)
    const bobId = JSON.parse((await cli(['id', 'show', 'bob.key', '--json'])).stdout).peerId as string
    const logged = async (): Promise<string> => readFile(join(dir, 'decisions.log'), 'utf8').catch(() => '')
    for (let i = 0; i < 600 && !(await logged()).includes(bobId); i++) await new Promise((r) => setTimeout(r, 100))
    expect(await logged()).toContain(bobId)
  })
})

describe('proxy server policy flags', () => {
  it('refuses --policy with --allow-group, and a server with neither', async () => {
    await writeFile(join(dir, 'policy.yaml'), 'version: 1\nrules: []\n')
    const both = await runCli(['proxy', 'server', ...proxyArgs(['--policy', 'policy.yaml', '--allow-group', 'family'])], {
      cwd: dir
    })
    expect(both.code).not.toBe(0)
    expect(both.stderr).toContain('give --policy or --allow-group/--allow-peer, not both')
    const neither = await runCli(['proxy', 'server', ...proxyArgs([])], { cwd: dir })
    expect(neither.code).not.toBe(0)
    expect(neither.stderr).toContain('give --policy FILE, or at least one --allow-group or --allow-peer')
    const badPeer = await runCli(['proxy', 'server', ...proxyArgs(['--allow-peer', 'not-a-peer'])], { cwd: dir })
    expect(badPeer.code).not.toBe(0)
    expect(badPeer.stderr).toContain('--allow-peer: "not-a-peer" is not a peer ID')
  })
})
