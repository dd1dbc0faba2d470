/**
 * The workspace LAN test bed: network namespaces on a Linux bridge (10.79.13.0/24, traffic only
 * there) — the admin's machine (a real `peerguard node` of the built CLI, its CA directory beside
 * it), 20 members (each its own namespace and veth, `netns-member.mjs`: the node's workspace
 * runtime without the services, so 20 of them fit 2 busy cores) and an intruder
 * (`lan-intruder.mjs`). Multicast discovery (TTL 1) on the bridge. `ca revoke --publish` on the
 * admin: every member applies the bundle; when it really connects to the revoked peer its
 * handshake fails with the code, and when the revoked peer connects to it, it refuses it
 * (`cert-revoked`); `workspace publish --policy`: the policy decides everywhere; the
 * intruder's forged, other-workspace and replayed announcements and its rollback bundle are
 * refused with their codes; a member whose link was down during a change catches up. Times are
 * printed (median, worst), never asserted. Needs root and `ip netns`; everything is removed after.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, expect, jest } from '@jest/globals'
import { generateKeyPair, keyPairFromSeed } from '@peerguard/identity'
import { type CertificateAuthority, createCertificateAuthority, initCaDirectory } from '@peerguard/pki'
import { needs, writeNodeDir } from '@peerguard/test-utils'
import { signBundle } from '../src/index.js'

jest.setTimeout(600_000)

const ROOT = join(import.meta.dirname, '..', '..', '..')
const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js')
const PEERS = Math.max(4, Math.min(60, Number(process.env.PEERGUARD_LAN_PEERS ?? 20) || 20))
const NET = '10.79.13'
const GROUP = '239.255.77.77'
const PORT = 47177
const tag = randomBytes(3).toString('hex')
const ns = (h: string): string => `pgl-${tag}-${h}`
const WAIT_MS = 240_000
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const POLICY = (rule: string): string => `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: ${rule}
    allow: [read]
    peers: [staff]
    resources: ["share:docs/**"]
`

interface Host {
  name: string
  ip: string
  veth: string
  peerId: string
  serial: string
  child?: ChildProcessWithoutNullStreams
  servicePort: number
  members: string[]
  bundle: number
  bundleAt: number
  policy: { rule: string | null; allowed: boolean; at: number } | undefined
  probe: { refused: boolean; code?: string; cause?: string | null } | undefined
  probes: number
  refused: Array<{ code: string; from: string }>
  waiters: Array<() => void>
  stderr: string[]
}

const gate = needs('netns', 'workspace LAN test bed: 22 network namespaces on a bridge')
let dir: string
let caDir: string
let ca: CertificateAuthority
const hosts: Host[] = []
const members: Host[] = []
let admin: Host
let intruder: Host
let adminLog = ''
/** When the admin's node said it took each bundle version (ms since the epoch). */
const adminTook = new Map<number, number>()

function sh(...args: string[]): void {
  execFileSync(args[0] as string, args.slice(1), { stdio: 'pipe' })
}

function until(h: Host, ok: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      h.waiters = h.waiters.filter((w) => w !== check)
      reject(new Error(`${h.name}: timed out waiting for ${what}; members ${h.members.join(',')}; stderr: ${h.stderr.join('')}`))
    }, WAIT_MS)
    const check = (): void => {
      if (!ok()) return
      clearTimeout(timer)
      h.waiters = h.waiters.filter((w) => w !== check)
      resolve()
    }
    h.waiters.push(check)
    check()
  })
}

function host(name: string, last: number, index: number): Host {
  return {
    name,
    ip: `${NET}.${last}`,
    veth: `pl${tag}${index}`,
    peerId: '',
    serial: '',
    servicePort: 0,
    members: [],
    bundle: 0,
    bundleAt: 0,
    policy: undefined,
    probe: undefined,
    probes: 0,
    refused: [],
    waiters: [],
    stderr: []
  }
}

