/**
 * Issue 11 items 1 and 3 on the command line (the built `peerguard` binary, real processes on
 * 127.0.0.1): hardened commands refuse to start without a current CRL for every CA and name it;
 * `--trust FILE --crl FILE` works; the explicit `--allow-missing-crl` opt-out warns and is recorded
 * in the decision log; a stale CRL is refused by name; start-up lists the CRLs in force and warns
 * well before one goes stale; an intermediate's peer is refused with only the root's CRL.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type CertificateAuthority, createCertificateAuthority } from '@peerguard/pki'
import { type LanCa, makeLanCa, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from '../packages/cli/test/built-cli.js'

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-all
    allow: [read, write, get]
    peers: [staff]
    resources: ["share:office/**", "service:echo", "swarm:**"]
`
const DAY = 86_400_000

let dir: string
let ca: CertificateAuthority
let bobSerial = ''
const children: Spawned[] = []
let lan: LanCa

function pg(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Start a long-running command; resolve once stdout says it listens, with what stderr said until then. */
async function start(args: string[]): Promise<Spawned & { addr: string; stderr: () => string }> {
  const s = await spawnAndWait(process.execPath, [BIN, ...args], { cwd: dir, readyLine: /(127\.0\.0\.1:\d+)/ })
  children.push(s)
  return { ...s, addr: s.match[1] as string, stderr: s.err }
}

/** Issue a peer and write its key and chain; returns its serial. */
async function peer(name: string, groups: string[], issuer: CertificateAuthority = ca): Promise<string> {
  return (await lan.issue(name, groups, { issuer })).serial
}

const creds = (who: string, ...trust: string[]): string[] => [
  '--identity',
  `${who}.key`,
  '--cert',
  `${who}.pem`,
  '--trust',
  'ca.pem',
  ...trust
]
const serveArgs = (...trust: string[]): string[] => [
  'share',
  'serve',
  'office',
  ...creds('nas', ...trust),
  '--policy',
  'office.yaml',
  '--listen',
  '127.0.0.1:0'
]

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'pki-crl-cli-'))
  // ca.pem, ca.crl, and each peer's <name>.key and <name>.pem
  lan = await makeLanCa({
    dir,
    name: 'Home LAN CA',
    peers: ['nas', 'alice', 'bob'].map((name) => ({ name, groups: ['staff'] }))
  })
  ca = lan.ca
  bobSerial = lan.peer('bob').serial
  await writeFile(join(dir, 'office.yaml'), POLICY)
  await mkdir(join(dir, 'office'))
  await writeFile(join(dir, 'office', 'notice.txt'), 'hello\n')
}, 120_000)

