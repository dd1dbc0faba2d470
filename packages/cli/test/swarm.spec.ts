import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LanCa, makeLanCa, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  team: ["ou:team"]
rules:
  - id: team-fetches
    allow: [read]
    peers: [team]
    resources: ["swarm:*"]
  - id: team-seeds
    allow: [write]
    peers: [team]
    resources: ["swarm:*"]
`

let dir: string
let lan: LanCa
const procs: Spawned[] = []

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

function cred(name: string): string[] {
  return lan.creds(name)
}

async function seed(args: string[]): Promise<string> {
  const s = await spawnAndWait(process.execPath, [BIN, 'swarm', 'seed', ...args], {
    cwd: dir,
    readyLine: / on (127\.0\.0\.1:\d+)/
  })
  procs.push(s)
  return s.match[1] as string
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-swarm-'))
  // revocation is required: every hardened command gets the CA's CRL
  lan = await makeLanCa({
    dir,
    name: 'CLI Swarm CA',
    crlFormat: 'der',
    peers: [
      { name: 'alice', groups: ['team'] },
      { name: 'bob', groups: ['team'] },
      { name: 'eve', groups: ['visitors'] }
    ]
  })
  await writeFile(join(dir, 'swarm.yaml'), POLICY)
  await writeFile(join(dir, 'data.bin'), randomBytes(3 * 1024 * 1024 + 17))
}, 180000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard swarm', () => {
  it('publish, seed, fetch: the fetched file is identical; a policy-denied peer gets nothing', async () => {
    const pub = await peerguard(
      '--json',
      'swarm',
      'publish',
      'data.bin',
      '--identity',
      lan.peer('alice').key,
      '--cert',
      lan.peer('alice').cert,
      '--out',
      'data.pgswarm',
      '--name',
      'team-data'
    )
    expect(pub.stderr).toBe('')
    expect(pub.code).toBe(0)
    const info = JSON.parse(pub.stdout) as { swarmId: string; name: string; pieces: number }
    expect(info.name).toBe('team-data')
    expect(info.swarmId).toMatch(/^[0-9a-f]{64}$/)
    const addr = await seed([
      'data.pgswarm',
      'data.bin',
      ...cred('alice'),
      '--policy',
      'swarm.yaml',
      '--listen',
      '127.0.0.1:0',
      '--log',
      'seed.log'
    ])
    const got = await peerguard(
      '--json',
      'swarm',
      'fetch',
      'data.pgswarm',
      '--peer',
      addr,
      '--out',
      'got.bin',
      ...cred('bob'),
      '--policy',
      'swarm.yaml'
    )
    expect(got.code).toBe(0)
    const r = JSON.parse(got.stdout) as { sha256: string; size: number }
    const sha = createHash('sha256')
      .update(await readFile(join(dir, 'data.bin')))
      .digest('hex')
    expect(r.sha256).toBe(sha)
    expect(
      createHash('sha256')
        .update(await readFile(join(dir, 'got.bin')))
        .digest('hex')
    ).toBe(sha)

    const denied = await peerguard(
      'swarm',
      'fetch',
      'data.pgswarm',
      '--peer',
      addr,
      '--out',
      'eve.bin',
      ...cred('eve'),
      '--policy',
      'swarm.yaml'
    )
    expect(denied.code).toBe(3)
    expect(denied.stderr).toMatch(/^peerguard: error: .*swarm-denied/m)
    expect(existsSync(join(dir, 'eve.bin'))).toBe(false)
    expect(await readFile(join(dir, 'seed.log'), 'utf8')).toContain('"allowed":false')
  }, 180_000)

  it('refuses a tampered manifest and bad usage with stable exit codes', async () => {
    const text = await readFile(join(dir, 'data.pgswarm'), 'utf8')
    await writeFile(
      join(dir, 'bad.pgswarm'),
      text.replace(/"size":(\d+)/, (_m, n: string) => `"size":${Number(n) + 1}`)
    )
    const bad = await peerguard(
      '--json',
      'swarm',
      'fetch',
      'bad.pgswarm',
      '--peer',
      '127.0.0.1:9',
      '--out',
      'x.bin',
      ...cred('bob')
    )
    expect(bad.code).not.toBe(0)
    expect(bad.stdout + bad.stderr).toMatch(/swarm-manifest-(invalid|signature)/)
    const noPeer = await peerguard('swarm', 'fetch', 'data.pgswarm', '--out', 'x.bin', ...cred('bob'))
    expect(noPeer.code).toBe(2)
    expect(noPeer.stderr).toMatch(/--peer/)
    const noCreds = await peerguard('swarm', 'seed', 'data.pgswarm', 'data.bin')
    expect(noCreds.code).toBe(2)
    const help = await peerguard('swarm', 'fetch', '--help')
    expect(help.stdout).toContain('Example:')
  }, 180_000)
})