/** A namespace with a veth on the bridge, its address and a multicast route. */
function plug(h: Host): void {
  sh('ip', 'netns', 'add', ns(h.name))
  sh('ip', 'link', 'add', h.veth, 'type', 'veth', 'peer', 'name', `${h.veth}b`)
  sh('ip', 'link', 'set', h.veth, 'netns', ns(h.name))
  sh('ip', 'link', 'set', `${h.veth}b`, 'netns', ns('br'))
  sh('ip', '-n', ns('br'), 'link', 'set', `${h.veth}b`, 'master', 'br0')
  sh('ip', '-n', ns('br'), 'link', 'set', `${h.veth}b`, 'up')
  sh('ip', '-n', ns(h.name), 'addr', 'add', `${h.ip}/24`, 'dev', h.veth)
  sh('ip', '-n', ns(h.name), 'link', 'set', h.veth, 'up')
  sh('ip', '-n', ns(h.name), 'link', 'set', 'lo', 'up')
  sh('ip', '-n', ns(h.name), 'route', 'replace', '224.0.0.0/4', 'dev', h.veth)
}

/** Run a script of this folder in `h`'s namespace; its JSON lines update `h`. */
function run(h: Host, script: string, env: Record<string, string>): void {
  const child = spawn('ip', ['netns', 'exec', ns(h.name), process.execPath, join(import.meta.dirname, script)], {
    env: { ...process.env, ...env },
    stdio: 'pipe'
  })
  h.child = child
  child.stderr.on('data', (c: Buffer) => h.stderr.push(c.toString()))
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as Record<string, unknown>
    if (e.event === 'ready') h.servicePort = (e.servicePort as number | undefined) ?? 0
    if (e.event === 'members') h.members = e.names as string[]
    if (e.event === 'bundle') [h.bundle, h.bundleAt] = [e.version as number, e.at as number]
    if (e.event === 'policy') h.policy = { rule: e.rule as string | null, allowed: e.allowed as boolean, at: e.at as number }
    if (e.event === 'probe') [h.probe, h.probes] = [e as Host['probe'], h.probes + 1]
    if (e.event === 'refused') h.refused.push({ code: e.code as string, from: e.from as string })
    for (const w of [...h.waiters]) w()
  })
}

async function issue(h: Host): Promise<{ seed: Uint8Array; publicKey: Uint8Array; chain: Uint8Array[]; pem: string }> {
  const seed = generateKeyPair().secretKey.slice(0, 32)
  const identity = keyPairFromSeed(seed)
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name: h.name, groups: ['staff'] })
  h.peerId = cert.peerId
  h.serial = cert.serial
  return { seed, publicKey: identity.publicKey, chain: cert.chain, pem: cert.chainPem }
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8' })
}

const ms = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b)
  return `median ${s[Math.floor(s.length / 2)]} ms, worst ${s[s.length - 1]} ms`
}

