/**
 * SIGTERM under load, for every long-running command of the built binary (issue 12: once,
 * `proxy server --tls` did not exit on SIGTERM and spun at 100% of a core): `node` (a share and
 * two proxy services, Noise and TLS), `share serve`, `proxy server` (Noise and `--tls`) and
 * `swarm seed`. Each is started, loaded with concurrent clients held mid-transfer (slow readers,
 * a slow upload, paused proxy sockets, rate-limited swarm fetches), sent SIGTERM, and then:
 * - it exits with code 0 within a generous bound (the drain bound plus the hard-stop grace);
 * - the CPU time it used after SIGTERM (utime+stime from /proc/PID/stat, read until it is gone)
 *   is small: a process that spins instead of exiting burns the whole bound;
 * - its decision log verifies (`audit log verify`), holds a start and a stop record (`node` kind, as
 *   the node writes them; the single-purpose commands write them too) and ends signed;
 * - no `.pgtmp` temporary file is left anywhere under the working folder.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { saveIdentity } from '@peerguard/identity'
import { pemEncode } from '@peerguard/pki'
import { channelTransport, connectShare } from '@peerguard/share'
import { createSwarmPeer, parseManifest } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki, writeNodeDir } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(120_000)

/** Generous: the node's drain-seconds (3) plus its 10 s hard stop, with room for a busy machine. */
const EXIT_BOUND_MS = 60_000
/** CPU seconds a process may use between SIGTERM and its exit (closing, a last checkpoint, fsync). */
const CPU_AFTER_SIGTERM_S = 2
const BIG = 32 * 1024 * 1024

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: services
    allow: [get]
    peers: [staff]
    resources: ["service:*"]
  - id: swarms
    allow: [get, put]
    peers: [staff, "ou:servers"]
    resources: ["swarm:*"]
