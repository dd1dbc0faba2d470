/**
 * The office in network namespaces (issue 14, "Done when"): a file server host running a real
 * hardened `peerguard share serve` (policy, decision log) AND a plain share, a staff host and a
 * guest host, joined by veth pairs to a bridge in a fourth namespace; tcpdump captures the bridge,
 * then `peerguard audit read --policy --inventory --decision-log` judges the flows. The guest's
 * legitimate hardened read is NOT a policy-violation; the guest's write to public/ over the PLAIN
 * share, which the policy forbids, IS. Traffic stays inside the namespaces created here. Needs
 * root, iproute2 and tcpdump: needs() skips visibly, or fails under PEERGUARD_REQUIRE_ALL=1.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, jest } from '@jest/globals'
import { type LanCa, makeLanCa, needs } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'

jest.setTimeout(300_000)

const office = needs(['netns', 'tcpdump'], 'audit-netns: the office in network namespaces')
const tag = randomBytes(3).toString('hex')
const HOSTS = { srv: '10.79.0.2', staff: '10.79.0.10', guest: '10.79.0.50' } as const
type Host = keyof typeof HOSTS
const ns = (h: string): string => `pgau-${tag}-${h}`
const veth = (h: string): string => `pa${tag}${h.slice(0, 2)}`
const HARD = `${HOSTS.srv}:4455`
const PLAIN = `${HOSTS.srv}:4456`

const POLICY = `version: 1
peers:
  alice: { name: alice }
  carol: { name: carol }
groups:
  staff: [alice]
  guests: [carol]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: guests-read-public
    allow: [read]
    peers: [guests]
    resources: ["share:office/public/**"]
`

let dir: string
const peerIds: Record<string, string> = {}
let lan: LanCa
const procs: ChildProcess[] = []

function sh(...args: string[]): void {
  execFileSync(args[0] as string, args.slice(1), { stdio: 'pipe' })
}

/** A long-running process inside a namespace; resolves once `ready` shows on stdout or stderr. */
async function start(host: string, cmd: string[], ready: RegExp): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ns(host), ...cmd], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  procs.push(p)
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const seen = (d: Buffer): void => {
      out += d.toString()
      if (ready.test(out)) resolve()
    }
    p.stdout?.on('data', seen)
    p.stderr?.on('data', seen)
    p.once('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)))
  })
  return p
}

function stop(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve()
    p.once('exit', () => resolve())
    p.kill(signal)
  })
}