gate.describe(`workspace LAN: ${PEERS} members, the admin's node and an intruder on a bridge (root + ip netns)`, () => {
  beforeAll(async () => {
    try {
      execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT, stdio: 'pipe' })
    } catch (err) {
      if (!existsSync(BIN)) throw err
    }
    dir = await mkdtemp(join(tmpdir(), 'pg-ws-lan-'))
    await mkdir(join(dir, 'admin'))
    caDir = join(dir, 'ca')
    ca = await initCaDirectory(caDir, { name: 'LAN Workspace CA' })
    sh('ip', 'netns', 'add', ns('br'))
    sh('ip', '-n', ns('br'), 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
    sh('ip', '-n', ns('br'), 'link', 'set', 'br0', 'up')
    admin = host('admin', 1, 0)
    intruder = host('intruder', 254, 99)
    for (let i = 1; i <= PEERS; i++) members.push(host(`m${String(i).padStart(2, '0')}`, 10 + i, i))
    hosts.push(admin, ...members, intruder)
    for (const h of hosts) plug(h)
    // the admin's machine: a real node (CA directory beside it), multicast on its veth
    const a = join(dir, 'admin')
    const adminCred = await issue(admin)
    await writeNodeDir(a, {
      identity: keyPairFromSeed(adminCred.seed),
      chain: adminCred.pem,
      root: ca.certificate,
      crl: (await ca.crl()).der,
      policy: POLICY('docs-read'),
      config: `shares:
  - name: docs
    path: docs
    listen: ${admin.ip}:0
workspace:
  multicast: ${GROUP}:${PORT}
  interface: ${admin.ip}
  listen: ${admin.ip}:47178
  announce-interval-ms: 1000
  bundle-dir: workspace`
    })
    const node = spawn('ip', ['netns', 'exec', ns('admin'), process.execPath, BIN, 'node', '--config', 'node.yaml', '--json'], {
      cwd: a,
      stdio: 'pipe'
    })
    admin.child = node
    node.stdout.on('data', (c: Buffer) => {
      adminLog += c.toString()
      for (const w of [...admin.waiters]) w()
    })
    node.stderr.on('data', (c: Buffer) => {
      adminLog += c.toString()
      for (const m of c.toString().matchAll(/published bundle version (\d+)/g)) adminTook.set(Number(m[1]), Date.now())
      for (const w of [...admin.waiters]) w()
    })
    await until(admin, () => adminLog.includes('"event":"ready"'), 'the admin node ready')
    const crl = hex((await ca.crl()).der)
    for (const m of members) {
      const cred = await issue(m)
      const setup = {
        seed: hex(cred.seed),
        chain: cred.chain.map(hex),
        root: hex(ca.certificate),
        crl,
        group: GROUP,
        port: PORT,
        interface: m.ip,
        interval: 1000,
        timeout: 30_000,
        members: 1,
        policy: true,
        decide: { peer: { peerId: m.peerId, name: m.name, groups: ['staff'] }, action: 'read', resource: 'share:docs/plan.txt' }
      }
      run(m, 'netns-member.mjs', { PG_MEMBER: JSON.stringify(setup) })
    }
    // the intruder: the public root, what it hears, one insider credential and an old bundle
    const rogue = host('rogue', 254, 98)
    const rogueCred = await issue(rogue)
    const old = signBundle({ version: 1, issuedAtMs: Date.now() - 3_600_000, crls: [(await ca.crl()).der] }, ca)
    const otherCa = await createCertificateAuthority({ name: 'Another LAN CA' })
    run(intruder, 'lan-intruder.mjs', {
      PG_INTRUDER: JSON.stringify({
        root: hex(ca.certificate),
        otherRoot: hex(otherCa.certificate),
        victim: hex(adminCred.publicKey),
        rogue: { seed: hex(rogueCred.seed), chain: rogueCred.chain.map(hex) },
        crl,
        oldBundle: hex(old),
        group: GROUP,
        port: PORT,
        interface: intruder.ip
      })
    })
    const everyone = ['admin', ...members.map((m) => m.name)]
    const t0 = Date.now()
    await Promise.all(
      members.map((m) => until(m, () => everyone.every((n) => n === m.name || m.members.includes(n)), 'every other member'))
    )
    process.stderr.write(`workspace LAN: ${PEERS} members and the admin's node found one another in ${Date.now() - t0} ms\n`)
  })

  afterAll(async () => {
    await Promise.all(
      hosts.map(
        (h) =>
          new Promise<void>((resolve) => {
            const c = h.child
            if (c === undefined || c.exitCode !== null || c.signalCode !== null) return resolve()
            c.once('exit', () => resolve())
            c.kill('SIGTERM')
          })
      )
    )
    for (const h of hosts) spawnSync('ip', ['netns', 'del', ns(h.name)], { stdio: 'pipe' })
    spawnSync('ip', ['netns', 'del', ns('br')], { stdio: 'pipe' })
    if (dir !== undefined) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  gate.it('ca revoke --publish on the admin: every member applies it and refuses the revoked peer with the code', async () => {
    const revoked = members[members.length - 1] as Host
    const others = members.filter((m) => m !== revoked)
    const t0 = Date.now()
    const r = cli([
      'ca',
      'revoke',
      '--ca',
      caDir,
      '--serial',
      revoked.serial,
      '--publish',
      join(dir, 'admin', 'workspace'),
      '--json'
    ])
    expect([r.status, r.stderr]).toEqual([0, ''])
    expect(JSON.parse(r.stdout)).toMatchObject({ published: { version: 1 } })
    await Promise.all(others.map((m) => until(m, () => m.bundle >= 1 && !m.members.includes(revoked.name), 'bundle 1')))
    const applied = others.map((m) => m.bundleAt - t0)
    // each really connects to the revoked peer's workspace service and is refused by the handshake
    await Promise.all(
      others.map((m) => {
        m.probe = undefined
        m.child?.stdin.write(
          `${JSON.stringify({ probe: { host: revoked.ip, port: revoked.servicePort, peerId: revoked.peerId } })}\n`
        )
        return until(m, () => m.probe !== undefined, 'its probe of the revoked peer')
      })
    )
    const refusedAt = Date.now() - t0
    const took = (adminTook.get(1) as number) - t0
    for (const m of others)
      expect({ m: m.name, ...m.probe }).toMatchObject({
        m: m.name,
        refused: true,
        code: 'workspace-fetch-failed',
        cause: 'cert-revoked'
      })
    // and the revoked peer connects to every member's service: each member's handshake refuses it
    for (const m of others)
      revoked.child?.stdin.write(`${JSON.stringify({ probe: { host: m.ip, port: m.servicePort, peerId: m.peerId } })}\n`)
    await until(revoked, () => revoked.probes >= others.length, 'its probes of every member')
    // (the listener names the refused peer by its IP address)
    const byRevoked = (m: Host): boolean => m.refused.some((x) => x.code === 'cert-revoked' && x.from === revoked.ip)
    await Promise.all(
      others.map((m) =>
        until(m, () => byRevoked(m), `refusing the revoked peer (cert-revoked); refused ${JSON.stringify(m.refused.slice(-5))}`)
      )
    )
    expect(adminLog).toContain('published bundle version 1')
    process.stderr.write(
      `workspace LAN: ca revoke --publish → the admin's node took the bundle at ${took} ms (CLI start-up included); ${others.length} members applied the revocation in ${ms(applied)} (from the node taking it: ${ms(applied.map((t) => t - took))}); all refused the revoked peer by ${refusedAt} ms\n`
    )
  })

  gate.it('a policy change reaches every member; one whose link was down during it catches up when it returns', async () => {
    const away = members[members.length - 2] as Host
    const online = members.slice(0, -2)
    sh('ip', '-n', ns(away.name), 'link', 'set', away.veth, 'down')
    const file = join(dir, 'policy-v2.yaml')
    await writeFile(file, POLICY('docs-read-v2'))
    const t0 = Date.now()
    const r = cli([
      'workspace',
      'publish',
      '--ca',
      caDir,
      '--policy',
      file,
      '--bundle-dir',
      join(dir, 'admin', 'workspace'),
      '--json'
    ])
    expect([r.status, r.stderr]).toEqual([0, ''])
    await Promise.all(online.map((m) => until(m, () => m.policy?.rule === 'docs-read-v2', 'policy docs-read-v2')))
    for (const m of online) expect(m.policy).toMatchObject({ rule: 'docs-read-v2', allowed: true })
    expect(await readFile(join(dir, 'admin', 'policy.yaml'), 'utf8')).toBe(POLICY('docs-read-v2'))
    expect(away.bundle).toBe(1)
    const times = online.map((m) => (m.policy?.at as number) - t0)
    const took = (adminTook.get(2) as number) - t0
    const t1 = Date.now()
    sh('ip', '-n', ns(away.name), 'link', 'set', away.veth, 'up')
    sh('ip', '-n', ns(away.name), 'route', 'replace', '224.0.0.0/4', 'dev', away.veth)
    await until(away, () => away.policy?.rule === 'docs-read-v2' && away.bundle === 2, 'catching up to bundle 2')
    process.stderr.write(
      `workspace LAN: workspace publish --policy → the admin's node took it at ${took} ms; ${online.length} members decide by the new policy in ${ms(times)} (from the node taking it: ${ms(times.map((t) => t - took))}); the member back online caught up in ${away.bundleAt - t1} ms\n`
    )
  })

  gate.it(
    "the intruder's forged, other-workspace and replayed announcements and its rollback bundle are refused with their codes",
    async () => {
      const listening = members.slice(0, -1)
      const attacks: Array<[string, string]> = [
        ['forged', 'workspace-announce-signature'],
        ['other-workspace', 'workspace-announce-other-workspace'],
        ['replay', 'workspace-announce-replayed'],
        ['stale', 'workspace-bundle-stale']
      ]
      const fromIntruder = (m: Host, code: string): boolean =>
        m.refused.some((x) => x.code === code && x.from.startsWith(`${intruder.ip}:`))
      for (const [attack, code] of attacks) {
        // again every second until every member refused it (a busy member may drop a datagram or defer a pull)
        const again = (): boolean => intruder.child?.stdin.write(`${JSON.stringify({ attack })}\n`) ?? false
        again()
        const timer = setInterval(again, 1000)
        try {
          await Promise.all(listening.map((m) => until(m, () => fromIntruder(m, code), `${code} from the intruder`)))
        } finally {
          clearInterval(timer)
        }
      }
      for (const m of listening) {
        expect(m.bundle).toBe(2)
        expect(m.members).toContain('admin')
      }
      expect(members.every((m) => !m.members.includes('intruder'))).toBe(true)
    }
  )
})