afterAll(async () => {
  for (const c of children) void c.stop('SIGKILL')
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('fail closed: no CRL, no start', () => {
  it('share serve, swarm seed, proxy server and the clients refuse without a CRL and name the CA', () => {
    expect(
      pg('swarm', 'publish', 'office/notice.txt', '--identity', 'nas.key', '--cert', 'nas.pem', '--out', 'n.pgswarm').code
    ).toBe(0)
    const cases: string[][] = [
      serveArgs(),
      ['swarm', 'seed', 'n.pgswarm', 'office/notice.txt', ...creds('nas'), '--listen', '127.0.0.1:0'],
      ['swarm', 'fetch', 'n.pgswarm', '--peer', '127.0.0.1:9', '--out', 'n.txt', ...creds('alice')],
      ['share', 'get', '127.0.0.1:9', 'notice.txt', 'x.txt', ...creds('alice')],
      [
        'proxy',
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:9',
        '--service',
        'echo',
        ...creds('nas'),
        '--policy',
        'office.yaml'
      ],
      ['proxy', 'client', '--listen', '127.0.0.1:0', '--connect', '127.0.0.1:9', ...creds('alice')],
      ['cert', 'verify', 'alice.pem', '--trust', 'ca.pem']
    ]
    for (const args of cases) {
      const r = pg(...args, '--json')
      expect({ args: args.slice(0, 2), code: r.code }).toEqual({ args: args.slice(0, 2), code: 1 })
      expect(`${r.stdout}${r.stderr}`).toContain('crl-missing')
      expect(`${r.stdout}${r.stderr}`).toContain('Home LAN CA')
    }
    const plain = pg(...serveArgs())
    expect(plain.stderr).toMatch(/^peerguard: error: no CRL from "Home LAN CA" \(CN=Home LAN CA\) is loaded: refusing to start/m)
    expect(plain.stderr).toMatch(/^peerguard: hint: .*--crl FILE.*--allow-missing-crl/m)
  })

  it('a stale CRL is refused by name; a short-lived one starts with an early warning', async () => {
    const past = Date.now() - 10 * DAY
    const old = await createCertificateAuthority({ name: 'Old CA', clock: { now: () => past } })
    await writeFile(join(dir, 'old.pem'), old.certificatePem)
    await writeFile(join(dir, 'old.crl'), (await old.crl({ days: 1 })).pem)
    const stale = pg(...serveArgs('--crl', 'ca.crl'), '--trust', 'old.pem', '--crl', 'old.crl')
    expect(stale.code).toBe(1)
    expect(stale.stderr).toMatch(/error: CRL for "Old CA": stale since /)
    // a CRL that goes stale within 24 h: the server starts, lists it and warns
    await writeFile(join(dir, 'short.crl'), (await ca.crl({ days: 1 })).pem)
    const s = await start(serveArgs('--crl', 'short.crl'))
    try {
      expect(s.stderr()).toMatch(/"msg":"crl: CN=Home LAN CA #\d+ from short\.crl: current until \S+ \(23h \d+m left\)"/)
      expect(s.stderr()).toMatch(
        /"level":"warn","event":"notice","msg":"the CRL of CN=Home LAN CA goes stale at \S+ \(in 23h \d+m\): sign a fresh one/
      )
    } finally {
      await s.stop()
    }
  }, 60_000)
})

describe('--trust FILE --crl FILE', () => {
  it('serves and connects; start-up lists the CRL in force', async () => {
    const s = await start(serveArgs('--crl', 'ca.crl'))
    try {
      expect(s.stderr()).toMatch(/"msg":"crl: CN=Home LAN CA #1 from ca\.crl: current until \S+ \(6d 23h left\)"/)
      expect(s.stderr()).not.toContain('goes stale at')
      const got = pg('share', 'get', s.addr, 'notice.txt', 'got.txt', ...creds('alice', '--crl', 'ca.crl'))
      expect(got.stderr).not.toContain('error')
      expect(got.code).toBe(0)
      expect(await readFile(join(dir, 'got.txt'), 'utf8')).toBe('hello\n')
    } finally {
      await s.stop()
    }
  }, 60_000)

  it('a revoked peer is refused once the CRL lists it, and logged with cert-revoked', async () => {
    expect((await ca.revoke(bobSerial, 'keyCompromise')).name).toBe('bob')
    await writeFile(join(dir, 'revoked.crl'), (await ca.crl()).pem)
    const s = await start([...serveArgs('--crl', 'revoked.crl'), '--log', 'decisions.jsonl'])
    try {
      const bob = pg('share', 'get', s.addr, 'notice.txt', 'bob.txt', ...creds('bob', '--crl', 'revoked.crl'), '--json')
      expect(bob.code).not.toBe(0)
      const alice = pg('share', 'get', s.addr, 'notice.txt', 'alice.txt', ...creds('alice', '--crl', 'revoked.crl'))
      expect(alice.code).toBe(0)
    } finally {
      await s.stop()
    }
    const log = await readFile(join(dir, 'decisions.jsonl'), 'utf8')
    expect(log).toContain('"cert-revoked"')
  }, 60_000)
})

describe('--allow-missing-crl: the explicit, logged opt-out', () => {
  it('warns at start-up, records the choice in the decision log, and then does not check revocation', async () => {
    const s = await start([...serveArgs('--allow-missing-crl'), '--log', 'optout.jsonl'])
    try {
      expect(s.stderr()).toMatch(
        /"level":"warn","event":"notice","msg":"--allow-missing-crl: revocation is NOT checked for peers of CN=Home LAN CA \(a revoked certificate is accepted\)"/
      )
      // bob is revoked, but nobody gave this server a CRL: the degraded mode lets him in
      const bob = pg('share', 'get', s.addr, 'notice.txt', 'bob-optout.txt', ...creds('bob', '--allow-missing-crl'))
      expect(bob.stderr).toContain('--allow-missing-crl')
      expect(bob.code).toBe(0)
    } finally {
      await s.stop()
    }
    const records = (await readFile(join(dir, 'optout.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records).toContainEqual(
      expect.objectContaining({
        kind: 'reload',
        event: 'applied',
        what: 'trust',
        code: 'crl-missing',
        reason: 'started with --allow-missing-crl: revocation not checked for CN=Home LAN CA'
      })
    )
  }, 60_000)
})

describe('intermediates need their own CRL', () => {
  it("a peer certified by an intermediate is refused when only the root's CRL is loaded, accepted with both", async () => {
    const inter = await ca.issueIntermediate({ name: 'Issuing CA' })
    await peer('carol', ['staff'], inter)
    await writeFile(join(dir, 'root.crl'), (await ca.crl()).pem)
    await writeFile(join(dir, 'issuing.crl'), (await inter.crl()).pem)
    const s = await start([...serveArgs('--crl', 'root.crl'), '--log', 'inter.jsonl'])
    try {
      const refused = pg(
        'share',
        'get',
        s.addr,
        'notice.txt',
        'carol.txt',
        ...creds('carol', '--crl', 'root.crl', '--crl', 'issuing.crl')
      )
      expect(refused.code).not.toBe(0)
    } finally {
      await s.stop()
    }
    const log = await readFile(join(dir, 'inter.jsonl'), 'utf8')
    expect(log).toContain('crl-missing')
    // the client itself refuses to start with only the root CRL: its own chain has the intermediate
    const self = pg('share', 'get', '127.0.0.1:9', 'notice.txt', 'c.txt', ...creds('carol', '--crl', 'root.crl'))
    expect(self.code).toBe(1)
    expect(self.stderr).toContain('no CRL from "Issuing CA" (CN=Issuing CA) is loaded')
    const both = await start([...serveArgs('--crl', 'root.crl', '--crl', 'issuing.crl')])
    try {
      expect(both.stderr()).toContain('"msg":"crl: CN=Issuing CA #1 from issuing.crl')
      const ok = pg(
        'share',
        'get',
        both.addr,
        'notice.txt',
        'carol.txt',
        ...creds('carol', '--crl', 'root.crl', '--crl', 'issuing.crl')
      )
      expect(ok.stderr).not.toContain('error')
      expect(ok.code).toBe(0)
    } finally {
      await both.stop()
    }
  }, 90_000)
})