`

let dir: string
let pki: TestPki
let source: Server
let sourcePort: number
const children: ChildProcessWithoutNullStreams[] = []
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** utime+stime of a live process, in seconds; undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // after "pid (comm) ": state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

interface Daemon {
  child: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** Start `peerguard ...args` in `cwd`; resolves once stdout matches `ready`. */
function start(args: string[], ready: RegExp, cwd = dir): Promise<Daemon> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: 'pipe' })
  children.push(child)
  let out = ''
  let err = ''
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (ready.test(out)) resolve({ child, stdout: () => out, stderr: () => err, exited })
    })
    child.on('exit', (code) => reject(new Error(`peerguard ${args.join(' ')} exited with ${code}:\n${err}`)))
  })
}

/** What a command prints once it listens: `"port": N` (share, swarm) or `"address":"127.0.0.1:N"` (proxy). */
const LISTENING = /"port":\s*(\d+)|"address":\s*"127\.0\.0\.1:(\d+)"/

/** The port in the first LISTENING match of a command's output. */
function portIn(text: string): number {
  const m = LISTENING.exec(text)
  if (m === null) throw new Error(`no listening port in:\n${text}`)
  return Number(m[1] ?? m[2])
}

/** Loads stay mid-transfer until stopped; `settled` is every client's end (a value or an error code). */
interface Load {
  settled: Promise<unknown[]>
  close: () => void
}

/** Two slow downloads of a big file and one slow upload, each started before this resolves. */
async function shareLoad(port: number): Promise<Load> {
  const clients = await Promise.all(
    [0, 1, 2].map(async () =>
      connectShare(
        { host: '127.0.0.1', port },
        {
          transport: channelTransport({
            identity: peer('alice').identity,
            chain: peer('alice').chain,
            trust: await pki.trustWithCrl()
          })
        }
      )
    )
  )
  const started: Promise<void>[] = []
  const settled: Promise<unknown>[] = []
  for (const c of clients.slice(0, 2)) {
    let onStart: () => void = () => {}
    started.push(new Promise<void>((r) => (onStart = r)))
    settled.push(
      c
        .read('big.bin', () => sleep(20), { onStart: () => onStart() })
        .then(
          (r) => r.length,
          (e: { code?: string }) => e.code
        )
    )
  }
  let uploading: () => void = () => {}
  started.push(new Promise<void>((r) => (uploading = r)))
  async function* slowly(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 128; i++) {
      if (i === 4) uploading()
      yield Buffer.alloc(64 * 1024, i)
      await sleep(20)
    }
  }
  settled.push(
    (clients[2] as (typeof clients)[number]).write('upload.bin', slowly(), { size: 128 * 64 * 1024 }).then(
      (r) => r.size,
      (e: { code?: string }) => e.code
    )
  )
  await Promise.all(started)
  return {
    settled: Promise.all(settled),
    close: () => {
      for (const c of clients) c.close()
    }
  }
}

/** A `peerguard proxy client` (as alice) and three sockets through it, each paused after its first bytes. */
async function proxyLoad(port: number, tls: boolean): Promise<Load> {
  const client = await start(
    [
      'proxy',
      'client',
      '--identity',
      'alice.key',
      '--cert',
      'alice.pem',
      '--trust',
      'ca.pem',
      '--crl',
      'ca.crl',
      '--connect',
      `127.0.0.1:${port}`,
      '--listen',
      '127.0.0.1:0',
      ...(tls ? ['--tls'] : []),
      '--json'
    ],
    LISTENING
  )
  const local = portIn(client.stdout())
  const sockets: Socket[] = []
  const settled = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ ended: Promise<unknown> }>((resolve, reject) => {
          const s = connect(local, '127.0.0.1')
          sockets.push(s)
          const ended = new Promise<unknown>((r) => s.on('close', () => r('closed')))
          s.on('error', () => {})
          s.once('data', () => {
            s.pause() // mid-transfer: the source keeps writing into full buffers
            resolve({ ended }) // (a promise passed to resolve would be waited for)
          })
          s.once('close', () => reject(new Error(`proxy connection closed before any data:\n${client.stderr()}`)))
        })
    )
  )
  return {
    settled: Promise.all(settled.map((s) => s.ended)),
    close: () => {
      for (const s of sockets) s.destroy()
      client.child.kill('SIGTERM')
    }
  }
}

/** Two fetches of a rate-limited seed, each past its first verified piece. */
async function swarmLoad(port: number, manifestFile: string): Promise<Load> {
  const manifest = parseManifest(readFileSync(manifestFile))
  const peers = await Promise.all(
    [0, 1].map(async () =>
      createSwarmPeer({ identity: peer('alice').identity, chain: peer('alice').chain, trust: await pki.trustWithCrl(), dir })
    )
  )
  const started: Promise<void>[] = []
  const settled = peers.map((p, i) => {
    let progressed: () => void = () => {}
    started.push(new Promise<void>((r) => (progressed = r)))
    return p
      .fetch(manifest, { peers: [`127.0.0.1:${port}`], out: join(dir, `fetched-${i}.bin`), onProgress: () => progressed() })
      .then(
        () => 'complete',
        (e: { code?: string }) => e.code
      )
  })
  await Promise.all(started)
  return { settled: Promise.all(settled), close: () => peers.forEach((p) => void p.close()) }
}

/** Every `.pgtmp` file under `root`. */
function tempFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('.pgtmp'))
}

/** SIGTERM `d` now; its exit code, the wall time to exit and the CPU seconds it used after the signal. */
async function terminate(d: Daemon): Promise<{ code: number | null; ms: number; cpu: number }> {
  const pid = d.child.pid as number
  const before = cpuSeconds(pid) as number
  let last = before
  let gone = false
  const watching = (async () => {
    while (!gone) {
      last = cpuSeconds(pid) ?? last
      await sleep(25)
    }
  })()
  const t0 = Date.now()
  d.child.kill('SIGTERM')
  const timer = setTimeout(() => d.child.kill('SIGKILL'), EXIT_BOUND_MS)
  const code = await d.exited
  const ms = Date.now() - t0
  clearTimeout(timer)
  gone = true
  await watching
  return { code, ms, cpu: last - before }
}

/** What every case asserts after SIGTERM. */
async function expectCleanStop(d: Daemon, load: Load, log: string): Promise<void> {
  const r = await terminate(d)
  load.close()
  const outcomes = await load.settled
  expect({ code: r.code, stderr: d.stderr() }).toEqual({ code: 0, stderr: expect.any(String) })
  expect(r.ms).toBeLessThan(EXIT_BOUND_MS)
  expect(r.cpu).toBeLessThan(CPU_AFTER_SIGTERM_S)
  expect(outcomes.length).toBeGreaterThan(0)
  const verify = await runCli(['audit', 'log', 'verify', log, '--key', join(dir, 'node.pem')])
  expect(verify.stdout).toMatch(/: OK: \d+ entries/)
  expect(verify.code).toBe(0)
  const entries = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; event?: string })
  expect(entries.at(-1)?.kind).toBe('checkpoint') // closed: the last entries are signed
  // every run of the log's writer: a start record and, last, its stop record
  expect(entries.filter((e) => e.kind === 'node').map((e) => e.event)).toEqual(['start', 'stop'])
  expect(entries.filter((e) => e.kind !== 'checkpoint').at(-1)).toMatchObject({ kind: 'node', event: 'stop' })
  expect(tempFiles(dir)).toEqual([])
}

const CREDS = ['--identity', 'node.key', '--cert', 'node.pem', '--trust', 'ca.pem', '--crl', 'ca.crl']
/** node.yaml after the credentials writeNodeDir writes (the source's port is known once it listens). */
const NODE_SERVICES = `log: node.log
drain-seconds: 3
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
proxies:
  - service: noise
    listen: 127.0.0.1:0
    target: 127.0.0.1:SOURCE_PORT
  - service: tls
    listen: 127.0.0.1:0
    target: 127.0.0.1:SOURCE_PORT
    tls: true`

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'pg-sigterm-'))
  pki = await makeTestPki({
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'alice', groups: ['staff'] }
    ]
  })
  // the serving side is the node's folder (node.key, node.pem, ca.pem, ca.crl, policy.yaml, docs/,
  // node.yaml for the node case); alice's key and certificate beside it for the proxy client
  await writeNodeDir(dir, {
    identity: peer('nas').identity,
    chain: peer('nas').chain,
    root: pki.ca.certificate,
    crl: (await pki.ca.crl()).der,
    policy: POLICY,
    config: NODE_SERVICES
  })
  await saveIdentity(join(dir, 'alice.key'), peer('alice').identity)
  await writeFile(
    join(dir, 'alice.pem'),
    peer('alice')
      .chain.map((c) => pemEncode(c, 'CERTIFICATE'))
      .join('')
  )
  await writeFile(join(dir, 'docs', 'big.bin'), Buffer.alloc(BIG, 7))
  await writeFile(join(dir, 'seed.bin'), Buffer.alloc(16 * 1024 * 1024, 9))
  // the proxied service: an endless stream, written as fast as each connection takes it
  source = createServer((s) => {
    s.on('error', () => {})
    const chunk = Buffer.alloc(64 * 1024, 1)
    const pump = (): void => {
      while (!s.destroyed && s.write(chunk));
    }
    s.on('drain', pump)
    pump()
  })
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r))
  sourcePort = (source.address() as AddressInfo).port
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await new Promise<void>((r) => source.close(() => r()))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('SIGTERM under load: exit 0 in bound, little CPU after the signal, a log that verifies, no temp files', () => {
  it('the CPU check catches a process that spins after SIGTERM (the check can fail)', async () => {
    const spin = `process.on('SIGTERM', () => { while (process.cpuUsage().user < 2.5e6 + start); process.exit(0) })
