// A three-host LAN made of network namespaces (one per host, veth pairs to a bridge in a fourth),
// with the built `peerguard swarm` command on each host: one seeder, two leechers that also serve
// each other. Needs root and iproute2: needs() skips visibly, or fails under PEERGUARD_REQUIRE_ALL=1.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { type LanCa, makeLanCa, needs } from '@peerguard/test-utils'

const ROOT = join(import.meta.dirname, '..')
const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js')

const netns = needs('netns', 'swarm-netns: three hosts in network namespaces')
const tag = randomBytes(3).toString('hex')
const HOSTS = ['a', 'b', 'c'] as const
const ns = (h: string): string => `pgsw-${tag}-${h}`
const ip = (h: string): string => `10.77.0.${HOSTS.indexOf(h as (typeof HOSTS)[number]) + 1}`

const POLICY = `version: 1
groups:
  team: ["ou:team"]
rules:
  - id: team-on-the-lan
    allow: [read]
    peers: [team]
    resources: ["swarm:*"]
    when: { networks: ["10.77.0.0/24"] }
  - id: team-seeds
    allow: [write]
    peers: [team]
    resources: ["swarm:*"]
`

function sh(...args: string[]): void {
  execFileSync(args[0] as string, args.slice(1), { stdio: 'pipe' })
}

let dir: string
let lan: LanCa
const procs: ChildProcess[] = []

function inHost(host: string, args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', ns(host), process.execPath, BIN, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  procs.push(p)
  return p
}

function cred(name: string): string[] {
  return [...lan.creds(name), '--policy', join(dir, 'swarm.yaml')]
}

/** The exit code and the two streams apart: with --json, stdout is the JSON alone; who answered goes to stderr. */
function finished(p: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  p.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  p.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, stdout, stderr })))
}

netns.describe('swarm across three network namespaces (root + iproute2)', () => {
  beforeAll(async () => {
    try {
      execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT, stdio: 'pipe' })
    } catch (err) {
      if (!existsSync(BIN)) throw err
    }
    dir = await mkdtemp(join(tmpdir(), 'pg-swarm-netns-'))
    sh('ip', 'netns', 'add', ns('br'))
    sh('ip', '-n', ns('br'), 'link', 'add', 'br0', 'type', 'bridge')
    sh('ip', '-n', ns('br'), 'link', 'set', 'br0', 'up')
    for (const h of HOSTS) {
      const veth = `pg${tag}${h}`
      sh('ip', 'netns', 'add', ns(h))
      sh('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}b`)
      sh('ip', 'link', 'set', veth, 'netns', ns(h))
      sh('ip', 'link', 'set', `${veth}b`, 'netns', ns('br'))
      sh('ip', '-n', ns('br'), 'link', 'set', `${veth}b`, 'master', 'br0')
      sh('ip', '-n', ns('br'), 'link', 'set', `${veth}b`, 'up')
      sh('ip', '-n', ns(h), 'addr', 'add', `${ip(h)}/24`, 'dev', veth)
      sh('ip', '-n', ns(h), 'link', 'set', veth, 'up')
      sh('ip', '-n', ns(h), 'link', 'set', 'lo', 'up')
    }
    // revocation is required: ca.pem with ca.crl
    lan = await makeLanCa({
      dir,
      name: 'Netns Swarm CA',
      peers: ['alice', 'bob', 'carol'].map((name) => ({ name, groups: ['team'] }))
    })
    await writeFile(join(dir, 'swarm.yaml'), POLICY)
    await writeFile(join(dir, 'data.bin'), randomBytes(8 * 1024 * 1024 + 99))
  }, 180_000)

  afterAll(async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve()
            p.once('exit', () => resolve())
            p.kill('SIGTERM')
          })
      )
    )
    for (const h of [...HOSTS, 'br']) spawnSync('ip', ['netns', 'del', ns(h)], { stdio: 'pipe' })
    if (dir !== undefined) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('a seeder on host a and two leechers on b and c that serve each other; every copy is exact', async () => {
    const pub = spawnSync(
      process.execPath,
      [
        BIN,
        'swarm',
        'publish',
        'data.bin',
        '--identity',
        join(dir, 'alice.key'),
        '--cert',
        join(dir, 'alice.pem'),
        '--out',
        'data.pgswarm',
        '--name',
        'lan-data',
        '--piece-size',
        '65536'
      ],
      { cwd: dir, encoding: 'utf8' }
    )
    expect(pub.status).toBe(0)
    const seeder = inHost('a', [
      'swarm',
      'seed',
      'data.pgswarm',
      'data.bin',
      ...cred('alice'),
      '--listen',
      `${ip('a')}:6881`,
      '--log',
      'alice.log',
      '--max-upload',
      String(2 * 1024 * 1024)
    ])
    await new Promise<void>((resolve, reject) => {
      let out = ''
      seeder.stdout?.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('seeding')) resolve()
      })
      seeder.stderr?.on('data', (d: Buffer) => {
        out += d.toString()
      })
      seeder.once('exit', () => reject(new Error(`seeder exited: ${out}`)))
    })
    const bob = finished(
      inHost('b', [
        '--json',
        'swarm',
        'fetch',
        'data.pgswarm',
        '--peer',
        `${ip('a')}:6881`,
        '--peer',
        `${ip('c')}:6881`,
        '--out',
        'bob.bin',
        '--listen',
        `${ip('b')}:6881`,
        ...cred('bob')
      ])
    )
    const carol = finished(
      inHost('c', [
        '--json',
        'swarm',
        'fetch',
        'data.pgswarm',
        '--peer',
        `${ip('a')}:6881`,
        '--peer',
        `${ip('b')}:6881`,
        '--out',
        'carol.bin',
        '--listen',
        `${ip('c')}:6881`,
        ...cred('carol')
      ])
    )
    const [b, c] = await Promise.all([bob, carol])
    expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 })
    expect({ code: c.code, stderr: c.stderr }).toMatchObject({ code: 0 })
    // each fetch said on stderr which servers answered (first use: recorded in the known-peers file)
    for (const r of [b, c]) expect(r.stderr).toMatch(/peerguard: server 10\.77\.0\.1:6881: alice \(/)
    const want = createHash('sha256')
      .update(await readFile(join(dir, 'data.bin')))
      .digest('hex')
    // The seeder uploads at most 2 MiB/s, so bob and carol finish by serving each other.
    const fromB = (JSON.parse(c.stdout) as { piecesFrom: Record<string, number> }).piecesFrom[lan.peer('bob').peerId] ?? 0
    const fromC = (JSON.parse(b.stdout) as { piecesFrom: Record<string, number> }).piecesFrom[lan.peer('carol').peerId] ?? 0
    expect(fromB + fromC).toBeGreaterThan(0)
    for (const f of ['bob.bin', 'carol.bin'])
      expect(
        createHash('sha256')
          .update(await readFile(join(dir, f)))
          .digest('hex')
      ).toBe(want)
    // The seeder saw the leechers at their LAN addresses, and the policy's networks rule let them in.
    const log = await readFile(join(dir, 'alice.log'), 'utf8')
    expect(log).toMatch(/"address":"10\.77\.0\.[23]:\d+"/)
    expect(log).toContain('"rule":{"id":"team-on-the-lan"')
  }, 120_000)
})
