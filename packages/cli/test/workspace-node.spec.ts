/**
 * Two `peerguard node`s in one workspace, black box over 127.0.0.1 (unicast announcements, no
 * multicast): each lists the other in `peerguard peers`; on the admin's side `ca revoke` then
 * `workspace publish --bundle-dir` (the CA's new CRL and a new policy, version 1) reaches the other
 * node, which writes both into its files, applies them through its live reload, and then refuses
 * the revoked peer's channel; `ca revoke --publish` makes version 2.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { generateKeyPair, type KeyPair, saveIdentity } from '@peerguard/identity'
import { type CertificateAuthority, createTrustStore, initCaDirectory, pemEncode } from '@peerguard/pki'
import { channelTransport, connectShare } from '@peerguard/share'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(180_000)

const POLICY = (rule: string): string => `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: ${rule}
    allow: [read]
    peers: [staff]
    resources: ["share:docs/**"]
`
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

interface Member {
  name: string
  peerId: string
  identity: KeyPair
  chainPem: string
  serial: string
  dir: string
  udpPort: number
}
interface Peers {
  workspaceId: string
  bundleVersion: number
  peers: Array<{ name?: string; up: boolean; state: string; services: Array<{ kind: string; name: string }> }>
}

let base: string
let caDir: string
let ca: CertificateAuthority
const members: Record<string, Member> = {}
const children: ChildProcessWithoutNullStreams[] = []
const member = (name: string): Member => members[name] as Member

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function issue(name: string): Promise<Member> {
  const identity = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['staff'] })
  return {
    name,
    peerId: cert.peerId,
    identity,
    chainPem: cert.pem,
    serial: cert.serial,
    dir: join(base, name),
    udpPort: await freeUdpPort()
  }
}

async function writeNode(m: Member, other: Member): Promise<void> {
  await mkdir(join(m.dir, 'docs'), { recursive: true })
  await saveIdentity(join(m.dir, 'node.key'), m.identity)
  await writeFile(join(m.dir, 'node.pem'), m.chainPem)
  await writeFile(join(m.dir, 'ca.pem'), ca.certificatePem)
  await writeFile(join(m.dir, 'ca.crl'), pemEncode((await ca.crl()).der, 'X509 CRL'))
  await writeFile(join(m.dir, 'policy.yaml'), POLICY('docs-read'))
  await writeFile(
    join(m.dir, 'node.yaml'),
    `identity: node.key
cert: node.pem
trust: ca.pem
crl: [ca.crl]
policy: policy.yaml
runtime-dir: xdg/peerguard
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
workspace:
  multicast: false
  udp-port: ${m.udpPort}
  listen: 127.0.0.1:0
  peers: [127.0.0.1:${other.udpPort}]
  announce-interval-ms: 200
  bundle-dir: workspace
`
  )
}

function startNode(m: Member): Promise<{ shares: number }> {
  const child = spawn(process.execPath, [BIN, 'node', '--config', 'node.yaml', '--json'], { cwd: m.dir, stdio: 'pipe' })
  children.push(child)
  const stderr: string[] = []
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()))
  let out = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      if (line === undefined) return
      const ready = JSON.parse(line) as { services: Array<{ name: string; listening: string }> }
      resolve({
        shares: Number(
          ready.services
            .find((s) => s.name === 'docs')
            ?.listening.split(':')
            .pop()
        )
      })
    })
    child.on('exit', (code) => reject(new Error(`node ${m.name} exited with ${code}:\n${stderr.join('')}`)))
  })
}

async function peersOf(m: Member): Promise<Peers> {
  const r = await runCli(['peers', '--config', join(m.dir, 'node.yaml'), '--all', '--json'])
  expect(r.stderr).toBe('')
  return JSON.parse(r.stdout) as Peers
}

/** Ask the node until `ok` holds (each poll is a real answer; the deadline is generous). */
async function peersUntil(m: Member, ok: (p: Peers) => boolean, what: string): Promise<Peers> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const p = await peersOf(m)
    if (ok(p)) return p
    if (Date.now() > deadline) throw new Error(`${m.name}: never ${what}: ${JSON.stringify(p)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

let laptopShare = 0

beforeAll(async () => {
  ensureCliBuilt()
  base = await mkdtemp(join(tmpdir(), 'pg-ws-node-'))
  caDir = join(base, 'ca')
  ca = await initCaDirectory(caDir, { name: 'Office CA' })
  for (const name of ['hq', 'laptop', 'rogue', 'rogue2']) members[name] = await issue(name)
  await writeNode(member('hq'), member('laptop'))
  await writeNode(member('laptop'), member('hq'))
  await startNode(member('hq'))
  laptopShare = (await startNode(member('laptop'))).shares
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))))
  await rm(base, { recursive: true, force: true, maxRetries: 5 })
})

async function rogueConnects(): Promise<void> {
  const rogue = member('rogue')
  const transport = channelTransport({
    identity: rogue.identity,
    chain: [new Uint8Array(Buffer.from(rogue.chainPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'))],
    trust: createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der], requireCrl: false })
  })
  const client = await connectShare({ host: '127.0.0.1', port: laptopShare }, { transport })
  await client.list('')
  await client.close()
}

describe('two nodes in one workspace', () => {
  it('each lists the other as a member, with its share', async () => {
    const p = await peersUntil(member('hq'), (x) => x.peers.some((q) => q.name === 'laptop' && q.up), 'listed laptop')
    expect(p.peers.find((q) => q.name === 'laptop')?.services).toEqual([{ kind: 'share', name: 'docs', port: laptopShare }])
    await peersUntil(member('laptop'), (x) => x.peers.some((q) => q.name === 'hq' && q.up), 'listed hq')
    const text = await runCli(['peers', '--config', join(member('laptop').dir, 'node.yaml')])
    expect(text.stdout).toMatch(/^ {2}hq {2}\S+ {2}up {2}127\.0\.0\.1 {2}v0 {2}share:docs@\d+$/m)
    await expect(rogueConnects()).resolves.toBeUndefined() // not revoked yet
    const status = await runCli(['node', 'status', '--config', join(member('hq').dir, 'node.yaml')])
    expect(status.stdout).toMatch(/^workspace [0-9a-f]{32}: bundle version 0, 1 member up \(peerguard peers\)$/m)
  })

  it('a share client names a member instead of HOST:PORT; the local node resolves it and its peer ID is pinned', async () => {
    const hq = member('hq')
    await writeFile(join(member('laptop').dir, 'docs', 'plan.txt'), 'plan')
    const creds = ['--identity', 'node.key', '--cert', 'node.pem', '--trust', 'ca.pem', '--crl', 'ca.crl', '--json']
    const env = { XDG_RUNTIME_DIR: join(hq.dir, 'xdg') }
    const ls = await runCli(['share', 'ls', 'laptop/docs', ...creds], { cwd: hq.dir, env })
    expect(ls.code).toBe(0)
    expect(ls.stderr).toMatch(new RegExp(`server laptop/docs: laptop \\(${member('laptop').peerId}\\), pinned`))
    expect(JSON.parse(ls.stdout)).toMatchObject({ entries: [expect.objectContaining({ name: 'plan.txt' })] })
    const nobody = await runCli(['share', 'ls', 'nobody', ...creds], { cwd: hq.dir, env })
    expect([nobody.code, nobody.stderr]).toEqual([3, expect.stringMatching(/nobody: no workspace member by that name/)])
  })

  it('a revocation and a policy published on the admin node are applied by the other node', async () => {
    const revoke = await runCli(['ca', 'revoke', '--ca', caDir, '--serial', member('rogue').serial])
    expect(revoke.code).toBe(0)
    const policyFile = join(base, 'new-policy.yaml')
    await writeFile(policyFile, POLICY('docs-read-v2'))
    const hqBundles = join(member('hq').dir, 'workspace')
    const pub = await runCli(['workspace', 'publish', '--ca', caDir, '--policy', policyFile, '--bundle-dir', hqBundles, '--json'])
    expect([pub.code, pub.stderr]).toEqual([0, ''])
    expect(JSON.parse(pub.stdout)).toMatchObject({ version: 1 })
    await peersUntil(member('laptop'), (x) => x.bundleVersion === 1, 'held bundle version 1')
    const laptop = member('laptop')
    expect(await readFile(join(laptop.dir, 'policy.yaml'), 'utf8')).toBe(POLICY('docs-read-v2'))
    const status = await runCli(['node', 'status', '--config', join(laptop.dir, 'node.yaml'), '--json'])
    expect((JSON.parse(status.stdout) as { policy: { sha256: string } }).policy.sha256).toBe(sha256(POLICY('docs-read-v2')))
    // the laptop's channel now refuses the revoked peer
    await expect(rogueConnects()).rejects.toMatchObject({ code: expect.stringMatching(/revoked|refused/) })
  })

  it('ca revoke --publish makes the next bundle, version 2; publish without a destination is a usage error', async () => {
    const hqBundles = join(member('hq').dir, 'workspace')
    await peersUntil(member('hq'), (x) => x.bundleVersion === 1, 'held bundle version 1')
    const pub = await runCli([
      'ca',
      'revoke',
      '--ca',
      caDir,
      '--serial',
      member('rogue2').serial,
      '--publish',
      hqBundles,
      '--json'
    ])
    expect(JSON.parse(pub.stdout)).toMatchObject({ serial: member('rogue2').serial, published: { version: 2 } })
    await peersUntil(member('laptop'), (x) => x.bundleVersion === 2, 'held bundle version 2')
    const bad = await runCli(['workspace', 'publish', '--ca', caDir])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--bundle-dir DIR \(the admin node\) or --out FILE/)
  })
})
