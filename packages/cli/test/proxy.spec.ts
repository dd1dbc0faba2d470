import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { verifyDecisionLog } from '@peerguard/decision-log'
import { type LanCa, makeLanCa, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { eventually } from './eventually.js'

const POLICY = `version: 1
groups:
  fam: ["ou:family"]
rules:
  - id: family-echo
    allow: [get]
    peers: [fam]
    resources: ["service:echo"]
`

let dir: string
let lan: LanCa
let echo: Server
let echoPort: number
const children: ChildProcess[] = []

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-proxy-'))
  // revocation is required: the trust folder (`trust`) holds the root and its CRL
  lan = await makeLanCa({
    dir,
    crlFormat: 'der',
    peers: [
      { name: 'alice', groups: ['family'] },
      { name: 'bob', groups: ['friends'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
  await writeFile(join(dir, 'policy.yaml'), POLICY)
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  echoPort = (echo.address() as AddressInfo).port
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await new Promise((r) => echo.close(r))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

interface Running {
  child: ChildProcess
  port: number
  stderr: () => string
  exited: Promise<number | null>
}

/** Start `peerguard proxy …`, wait for its "listening on HOST:PORT" line. */
async function start(args: string[]): Promise<Running> {
  const s = await spawnAndWait(process.execPath, [BIN, 'proxy', ...args], {
    cwd: dir,
    readyLine: /listening on 127\.0\.0\.1:(\d+)/,
    timeoutMs: 120_000
  })
  children.push(s.proc)
  return { child: s.proc, port: Number(s.match[1]), stderr: s.err, exited: s.exited }
}

function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    s.on('data', (c: Buffer) => chunks.push(c))
    const done = (): void => {
      resolve(Buffer.concat(chunks))
      s.destroy()
    }
    s.on('end', done)
    s.on('error', done)
    s.on('close', done)
    s.on('connect', () => s.end(data))
  })
}

const serverArgs = (extra: string[] = []): string[] => [
  'server',
  '--listen',
  '127.0.0.1:0',
  '--target',
  `127.0.0.1:${echoPort}`,
  '--service',
  'echo',
  '--identity',
  'nas.key',
  '--cert',
  'nas.pem',
  '--trust',
  'trust',
  '--policy',
  'policy.yaml',
  ...extra
]
const clientArgs = (peer: string, serverPort: number, extra: string[] = []): string[] => [
  'client',
  '--listen',
  '127.0.0.1:0',
  '--connect',
  `127.0.0.1:${serverPort}`,
  '--identity',
  `${peer}.key`,
  '--cert',
  `${peer}.pem`,
  '--trust',
  'trust',
  '--peer',
  lan.peer('nas').peerId,
  ...extra
]

describe('peerguard proxy server / client (built binary)', () => {
  for (const tls of [false, true]) {
    it(`carries data for an allowed peer, refuses a denied one, logs both, and stops cleanly on SIGTERM${tls ? ' (--tls)' : ''}`, async () => {
      const logPath = join(dir, `decisions-${tls ? 'tls' : 'noise'}.log`)
      const mode = tls ? ['--tls'] : []
      const server = await start(serverArgs(['--log', logPath, ...mode]))
      const alice = await start(clientArgs('alice', server.port, mode))
      const bob = await start(clientArgs('bob', server.port, mode))

      const data = randomBytes(1024 * 1024)
      expect((await roundTrip(alice.port, data)).equals(data)).toBe(true)
      expect((await roundTrip(bob.port, Buffer.from('let me in'))).length).toBe(0)
      // the log lines come through pipes from other processes: wait for them (a fixed 200 ms was
      // too short on a busy machine), then check what they say
      await eventually(() => /refused bob/.test(server.stderr()), "the server's refusal line")
      expect(server.stderr()).toMatch(/accepted alice/)
      expect(server.stderr()).toMatch(/refused bob .*deny-default/)
      if (!tls) {
        await eventually(() => /warning: connection refused/.test(bob.stderr()), "bob's client warning")
        expect(bob.stderr()).toMatch(/warning: connection refused \(proxy-denied\): the server refused: deny-default: /)
      }

      for (const r of [alice, bob, server]) r.child.kill('SIGTERM')
      for (const r of [alice, bob, server]) expect(await r.exited).toBe(0)

      const report = verifyDecisionLog(await readFile(logPath), { key: lan.peer('nas').identity.publicKey })
      expect(report.firstBad).toBeUndefined()
      const lines = (await readFile(logPath, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const decisions = lines.filter((l) => l.kind === 'connection')
      expect(decisions.map((d) => [d.event, d.code])).toEqual([
        ['accepted', 'allow'],
        ['refused', 'deny-default']
      ])
    }, 180_000)
  }

  it('reloads on SIGHUP: a bad policy keeps the old one and says so', async () => {
    const policyPath = join(dir, 'hup.yaml')
    await writeFile(policyPath, POLICY)
    const server = await start(serverArgs(['--policy', 'hup.yaml']))
    const alice = await start(clientArgs('alice', server.port))
    await writeFile(policyPath, 'version: 1\nrules: [ {')
    server.child.kill('SIGHUP')
    // wait for the reload's report (a fixed 500 ms sleep could end before a busy server read the file)
    await eventually(() => /new policy rejected/.test(server.stderr()), 'the rejected reload to be reported')
    expect(server.stderr()).toMatch(/"level":"warn","event":"reload".*reload: new policy rejected \(policy-parse-error\)/)
    expect((await roundTrip(alice.port, Buffer.from('still served'))).toString()).toBe('still served')
    // a valid policy that denies everyone takes effect for new connections
    await writeFile(policyPath, 'version: 1\nrules: []\n')
    const mark = server.stderr().length
    server.child.kill('SIGHUP')
    await eventually(() => /reloaded/.test(server.stderr().slice(mark)), 'the second reload to be applied')
    expect((await roundTrip(alice.port, Buffer.from('now denied'))).length).toBe(0)
    for (const r of [alice, server]) r.child.kill('SIGINT')
    for (const r of [alice, server]) expect(await r.exited).toBe(0)
  }, 180_000)

  it.each([
    [
      [
        'server',
        '--listen',
        'nope',
        '--target',
        '127.0.0.1:1',
        '--service',
        'x',
        '--identity',
        'nas.key',
        '--cert',
        'nas.pem',
        '--trust',
        'trust',
        '--policy',
        'policy.yaml'
      ],
      2,
      /--listen: expected HOST:PORT/
    ],
    [
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:1',
        '--service',
        'x',
        '--identity',
        'nas.key',
        '--cert',
        'nas.pem',
        '--trust',
        'trust'
      ],
      2,
      /give --policy FILE, or at least one --allow-group or --allow-peer/
    ],
    [
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:1',
        '--service',
        'x',
        '--identity',
        'missing.key',
        '--cert',
        'nas.pem',
        '--trust',
        'trust',
        '--policy',
        'policy.yaml'
      ],
      3,
      /missing\.key/
    ],
    [
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:1',
        '--service',
        'x',
        '--identity',
        'nas.key',
        '--cert',
        'alice.pem',
        '--trust',
        'trust',
        '--policy',
        'policy.yaml'
      ],
      3,
      /not issued for the key/
    ],
    [
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:1',
        '--service',
        'x',
        '--identity',
        'nas.key',
        '--cert',
        'nas.pem',
        '--trust',
        'trust',
        '--policy',
        'policy.yaml',
        '--idle-timeout',
        'soon'
      ],
      2,
      /--idle-timeout: expected a whole number/
    ],
    [
      [
        'client',
        '--listen',
        '0.0.0.0:0',
        '--connect',
        '127.0.0.1:1',
        '--identity',
        'alice.key',
        '--cert',
        'alice.pem',
        '--trust',
        'trust'
      ],
      2,
      /not a loopback address/
    ],
    [
      [
        'client',
        '--listen',
        '127.0.0.1:0',
        '--connect',
        '127.0.0.1:1',
        '--identity',
        'alice.key',
        '--cert',
        'alice.pem',
        '--trust',
        'trust',
        '--peer',
        'XYZ'
      ],
      2,
      /--peer: peer ID/
    ]
  ])('bad input case %# exits with its code and a one-line error, no stack trace', (args, code, message) => {
    const r = spawnSync(process.execPath, [BIN, 'proxy', ...(args as string[])], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
    expect(r.status).toBe(code)
    expect(r.stderr).toMatch(/^peerguard: error: /)
    expect(r.stderr).toMatch(message as RegExp)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(r.stdout).toBe('')
  })

  it('--json prints machine-readable lines: listening, each accepted peer, each refusal with its code', async () => {
    const child = spawn(process.execPath, [BIN, 'proxy', ...serverArgs(['--json'])], { cwd: dir, stdio: 'pipe' })
    children.push(child)
    const lines: Array<Record<string, unknown>> = []
    let buffered = ''
    const next = (): Promise<Record<string, unknown>> =>
      new Promise((resolve) => {
        const check = (): void => {
          const line = lines.shift()
          if (line !== undefined) resolve(line)
          else setTimeout(check, 20)
        }
        check()
      })
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString()
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        lines.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
      }
    })
    const listening = await next()
    expect(listening).toMatchObject({
      event: 'listening',
      resource: 'service:echo',
      mode: 'noise',
      target: `127.0.0.1:${echoPort}`
    })
    const port = Number(String(listening.address).split(':')[1])
    const alice = await start(clientArgs('alice', port))
    expect((await roundTrip(alice.port, Buffer.from('x'))).toString()).toBe('x')
    // Accepted and refused lines name the peer with the same keys.
    const addr = expect.stringMatching(/^127\.0\.0\.1:\d+$/)
    expect(await next()).toEqual({ event: 'accepted', peerId: lan.peer('alice').peerId, peer: 'alice', addr })
    const bob = await start(clientArgs('bob', port))
    await roundTrip(bob.port, Buffer.from('x'))
    expect(await next()).toMatchObject({
      event: 'refused',
      code: 'deny-default',
      peerId: lan.peer('bob').peerId,
      peer: 'bob',
      addr
    })
    alice.child.kill('SIGTERM')
    bob.child.kill('SIGTERM')
    child.kill('SIGTERM')
    expect(await new Promise((r) => child.on('exit', r))).toBe(0)
  }, 180_000)

  it('has --help with an example', () => {
    const r = spawnSync(process.execPath, [BIN, 'proxy', 'server', '--help'], { cwd: dir, encoding: 'utf8' })
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/Example:\n\s+\$ peerguard proxy server/)
  })
})
