/**
 * Issue 11 item 4: clients authenticate the server, not just "any peer the CA certified".
 * Real processes on loopback (the built `peerguard` binary): the office NAS serves a share and
 * alice's client records it on first use; then a second certified peer, the guest, takes over the
 * address with a share of its own (same share name, a policy that would accept everything). Alice's
 * `share put` and `share get` must refuse it with `channel-known-peer-changed`, upload nothing and
 * download nothing; a pin (`--expect-peer`) refuses it too, and overrides the file when the user
 * means to talk to the guest. The same holds for `swarm fetch` and `proxy client`.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type LanCa, makeLanCa, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from '../../packages/cli/test/built-cli.js'

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-all
    allow: [read, write, get]
    peers: [staff]
    resources: ["share:office/**", "service:echo", "swarm:**"]
`

let dir: string
let lan: LanCa
let knownPeers: string

function pg(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const creds = (who: 'nas' | 'guest' | 'alice'): string[] => lan.creds(who)

/** Start a long-running command; resolve with the first stdout line matching `ready`. */
function start(args: string[], ready: RegExp): Promise<Spawned> {
  return spawnAndWait(process.execPath, [BIN, ...args], { cwd: dir, readyLine: ready })
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-impersonation-'))
  knownPeers = join(dir, 'alice-known-peers')
  lan = await makeLanCa({
    dir,
    name: 'Impersonation Test CA',
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'guest', groups: ['guests'] },
      { name: 'alice', groups: ['staff'] }
    ]
  })
  await writeFile(join(dir, 'policy.yaml'), POLICY)
  for (const who of ['nas', 'guest']) {
    await mkdir(join(dir, who, 'office', 'public'), { recursive: true })
    await writeFile(join(dir, who, 'office', 'public', 'notice.txt'), `${who}'s notice\n`)
  }
  await writeFile(join(dir, 'plan.txt'), 'the secret plan\n')
}, 120_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

const serveArgs = (who: 'nas' | 'guest', listen: string): string[] => [
  'share',
  'serve',
  join(dir, who, 'office'),
  ...creds(who),
  '--policy',
  join(dir, 'policy.yaml'),
  '--listen',
  listen
]

