import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { generateKeyPair, isKeystoreEncrypted } from '@peerguard/identity'
import { pemDecode } from '@peerguard/pki'
import { announceKeyOf, sealAnnouncement, workspaceIdOf } from '@peerguard/workspace'
import { type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'
import { makeCliCa } from './cli-ca.js'

// The CA node and the share run as processes (built binary); under load they take seconds to start.
jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  family: ["ou:family"]
rules:
  - id: family-reads-docs
    allow: [read]
    peers: [family]
    resources: ["share:docs/**"]
`

let dir: string
let caNode: Spawned & { addr: string }

/** Resolve once `text` is in what the process wrote on stdout (waits on the stream, no sleeps). */
function printed(p: Spawned, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (!p.out().includes(text)) return false
      p.proc.stdout?.off('data', onData)
      resolve()
      return true
    }
    const onData = (): void => void setImmediate(check)
    if (check()) return
    p.proc.stdout?.on('data', onData)
    void p.exited.then(() => {
      if (!check()) reject(new Error(`the process exited without printing ${text}`))
    })
  })
}

function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

async function ok(...args: string[]): Promise<CliRun> {
  const r = await peerguard(...args)
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
  return r
}

async function token(name: string, groups: string, extra: string[] = []): Promise<string> {
  const r = await ok(
    'ca',
    'token',
    '--ca',
    'ca',
    '--name',
    name,
    '--groups',
    groups,
    '--address',
    caNode.addr,
    '--json',
    ...extra
  )
  return (JSON.parse(r.stdout) as { token: string }).token
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-join-'))
  await makeCliCa(dir, {
    caName: 'Join Test CA',
    members: [
      { name: 'admin', groups: ['admins'] },
      { name: 'alice', groups: ['family'] }
    ],
    crl: true
  })
  await writeFile(join(dir, 'policy.yaml'), POLICY)
  const s = await spawnAndWait(
    process.execPath,
    [
      BIN,
      'ca',
      'serve-enrollment',
      '--ca',
      'ca',
      '--passphrase-file',
      'ca.pass',
      '--identity',
      'admin.key',
      '--cert',
      'admin.pem',
      '--listen',
      '127.0.0.1:0',
      '--policy',
      'policy.yaml',
      '--log',
      'enroll.jsonl'
    ],
    { cwd: dir, readyLine: /enrollment service on (127\.0\.0\.1:\d+)/ }
  )
  caNode = { ...s, addr: s.match[1] as string }
}, 180_000)

afterAll(async () => {
  await caNode?.stop()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard ca token / join (black box CA node)', () => {
  it('enrolls a new member who can then list a share hosted by an existing member', async () => {
    const line = await token('carol', 'family')
    expect(line).toMatch(/^pgjoin1-[a-z2-7]+$/)
    const joined = await peerguard('join', line, '--dir', 'carol', '--json')
    expect(joined.code).toBe(0)
    const info = JSON.parse(joined.stdout) as { name: string; groups: string[]; peerId: string }
    expect(info).toMatchObject({ name: 'carol', groups: ['family'] })
    await printed(caNode, `enrolled carol as ${info.peerId}`)
    expect((await stat(join(dir, 'carol', 'identity.key'))).mode & 0o777).toBe(0o600)
    expect(await readFile(join(dir, 'carol', 'policy.yaml'), 'utf8')).toBe(POLICY)
    // the starter config names every file join wrote; with a service added it checks clean
    const config = join(dir, 'carol', 'node.yaml')
    await writeFile(
      config,
      `${await readFile(config, 'utf8')}shares:\n  - name: docs\n    path: ${join(dir, 'docs')}\n    listen: 127.0.0.1:0\n`
    )
    await mkdir(join(dir, 'docs'), { recursive: true })
    const check = await peerguard('node', 'check', config)
    expect(check.stderr).toBe('')
    expect(check.code).toBe(0)

    await mkdir(join(dir, 'docs', 'notes'))
    await writeFile(join(dir, 'docs', 'notes', 'minutes.txt'), 'agenda\n')
    const share = await spawnAndWait(
      process.execPath,
      [
        BIN,
        'share',
        'serve',
        join(dir, 'docs'),
        '--identity',
        'alice.key',
        '--cert',
        'alice.pem',
        '--trust',
        join('ca', 'ca.pem'),
        '--crl',
        join('ca', 'crl.pem'),
        '--policy',
        'policy.yaml',
        '--listen',
        '127.0.0.1:0'
      ],
      { cwd: dir, readyLine: / on (127\.0\.0\.1:\d+)/ }
    )
    try {
      const addr = share.match[1] as string
      const c = join(dir, 'carol')
      const ls = await peerguard(
        'share',
        'ls',
        addr,
        'notes',
        '--identity',
        join(c, 'identity.key'),
        '--cert',
        join(c, 'cert.pem'),
        '--trust',
        join(c, 'trust')
      )
      expect(ls.stderr).not.toMatch(/error/)
      expect(ls.code).toBe(0)
      expect(ls.stdout).toMatch(/minutes\.txt/)
    } finally {
      await share.stop()
    }
  })

  it('refuses a replayed token with enroll-token-used and writes nothing', async () => {
    const line = await token('dave', 'family')
    expect((await peerguard('join', line, '--dir', 'dave')).code).toBe(0)
    const again = await peerguard('join', line, '--dir', 'dave2', '--json')
    expect(again.code).toBe(1)
    expect(JSON.parse(again.stdout.slice(0, again.stdout.lastIndexOf('}') + 1)).error.code).toBe('enroll-token-used')
    await expect(stat(join(dir, 'dave2', 'identity.key'))).rejects.toThrow()
  })

  it('refuses an expired token (enroll-token-expired)', async () => {
    const line = await token('erin', 'family', ['--ttl', '1s'])
    // wait until the token has expired by the CA's clock (1 s ttl; generous margin)
    await new Promise((r) => setTimeout(r, 1500))
    const r = await peerguard('join', line, '--dir', 'erin')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/enroll-token-expired/)
  })

  it('refuses a mangled token before any traffic, without echoing it', async () => {
    const line = await token('frank', 'family')
    // change the third character from the end (part of the checksum) to a different base32 letter
    const mangled = `${line.slice(0, -3)}${line.at(-3) === 'a' ? 'b' : 'a'}${line.slice(-2)}`
    expect(mangled).not.toBe(line)
    const r = await peerguard('join', mangled, '--dir', 'frank')
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/enroll-token-malformed|checksum/)
    expect(r.stderr).not.toContain(mangled.slice(8))
  })

  it('warns on stderr when the token came from the command line (visible in ps)', async () => {
    const line = await token('hugo', 'family')
    const r = await peerguard('join', line, '--dir', 'hugo')
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/warning: a token on the command line is visible to other local users \(ps\)/)
    expect(r.stderr).not.toContain(line)
  })

  it('reads the token from --token-file without a warning, and refuses a token given twice or not at all', async () => {
    const line = await token('ivy', 'family')
    await writeFile(join(dir, 'ivy.token'), `${line}\r\n`, { mode: 0o600 })
    const both = await peerguard('join', line, '--token-file', 'ivy.token', '--dir', 'ivy')
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/not both/)
    const none = await peerguard('join', '--dir', 'ivy')
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/--token-file FILE/)
    const missing = await peerguard('join', '--token-file', 'nope.token', '--dir', 'ivy')
    expect(missing.stderr).toMatch(/nope\.token: no such token file/)
    await expect(stat(join(dir, 'ivy', 'identity.key'))).rejects.toThrow()
    const r = await peerguard('join', '--token-file', 'ivy.token', '--dir', 'ivy', '--json')
    expect(r.stderr).not.toMatch(/warning/)
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'ivy', groups: ['family'] })
  })

  it('reads the token from stdin with - (built binary), without a warning', async () => {
    const line = await token('jack', 'family')
    const child = spawn(process.execPath, [BIN, 'join', '-', '--dir', 'jack'], { cwd: dir, stdio: 'pipe' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.stdin.end(`${line}\n`)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(stderr).not.toMatch(/warning/)
    expect(code).toBe(0)
    expect(stdout).toMatch(/^joined as jack/)
  })

  it('encrypts the new identity with --passphrase-file', async () => {
    await writeFile(join(dir, 'gina.pass'), 'another long passphrase\n')
    const line = await token('gina', 'family')
    expect((await peerguard('join', line, '--dir', 'gina', '--passphrase-file', 'gina.pass')).code).toBe(0)
    expect(isKeystoreEncrypted(new Uint8Array(await readFile(join(dir, 'gina', 'identity.key'))))).toBe(true)
    expect(await readFile(join(dir, 'gina', 'node.yaml'), 'utf8')).toMatch(/# passphrase-file: FILE/)
    const show = await peerguard('id', 'show', join('gina', 'identity.key'), '--passphrase-file', 'gina.pass')
    expect(show.code).toBe(0)
  })

  it("finds the CA node by its workspace's announcements when the token carries no address", async () => {
    const made = await ok('ca', 'token', '--ca', 'ca', '--name', 'hal', '--groups', 'family', '--json')
    const line = (JSON.parse(made.stdout) as { token: string }).token
    const root = pemDecode(await readFile(join(dir, 'ca', 'ca.pem'), 'utf8'), 'CERTIFICATE')
    const probe = createSocket('udp4')
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve))
    const port = probe.address().port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const body = { timestampMs: Date.now(), seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] }
    const datagram = sealAnnouncement(body, {
      identity: generateKeyPair(),
      workspaceId: workspaceIdOf(root),
      key: announceKeyOf(root)
    })
    const sender = createSocket('udp4')
    const timer = setInterval(() => sender.send(datagram, port, '127.0.0.1'), 50)
    try {
      const caPort = caNode.addr.split(':')[1] as string
      const r = await peerguard('join', line, '--dir', 'hal', '--discover', `127.0.0.1:${port}`, '--enroll-port', caPort)
      expect(r.stderr).toMatch(/found a candidate at 127\.0\.0\.1/)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^joined as hal/)
    } finally {
      clearInterval(timer)
      sender.close()
    }
  })

  it("logs every enrollment and refusal in the CA node's decision log", async () => {
    // SIGTERM closes the log: every entry is on disk
    expect(await caNode.stop()).toBe(0)
    const log = await readFile(join(dir, 'enroll.jsonl'), 'utf8')
    expect(log).toMatch(/"verb":"enroll"/)
    expect(log).toMatch(/"code":"enroll-token-used"/)
    expect(log).toMatch(/"name":"carol"/)
    expect(log).toMatch(/"verb":"token"/)
  })
})
