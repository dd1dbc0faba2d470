/**
 * `proxy client --connect` and `swarm fetch --peer` take a workspace member's name (or peer ID)
 * instead of HOST:PORT, black box over 127.0.0.1: two `peerguard node`s in one workspace (unicast
 * announcements) — `nas` offers a proxy service and a swarm seed, `hq` is the local node the
 * clients ask (its control socket under XDG_RUNTIME_DIR). The name resolves to the member's
 * announced address and its peer ID is pinned; an unknown name, and members mixed with
 * HOST:PORT peers in a swarm fetch, are refused before any connection.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { freeUdpPort, makeTestPki, type TestPeer, type TestPki, writeNodeDir } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { startNodeProcess } from './node-process.js'
import { runCli } from './run-cli.js'

jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
  servers: ["ou:servers"]
rules:
  - id: echo
    allow: [get]
    peers: [staff]
    resources: ["service:echo"]
  - id: swarm-fetch
    allow: [read]
    peers: [staff]
    resources: ["swarm:*"]
  - id: swarm-publish
    allow: [write]
    peers: [servers]
    resources: ["swarm:*"]
`

let base: string
let pki: TestPki
let echo: Server
const children: ChildProcessWithoutNullStreams[] = []
const udp: Record<string, number> = {}
const dirOf = (name: string): string => join(base, name)
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer
const env = (): Record<string, string> => ({ XDG_RUNTIME_DIR: join(dirOf('hq'), 'xdg') })
const creds = ['--identity', 'node.key', '--cert', 'node.pem', '--trust', 'ca.pem', '--crl', 'ca.crl']

async function writeNode(name: string, other: string, services: string): Promise<void> {
  await writeNodeDir(dirOf(name), {
    identity: peer(name).identity,
    chain: peer(name).chain,
    root: pki.ca.certificate,
    crl: (await pki.ca.crl()).der,
    policy: POLICY,
    config: `${services}
workspace:
  multicast: false
  udp-port: ${udp[name]}
  listen: 127.0.0.1:0
  peers: [127.0.0.1:${udp[other]}]
  announce-interval-ms: 200
  bundle-dir: workspace`
  })
}

interface Peers {
  peers: Array<{ name?: string; up: boolean; services: Array<{ kind: string; name: string }> }>
}

async function nasOffers(): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const r = await runCli(['peers', '--config', join(dirOf('hq'), 'node.yaml'), '--json'])
    const nas = r.code === 0 ? (JSON.parse(r.stdout) as Peers).peers.find((p) => p.name === 'nas' && p.up) : undefined
    if (nas?.services.some((s) => s.kind === 'proxy') && nas.services.some((s) => s.kind === 'swarm')) return
    if (Date.now() > deadline) throw new Error(`hq never listed nas with its proxy and swarm: ${r.stdout}${r.stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

beforeAll(async () => {
  ensureCliBuilt()
  base = await mkdtemp(join(tmpdir(), 'pg-ws-resolve-'))
  pki = await makeTestPki({
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'hq', groups: ['staff'] }
    ]
  })
  echo = createServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  udp.nas = await freeUdpPort()
  udp.hq = await freeUdpPort()
  await writeNode('hq', 'nas', 'shares:\n  - name: docs\n    path: docs\n    listen: 127.0.0.1:0')
  await writeNode(
    'nas',
    'hq',
    `proxies:
  - service: echo
    listen: 127.0.0.1:0
    target: 127.0.0.1:${(echo.address() as { port: number }).port}
swarms:
  - manifest: data.pgswarm
    file: data.bin
    listen: 127.0.0.1:0`
  )
  await writeFile(join(dirOf('nas'), 'data.bin'), randomBytes(300_000))
  const pub = await runCli(
    [
      'swarm',
      'publish',
      'data.bin',
      '--identity',
      'node.key',
      '--cert',
      'node.pem',
      '--out',
      'data.pgswarm',
      '--name',
      'lan-data'
    ],
    { cwd: dirOf('nas') }
  )
  expect([pub.code, pub.stderr]).toEqual([0, ''])
  await startNodeProcess(dirOf('nas'), children)
  await startNodeProcess(dirOf('hq'), children)
  await nasOffers()
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))))
  await new Promise<void>((r) => echo.close(() => r()))
  await rm(base, { recursive: true, force: true, maxRetries: 5 })
})

describe('clients name a workspace member instead of HOST:PORT', () => {
  it('proxy client --connect nas: the local node resolves it, the peer ID is pinned, bytes go through', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'proxy', 'client', '--listen', '127.0.0.1:0', '--connect', 'nas', ...creds, '--json'],
      {
        cwd: dirOf('hq'),
        env: { ...process.env, ...env() },
        stdio: 'pipe'
      }
    )
    children.push(child)
    const stderr: string[] = []
    child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()))
    const events: Array<Record<string, unknown>> = []
    const waiters: Array<() => void> = []
    createInterface({ input: child.stdout }).on('line', (line) => {
      events.push(JSON.parse(line) as Record<string, unknown>)
      for (const w of [...waiters]) w()
    })
    const event = (name: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${name} event: ${stderr.join('')}`)), 120_000)
        const check = (): void => {
          const e = events.find((x) => x.event === name)
          if (e === undefined) return
          clearTimeout(timer)
          resolve(e)
        }
        waiters.push(check)
        check()
      })
    const listening = await event('listening')
    const [host, port] = (listening.address as string).split(':') as [string, string]
    const socket = connect(Number(port), host)
    const data = randomBytes(10_000)
    const back = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = []
      let got = 0
      socket.on('data', (c: Buffer) => {
        parts.push(c)
        got += c.length
        if (got >= data.length) resolve(Buffer.concat(parts))
      })
      socket.once('error', reject)
      socket.write(data)
    })
    socket.destroy()
    expect(back.equals(data)).toBe(true)
    expect(await event('server')).toMatchObject({ peerId: peer('nas').peerId, accepted: 'pinned' })
    expect(listening.server).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('proxy client --connect with an unknown member is refused (not-found) before it listens', async () => {
    const r = await runCli(['proxy', 'client', '--listen', '127.0.0.1:0', '--connect', 'nobody', ...creds], {
      cwd: dirOf('hq'),
      env: env()
    })
    expect([r.code, r.stdout]).toEqual([3, ''])
    expect(r.stderr).toMatch(/nobody: no workspace member by that name or peer ID is up/)
  })

  it("swarm fetch --peer nas: the member's seed of this swarm is found, pinned, and the copy is exact", async () => {
    await writeFile(join(dirOf('hq'), 'data.pgswarm'), await readFile(join(dirOf('nas'), 'data.pgswarm')))
    const r = await runCli(['--json', 'swarm', 'fetch', 'data.pgswarm', '--peer', 'nas', '--out', 'got.bin', ...creds], {
      cwd: dirOf('hq'),
      env: env()
    })
    expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(new RegExp(`${peer('nas').peerId}.*pinned`))])
    expect((await readFile(join(dirOf('hq'), 'got.bin'))).equals(await readFile(join(dirOf('nas'), 'data.bin')))).toBe(true)
  })

  it('swarm fetch mixing a member with a HOST:PORT peer is a usage error (a member is pinned)', async () => {
    const r = await runCli(
      ['swarm', 'fetch', 'data.pgswarm', '--peer', 'nas', '--peer', '127.0.0.1:9', '--out', 'x.bin', ...creds],
      {
        cwd: dirOf('hq'),
        env: env()
      }
    )
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--peer: give workspace members \(name or peer ID\) or HOST:PORT addresses, not both/)
  })
})