const start = process.cpuUsage().user; console.log('"port": 1'); setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['-e', spin], { stdio: 'pipe' })
    children.push(child)
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    await new Promise<void>((r) => child.stdout.once('data', () => r()))
    const r = await terminate({ child, stdout: () => '', stderr: () => '', exited })
    expect(r.code).toBe(0)
    expect(r.cpu).toBeGreaterThan(CPU_AFTER_SIGTERM_S)
  })

  it('peerguard node (a share, a Noise and a TLS proxy service)', async () => {
    const yaml = join(dir, 'node.yaml')
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replaceAll('SOURCE_PORT', String(sourcePort)))
    const node = await start(['node', '--config', 'node.yaml', '--json'], /"event":"ready".*\n/)
    const ready = JSON.parse(
      node
        .stdout()
        .split('\n')
        .find((l) => l.includes('"event":"ready"')) as string
    ) as {
      services: Array<{ name: string; listening: string }>
    }
    const port = (name: string) =>
      Number(
        ready.services
          .find((s) => s.name === name)
          ?.listening.split(':')
          .pop()
      )
    const loads = [await shareLoad(port('docs')), await proxyLoad(port('noise'), false), await proxyLoad(port('tls'), true)]
    const load: Load = {
      settled: Promise.all(loads.map((l) => l.settled)).then((all) => all.flat()),
      close: () => {
        for (const l of loads) l.close()
      }
    }
    await expectCleanStop(node, load, join(dir, 'node.log'))
  })

  it('peerguard share serve', async () => {
    const d = await start(
      ['share', 'serve', 'docs', ...CREDS, '--policy', 'policy.yaml', '--listen', '127.0.0.1:0', '--log', 'share.log', '--json'],
      LISTENING
    )
    const load = await shareLoad(portIn(d.stdout()))
    await expectCleanStop(d, load, join(dir, 'share.log'))
  })

  for (const tls of [false, true]) {
    it(`peerguard proxy server${tls ? ' --tls' : ' (Noise)'}`, async () => {
      const log = `proxy-${tls ? 'tls' : 'noise'}.log`
      const d = await start(
        [
          'proxy',
          'server',
          ...CREDS,
          '--service',
          'stream',
          '--target',
          `127.0.0.1:${sourcePort}`,
          '--listen',
          '127.0.0.1:0',
          '--policy',
          'policy.yaml',
          '--log',
          log,
          ...(tls ? ['--tls'] : []),
          '--json'
        ],
        LISTENING
      )
      const load = await proxyLoad(portIn(d.stdout()), tls)
      await expectCleanStop(d, load, join(dir, log))
    })
  }

  it('peerguard swarm seed', async () => {
    const pub = await runCli(
      ['swarm', 'publish', 'seed.bin', '--identity', 'node.key', '--cert', 'node.pem', '--out', 'seed.pgswarm', '--name', 'seed'],
      { cwd: dir }
    )
    expect(pub.code).toBe(0)
    const d = await start(
      [
        'swarm',
        'seed',
        'seed.pgswarm',
        'seed.bin',
        ...CREDS,
        '--policy',
        'policy.yaml',
        '--listen',
        '127.0.0.1:0',
        '--log',
        'swarm.log',
        '--max-upload',
        String(1024 * 1024),
        '--json'
      ],
      LISTENING
    )
    const load = await swarmLoad(portIn(d.stdout()), join(dir, 'seed.pgswarm'))
    await expectCleanStop(d, load, join(dir, 'swarm.log'))
  })
})