describe('clients authenticate the server (issue 11 item 4)', () => {
  it('share: the first server is recorded; a certified guest at the same address gets no upload and serves no file', async () => {
    const nas = await start(serveArgs('nas', '127.0.0.1:0'), / on (127\.0\.0\.1:(\d+))/)
    const addr = nas.match[1] as string
    let first: ReturnType<typeof pg>
    let second: ReturnType<typeof pg>
    try {
      first = pg('share', 'ls', addr, 'public', ...creds('alice'), '--known-peers', knownPeers, '--json')
      second = pg('share', 'ls', addr, 'public', ...creds('alice'), '--known-peers', knownPeers, '--json')
    } finally {
      await nas.stop()
    }
    expect(first.code).toBe(0)
    expect(first.stderr).toContain(`server ${addr}: nas (${lan.peer('nas').peerId}), first use: recorded in ${knownPeers}`)
    expect(JSON.parse(first.stdout).server).toEqual({
      name: 'nas',
      peerId: lan.peer('nas').peerId,
      address: addr,
      accepted: 'recorded'
    })
    expect(await readFile(knownPeers, 'utf8')).toContain(`share@${addr} ${lan.peer('nas').peerId}\n`)
    expect(second.code).toBe(0)
    expect(JSON.parse(second.stdout).server).toMatchObject({ name: 'nas', accepted: 'known' })

    // The guest takes over the address.
    const guest = await start(serveArgs('guest', addr), / on (127\.0\.0\.1:(\d+))/)
    const guestRoot = join(dir, 'guest', 'office')
    try {
      const put = pg(
        'share',
        'put',
        addr,
        join(dir, 'plan.txt'),
        'public/plan.txt',
        ...creds('alice'),
        '--known-peers',
        knownPeers,
        '--json'
      )
      expect(put.code).not.toBe(0)
      expect(JSON.parse(put.stdout).error.code).toBe('channel-known-peer-changed')
      expect(put.stderr).toContain(`the server at ${addr} is not the one recorded in ${knownPeers}`)
      expect(put.stderr).toContain(`${lan.peer('guest').peerId} (guest)`)
      expect(put.stderr).toMatch(/hint: .*delete the line "share@127\.0\.0\.1:\d+"/)

      const local = join(dir, 'got-notice.txt')
      const get = pg('share', 'get', addr, 'public/notice.txt', local, ...creds('alice'), '--known-peers', knownPeers)
      expect(get.code).not.toBe(0)
      expect(get.stderr).toContain('is not the one recorded')
      expect(existsSync(local)).toBe(false)
      expect(existsSync(`${local}.pgpart`)).toBe(false)

      // A pin refuses the guest as well; a pin naming the guest is the user's explicit override.
      const pinned = pg('share', 'ls', addr, ...creds('alice'), '--expect-peer', lan.peer('nas').peerId, '--json')
      expect(JSON.parse(pinned.stdout).error.code).toBe('channel-peer-mismatch')
      const meant = pg('share', 'ls', addr, 'public', ...creds('alice'), '--expect-peer', lan.peer('guest').peerId, '--json')
      expect(meant.code).toBe(0)
      expect(JSON.parse(meant.stdout).server).toMatchObject({ name: 'guest', accepted: 'pinned' })
      // The file still names the NAS: the override did not rewrite it.
      expect(await readFile(knownPeers, 'utf8')).toContain(`share@${addr} ${lan.peer('nas').peerId}\n`)
    } finally {
      await guest.stop()
    }
    expect(await readdir(join(guestRoot, 'public'))).toEqual(['notice.txt'])
  }, 120_000)

  it('proxy client: the recorded server carries traffic; a guest proxy at the same address is refused and its backend sees nothing', async () => {
    let backendBytes = 0
    const backends: Server[] = []
    const backend = async (): Promise<number> => {
      const s = createServer((c) => {
        c.on('error', () => {})
        c.on('data', (d: Buffer) => {
          backendBytes += d.length
        })
        c.pipe(c)
      })
      backends.push(s)
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
      return (s.address() as AddressInfo).port
    }
    const port = await freePort()
    const serverArgs = (who: 'nas' | 'guest', target: number): string[] => [
      'proxy',
      'server',
      '--listen',
      `127.0.0.1:${port}`,
      '--target',
      `127.0.0.1:${target}`,
      '--service',
      'echo',
      ...creds(who),
      '--policy',
      join(dir, 'policy.yaml')
    ]
    const proxyKnown = join(dir, 'proxy-known-peers')
    const client = await start(
      [
        'proxy',
        'client',
        '--listen',
        '127.0.0.1:0',
        '--connect',
        `127.0.0.1:${port}`,
        ...creds('alice'),
        '--known-peers',
        proxyKnown,
        '--json'
      ],
      /"event":"listening","address":"127\.0\.0\.1:(\d+)"/
    )
    const local = Number(client.match[1])
    const lines: Array<Record<string, unknown>> = []
    let buffered = ''
    client.proc.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString()
      const parts = buffered.split('\n')
      buffered = parts.pop() as string
      for (const p of parts) if (p.trim() !== '') lines.push(JSON.parse(p) as Record<string, unknown>)
    })
    const echo = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const chunks: Buffer[] = []
        const s = connect({ port: local, host: '127.0.0.1', allowHalfOpen: true })
        s.on('error', () => resolve(Buffer.concat(chunks).toString()))
        s.on('data', (c: Buffer) => chunks.push(c))
        s.on('close', () => resolve(Buffer.concat(chunks).toString()))
        s.on('connect', () => s.end(text))
      })
    const waitFor = async (pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
      for (let i = 0; i < 600; i++) {
        const hit = lines.find(pred)
        if (hit !== undefined) return hit
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`no such event: ${JSON.stringify(lines)}`)
    }
    try {
      const nas = await start(serverArgs('nas', await backend()), /listening on/)
      try {
        expect(await echo('hello nas')).toBe('hello nas')
        expect(await waitFor((l) => l.event === 'server')).toMatchObject({
          name: 'nas',
          peerId: lan.peer('nas').peerId,
          accepted: 'recorded'
        })
      } finally {
        await nas.stop()
      }
      const before = backendBytes
      const guest = await start(serverArgs('guest', await backend()), /listening on/)
      try {
        expect(await echo('for nas only')).toBe('')
        expect(await waitFor((l) => l.event === 'refused')).toMatchObject({ code: 'channel-known-peer-changed' })
        expect(backendBytes).toBe(before)
      } finally {
        await guest.stop()
      }
      expect(await readFile(proxyKnown, 'utf8')).toContain(`proxy@127.0.0.1:${port} ${lan.peer('nas').peerId}\n`)
    } finally {
      await client.stop()
      for (const s of backends) await new Promise<void>((r) => s.close(() => r()))
    }
  }, 120_000)
})