/** The built CLI inside a host's namespace, run to completion. */
function cli(host: Host, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns(host), process.execPath, BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const creds = (name: string): string[] => lan.creds(name)

office.describe('the office in network namespaces, audited (root, iproute2, tcpdump)', () => {
  beforeAll(async () => {
    ensureCliBuilt()
    dir = await mkdtemp(join(tmpdir(), 'pg-audit-netns-'))
    sh('ip', 'netns', 'add', ns('br'))
    sh('ip', '-n', ns('br'), 'link', 'add', 'br0', 'type', 'bridge')
    sh('ip', '-n', ns('br'), 'link', 'set', 'br0', 'up')
    for (const [h, addr] of Object.entries(HOSTS)) {
      const link = veth(h)
      sh('ip', 'netns', 'add', ns(h))
      sh('ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}b`)
      sh('ip', 'link', 'set', link, 'netns', ns(h))
      sh('ip', 'link', 'set', `${link}b`, 'netns', ns('br'))
      sh('ip', '-n', ns('br'), 'link', 'set', `${link}b`, 'master', 'br0')
      sh('ip', '-n', ns('br'), 'link', 'set', `${link}b`, 'up')
      sh('ip', '-n', ns(h), 'addr', 'add', `${addr}/24`, 'dev', link)
      sh('ip', '-n', ns(h), 'link', 'set', link, 'up')
      sh('ip', '-n', ns(h), 'link', 'set', 'lo', 'up')
    }
    lan = await makeLanCa({
      dir,
      name: 'Netns Office CA',
      peers: [
        { name: 'fileserver', groups: ['servers'] },
        { name: 'alice', groups: ['staff'] },
        { name: 'carol', groups: ['guests'] }
      ]
    })
    for (const p of Object.values(lan.peers)) peerIds[p.name] = p.peerId
    await writeFile(join(dir, 'office.yaml'), POLICY)
    await writeFile(
      join(dir, 'inventory.yaml'),
      `peers:
  - name: fileserver
    peerId: ${peerIds.fileserver}
    groups: [servers]
    addresses: [${HOSTS.srv}]
    share: office
    hardened: true
  - name: alice
    peerId: ${peerIds.alice}
    groups: [staff]
    addresses: [${HOSTS.staff}]
  - name: carol
    peerId: ${peerIds.carol}
    groups: [guests]
    addresses: [${HOSTS.guest}]
`
    )
    await mkdir(join(dir, 'office', 'public'), { recursive: true })
    await mkdir(join(dir, 'office', 'docs'))
    await writeFile(join(dir, 'office', 'public', 'notice.txt'), 'Lunch on Friday.\n')
    await writeFile(join(dir, 'office', 'docs', 'plan.txt'), 'the plan\n')
    await cp(join(dir, 'office'), join(dir, 'plain', 'office'), { recursive: true })
    await writeFile(join(dir, 'flyer.txt'), 'guest flyer\n')
  }, 300_000)

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')))
    for (const h of [...Object.keys(HOSTS), 'br']) spawnSync('ip', ['netns', 'del', ns(h)], { stdio: 'pipe' })
    if (dir !== undefined) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  office.it(
    'hardened guest read is allowed by its decision-log entries; the plain write to public/ is a policy-violation',
    async () => {
      const capture = join(dir, 'office.pcap')
      // tcpdump on the file server's link (the bridge device itself would not see the unicast it
      // forwards between ports); IPv4 only, not the namespaces' own IPv6 autoconfiguration. The
      // traffic starts once tcpdump says it listens. --immediate-mode: every packet is written as it
      // arrives, so none is left in the kernel's buffer when tcpdump is stopped.
      const tcpdump = await start(
        'srv',
        ['tcpdump', '-i', veth('srv'), '-n', '--immediate-mode', '-U', '-s', '0', '-w', capture, 'ip'],
        /listening on/
      )
      const hardened = await start(
        'srv',
        [
          process.execPath,
          BIN,
          'share',
          'serve',
          join(dir, 'office'),
          ...creds('fileserver'),
          '--policy',
          join(dir, 'office.yaml'),
          '--name',
          'office',
          '--listen',
          HARD,
          '--log',
          join(dir, 'decisions.jsonl')
        ],
        / on 10\.79\.0\.2:4455/
      )
      const plain = await start(
        'srv',
        [process.execPath, BIN, 'share', 'serve', join(dir, 'plain', 'office'), '--plain', '--name', 'office', '--listen', PLAIN],
        / on 10\.79\.0\.2:4456/
      )
      const expectServer = ['--expect-peer', peerIds.fileserver as string]
      // carol (guest) reads public/ over the hardened share: allowed.
      const got = cli('guest', [
        'share',
        'get',
        HARD,
        'public/notice.txt',
        join(dir, 'carol-notice.txt'),
        ...creds('carol'),
        ...expectServer
      ])
      expect([got.code, got.stderr]).toEqual([0, expect.any(String)])
      expect(await readFile(join(dir, 'carol-notice.txt'), 'utf8')).toBe('Lunch on Friday.\n')
      // alice (staff) reads docs/ over the hardened share: allowed.
      const doc = cli('staff', [
        'share',
        'get',
        HARD,
        'docs/plan.txt',
        join(dir, 'alice-plan.txt'),
        ...creds('alice'),
        ...expectServer
      ])
      expect([doc.code, doc.stderr]).toEqual([0, expect.any(String)])
      // carol writes to public/ over the PLAIN share: the plain share cannot refuse, the policy forbids it.
      const put = cli('guest', ['share', 'put', PLAIN, join(dir, 'flyer.txt'), 'public/flyer.txt'])
      expect([put.code, put.stderr]).toEqual([0, expect.any(String)])
      await stop(hardened, 'SIGTERM') // closes the decision log with its final checkpoint
      await stop(plain, 'SIGTERM')
      await stop(tcpdump, 'SIGINT')

      const audit = spawnSync(
        process.execPath,
        [
          BIN,
          'audit',
          'read',
          capture,
          '--policy',
          join(dir, 'office.yaml'),
          '--inventory',
          join(dir, 'inventory.yaml'),
          '--decision-log',
          join(dir, 'decisions.jsonl'),
          '--log-key',
          peerIds.fileserver as string,
          '--json',
          '--no-write'
        ],
        { cwd: dir, encoding: 'utf8', timeout: 120_000 }
      )
      expect(audit.stderr).not.toMatch(/internal error/)
      const report = JSON.parse(audit.stdout)
      type F = { code: string; flow?: { src: string; dst: string; dstPort: number }; evidence: Record<string, unknown> }
      const findings: F[] = report.findings
      const on = (port: number, src: string) => findings.filter((f) => f.flow?.dstPort === port && f.flow.src === src)
      // The log verified and covers the hardened flows; only the plain share, which logs nothing, is unlogged.
      expect(findings.filter((f) => f.code === 'decision-log-unverified')).toEqual([])
      expect(findings.filter((f) => f.code === 'unlogged-access').map((f) => f.flow?.dstPort)).toEqual([4456])
      // The guest's and the staff's legitimate hardened sessions are not violations.
      expect(on(4455, HOSTS.guest).filter((f) => f.code === 'policy-violation')).toEqual([])
      expect(on(4455, HOSTS.staff).filter((f) => f.code === 'policy-violation')).toEqual([])
      expect(findings.filter((f) => f.code === 'peerguard-channel').length).toBeGreaterThanOrEqual(2)
      // The guest's write to public/ over the plain share is flagged, with the path.
      const violations = on(4456, HOSTS.guest).filter((f) => f.code === 'policy-violation')
      expect(violations).toHaveLength(1)
      expect(JSON.stringify(violations[0]?.evidence)).toContain('public/flyer.txt')
      expect(on(4456, HOSTS.guest).map((f) => f.code)).toContain('peerguard-plain')
      // Every unicast flow of the capture is between the namespaces' addresses. The kernel's own
      // link-local chatter on the new segment (IGMP/mDNS from 0.0.0.0 or to a multicast or
      // broadcast group) never leaves it and is not a flow of ours.
      const segmentOnly = (a: string): boolean => a === '0.0.0.0' || a === '255.255.255.255' || /^2(2[4-9]|3\d)\./.test(a)
      const ours = (report.flows as { src: string; dst: string }[]).filter((f) => !segmentOnly(f.src) && !segmentOnly(f.dst))
      expect(ours.length).toBeGreaterThan(0)
      for (const f of ours) {
        expect(Object.values(HOSTS)).toContain(f.src)
        expect(Object.values(HOSTS)).toContain(f.dst)
      }
      for (const f of report.flows as { src: string; dst: string }[]) {
        expect([f, (Object.values(HOSTS) as string[]).includes(f.src) || segmentOnly(f.src)]).toEqual([f, true])
        expect([f, (Object.values(HOSTS) as string[]).includes(f.dst) || segmentOnly(f.dst)]).toEqual([f, true])
      }
    }
  )
})
