import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createPrivateKey } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { loadPolicy } from '@peerguard/policy'
import { pemEncode } from '@peerguard/pki'
import { createProxyClient, createProxyServer, type ProxyClient, type ProxyServer } from '@peerguard/proxy'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

/**
 * Interop with programs someone else wrote: curl fetching from python's http.server through the
 * peerguard proxy pair, and `openssl s_client` (with a peer certificate) reaching a TLS-mode proxy
 * server the way ghostunnel users do.
 */
const run = promisify(execFile)
const POLICY = `version: 1
groups:
  fam: ["ou:family"]
rules:
  - id: family-web
    allow: [get]
    peers: [fam]
    resources: ["service:web", "service:echo"]
`

let dir: string
let pki: TestPki
let web: ChildProcess
let webPort: number
const closers: Array<() => Promise<unknown>> = []

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        r(true)
      })
      s.once('error', () => r(false))
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function keyPem(peer: TestPeer): string {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(peer.identity.secretKey.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(peer.identity.publicKey).toString('base64url')
    },
    format: 'jwk'
  }).export({ type: 'pkcs8', format: 'pem' }) as string
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerguard-proxy-interop-'))
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['family'] },
      { name: 'bob', groups: ['friends'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
  await writeFile(join(dir, 'index.html'), '<h1>behind peerguard</h1>\n')
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 0x5a))
  webPort = await freePort()
  web = spawn('python3', ['-m', 'http.server', String(webPort), '--bind', '127.0.0.1', '--directory', dir], { stdio: 'ignore' })
  await waitForPort(webPort)
}, 30_000)

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {})
  web?.kill('SIGTERM')
  await rm(dir, { recursive: true, force: true })
})

async function pair(
  peer: TestPeer,
  targetPort: number,
  service: string,
  tls = false
): Promise<{ server: ProxyServer; client: ProxyClient; local: number }> {
  const nas = pki.peers.nas!
  const server = createProxyServer({
    target: `127.0.0.1:${targetPort}`,
    service,
    tls,
    config: { identity: nas.identity, chain: nas.chain, trust: pki.trust, policy: loadPolicy(POLICY) }
  })
  const { port } = await server.listen()
  closers.push(() => server.close())
  const client = createProxyClient({
    connect: `127.0.0.1:${port}`,
    tls,
    expectedPeerId: nas.peerId,
    config: { identity: peer.identity, chain: peer.chain, trust: pki.trust }
  })
  const { port: local } = await client.listen()
  closers.push(() => client.close())
  return { server, client, local }
}

describe('curl → peerguard proxy client → proxy server → python3 http.server', () => {
  for (const tls of [false, true]) {
    it(`serves the page and a 3 MiB file to an allowed peer (${tls ? 'TLS' : 'Noise'})`, async () => {
      const { local } = await pair(pki.peers.alice!, webPort, 'web', tls)
      const page = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${local}/index.html`])
      expect(page.stdout).toBe('<h1>behind peerguard</h1>\n')
      const big = await run('curl', [
        '-sS',
        '--max-time',
        '20',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download}',
        `http://127.0.0.1:${local}/big.bin`
      ])
      expect(big.stdout).toBe(`200 ${3 * 1024 * 1024}`)
    }, 30_000)
  }

  it('gives curl an error (no HTTP answer) for a peer the policy denies', async () => {
    const { local } = await pair(pki.peers.bob!, webPort, 'web')
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${local}/index.html`]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr })
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/curl: \((52|56)\)/) // empty reply / connection reset
  }, 30_000)
})

describe('openssl s_client → TLS-mode proxy server → echo target (ghostunnel-style use)', () => {
  let echoPort: number
  let proxyPort: number
  beforeAll(async () => {
    const echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {})
      s.pipe(s)
    })
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => echo.close(r)))
    echoPort = (echo.address() as AddressInfo).port
    const nas = pki.peers.nas!
    const server = createProxyServer({
      target: `127.0.0.1:${echoPort}`,
      service: 'echo',
      tls: true,
      config: { identity: nas.identity, chain: nas.chain, trust: pki.trust, policy: loadPolicy(POLICY) }
    })
    proxyPort = (await server.listen()).port
    closers.push(() => server.close())
    for (const name of ['alice', 'bob'] as const) {
      const p = pki.peers[name]!
      await writeFile(join(dir, `${name}.key.pem`), keyPem(p), { mode: 0o600 })
      await writeFile(join(dir, `${name}.crt.pem`), p.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    }
    await writeFile(join(dir, 'root.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
  })

  function sClient(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${proxyPort}`, '-tls1_3', '-quiet', '-no_ign_eof', ...args],
        { stdio: 'pipe' }
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString()
        if (stdout.includes(input.trim())) child.stdin.end()
      })
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString()
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code: code ?? -1, stdout, stderr })
      })
      child.stdin.write(input)
    })
  }

  it('an allowed peer with its certificate reaches the echo service; OpenSSL verifies the server chain against the root', async () => {
    const r = await sClient(
      [
        '-cert',
        join(dir, 'alice.crt.pem'),
        '-key',
        join(dir, 'alice.key.pem'),
        '-CAfile',
        join(dir, 'root.pem'),
        '-verify_return_error'
      ],
      'hello through openssl\n'
    )
    expect(r.stdout).toContain('hello through openssl')
    expect(r.stderr).not.toMatch(/verify error/)
  }, 15_000)

  it('a peer without a certificate, and a peer the policy denies, get nothing through', async () => {
    const none = await sClient(['-CAfile', join(dir, 'root.pem')], 'no cert\n')
    expect(none.stdout).not.toContain('no cert')
    const bob = await sClient(['-cert', join(dir, 'bob.crt.pem'), '-key', join(dir, 'bob.key.pem')], 'denied\n')
    expect(bob.stdout).not.toContain('denied')
  }, 20_000)
})
