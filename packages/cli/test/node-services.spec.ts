/**
 * `peerguard node` with every kind of service, black box over 127.0.0.1: two shares, a proxy and
 * a swarm seed from one config. `node status` shows each connected peer's bytes growing and its
 * current operation while real transfers run; a reload under load (continuous gets and puts, a
 * swarm fetch, the policy flipping) loses no request, and a reload that denies the swarm closes
 * its running session; the decision log gets one outcome entry per
 * proxied connection and per swarm session, none for a successful list/stat, verifies, and
 * `audit log show` filters over the new entries.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { saveIdentity } from '@peerguard/identity'
import { pemEncode } from '@peerguard/pki'
import { createProxyClient, type ProxyClient } from '@peerguard/proxy'
import { channelTransport, connectShare, type ShareClient } from '@peerguard/share'
import { createManifest, createSwarmPeer, encodeManifest, type SwarmManifest } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { ensureCliBuilt } from './built-cli.js'
import { type NodeProcess, replaceFile, servicePort, startNodeProcess } from './node-process.js'
import { runCli } from './run-cli.js'

/** Policy A lets staff write docs (rule docs-rw); policy B only read them (docs-ro). `fetch: false` denies the swarm. */
const POLICY = (docs: 'docs-rw' | 'docs-ro', fetch = true): string => `version: 1
groups:
  staff: ["ou:staff"]
  servers: ["ou:servers"]
rules:
  - id: ${docs}
    allow: [${docs === 'docs-rw' ? 'read, write' : 'read'}]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: scans
    allow: [read]
    peers: [staff]
    resources: ["share:scans/**"]
  - id: echo
    allow: [get]
    peers: [staff]
    resources: ["service:echo"]
  - id: swarm-fetch
    allow: [read]
    peers: [${fetch ? 'staff' : 'servers'}]
    resources: ["swarm:*"]
  - id: swarm-publish
    allow: [write]
    peers: [servers]
    resources: ["swarm:*"]
`

const CONFIG = (echoPort: number): string => `identity: nas.key
cert: nas.pem
trust: ca.pem
crl: [ca.crl]
policy: office.yaml
log: decisions.jsonl
runtime-dir: run
drain-seconds: 20
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
  - name: scans
    path: scans
    listen: 127.0.0.1:0
proxies:
  - service: echo
    listen: 127.0.0.1:0
    target: 127.0.0.1:${echoPort}
swarms:
  - manifest: data.pgswarm
    file: data.bin
    listen: 127.0.0.1:0
    max-upload: 524288
`

const SCAN_BYTES = 48 * 1024 * 1024
const SWARM_BYTES = 4 * 1024 * 1024
const MiB = 1024 * 1024

let dir: string
let pki: TestPki
let echo: Server
let manifest: SwarmManifest
let node: NodeProcess
const children: ChildProcessWithoutNullStreams[] = []
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer
const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex')

interface PeerRow {
  name?: string
  peerId: string
  bytesIn: number
  bytesOut: number
  operations: number
  current: string[]
}
interface Status {
  services: Array<{ name: string; kind: string; listening: string; bytes?: { in: number; out: number }; peers: PeerRow[] }>
  policy: { sha256: string }
}

const portOf = (name: string): number => servicePort(node, name)

async function shareClient(port: number, who: TestPeer): Promise<ShareClient> {
  const transport = channelTransport({ identity: who.identity, chain: who.chain, trust: await pki.trustWithCrl() })
  return connectShare({ host: '127.0.0.1', port }, { transport })
}

async function status(): Promise<Status> {
  const r = await runCli(['node', 'status', '--config', join(dir, 'node.yaml'), '--json'])
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as Status
}

const peersOf = (s: Status, name: string): PeerRow[] => s.services.find((v) => v.name === name)?.peers ?? []

/** Poll `node status` until `pick` finds something (the node answers each poll; no fixed sleep decides). */
async function statusUntil<T>(pick: (s: Status) => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const found = pick(await status())
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`node status never showed ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A gate a sink waits on: `open(n)` lets the sink run until `n` bytes were received. */
function gatedSink(): { sink: (c: Buffer) => Promise<void>; received: () => number; until: (n: number) => Promise<void> } {
  let received = 0
  let limit = 1
  let wake: (() => void) | undefined
  let reached: { n: number; resolve: () => void } | undefined
  return {
    received: () => received,
    sink: async (c) => {
      while (received >= limit) await new Promise<void>((r) => (wake = r))
      received += c.length
      if (reached !== undefined && received >= reached.n) reached.resolve()
    },
    until: (n) =>
      new Promise<void>((resolve) => {
        limit = n
        reached = { n, resolve }
        if (received >= n) resolve()
        wake?.()
      })
  }
}

/** A TCP round trip through the proxy client: send `data`, resolve once it came back. */
function echoBack(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0
    const onData = (c: Buffer): void => {
      got += c.length
      if (got >= data.length) {
        socket.off('data', onData)
        resolve()
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.write(data)
  })
}

async function fetchSwarm(who: TestPeer, out: string): Promise<string> {
  const p = createSwarmPeer({ identity: who.identity, chain: who.chain, trust: await pki.trustWithCrl() })
  try {
    const r = await p.fetch(manifest, { peers: [`127.0.0.1:${portOf('data')}`], out })
    return r.sha256
  } finally {
    await p.close()
  }
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'pg-node-services-'))
  pki = await makeTestPki({
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['staff'] }
    ]
  })
  echo = createServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  const nas = peer('nas')
  await saveIdentity(join(dir, 'nas.key'), nas.identity)
  await writeFile(join(dir, 'nas.pem'), nas.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
  await writeFile(join(dir, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
  await writeFile(join(dir, 'ca.crl'), (await pki.ca.crl()).pem)
  await writeFile(join(dir, 'office.yaml'), POLICY('docs-rw'))
  await writeFile(join(dir, 'node.yaml'), CONFIG((echo.address() as AddressInfo).port))
  await mkdir(join(dir, 'docs'))
  await mkdir(join(dir, 'scans'))
  await mkdir(join(dir, 'fetched'))
  await writeFile(join(dir, 'docs', 'plan.txt'), 'plan\n')
  await writeFile(join(dir, 'scans', 'big.bin'), Buffer.alloc(SCAN_BYTES, 7))
  await writeFile(join(dir, 'data.bin'), randomBytes(SWARM_BYTES))
  manifest = await createManifest(join(dir, 'data.bin'), {
    name: 'data',
    identity: nas.identity,
    chain: nas.chain,
    publisher: nas.peerId,
    pieceSize: 64 * 1024
  })
  await writeFile(join(dir, 'data.pgswarm'), encodeManifest(manifest))
  node = await startNodeProcess(dir, children)
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await new Promise((r) => echo?.close(r))
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard node: shares, a proxy and a swarm seed', () => {
  it('hosts every service of the config; node check accepts it', async () => {
    expect(node.ready.services.map((s) => `${s.kind}:${s.name}`)).toEqual([
      'share:docs',
      'share:scans',
      'proxy:echo',
      'swarm:data'
    ])
    for (const s of node.ready.services) expect(s.listening).toMatch(/^127\.0\.0\.1:[1-9]\d*$/)
    const check = await runCli(['node', 'check', join(dir, 'node.yaml')])
    expect(check.stdout).toContain(': OK')
    expect(check.code).toBe(0)
  }, 60_000)

  it('status shows growing bytes and the current operation while a share read, a proxied stream and a swarm fetch run', async () => {
    // a share read held by a slow reader: the node's socket counters follow what the client took
    const bob = await shareClient(portOf('scans'), peer('bob'))
    const gate = gatedSink()
    const reading = bob.read('big.bin', gate.sink)
    const first = await statusUntil(
      (s) => peersOf(s, 'scans').find((p) => p.current.includes('read big.bin') && p.bytesOut > 0),
      'the read running'
    )
    expect(first).toMatchObject({ name: 'bob', peerId: peer('bob').peerId, operations: 1 })
    expect(first.bytesIn).toBeGreaterThan(0)
    const table = await runCli(['node', 'status', '--config', join(dir, 'node.yaml')])
    expect(table.stdout).toMatch(
      /bob\s+\S+\s+127\.0\.0\.1:\d+\s+since \S+\s+in [\d.]+ \S+\s+out [\d.]+ \S+\s+1 op\n\s+read big\.bin/
    )
    // the reader takes 1 MiB at a time: while the read runs, each status shows more bytes out
    const running: number[] = [first.bytesOut]
    for (let mib = 1; mib <= 24; mib++) {
      await gate.until(mib * MiB)
      const row = peersOf(await status(), 'scans').find((p) => p.name === 'bob')
      if (row?.current.includes('read big.bin') === true) running.push(row.bytesOut)
    }
    expect(new Set(running).size).toBeGreaterThan(2)
    expect(running).toEqual([...running].sort((a, b) => a - b))
    await gate.until(SCAN_BYTES)
    await expect(reading).resolves.toMatchObject({ length: SCAN_BYTES })
    await statusUntil((s) => (peersOf(s, 'scans')[0]?.operations === 0 ? true : undefined), 'the read done')
    bob.close()

    // a proxied stream: bytes in and out grow with each round trip; the operation is the connection
    const trust = await pki.trustWithCrl()
    const alice = peer('alice')
    const client: ProxyClient = createProxyClient({
      connect: `127.0.0.1:${portOf('echo')}`,
      config: { identity: alice.identity, chain: alice.chain, trust }
    })
    const { port } = await client.listen()
    const socket = connect({ host: '127.0.0.1', port })
    await new Promise<void>((r) => socket.once('connect', () => r()))
    await echoBack(socket, randomBytes(MiB))
    const p1 = await statusUntil((s) => peersOf(s, 'echo').find((p) => p.bytesIn >= MiB && p.bytesOut >= MiB), '1 MiB proxied')
    expect(p1).toMatchObject({ name: 'alice', operations: 1, current: ['connect service:echo'] })
    await echoBack(socket, randomBytes(2 * MiB))
    const p2 = await statusUntil((s) => peersOf(s, 'echo').find((p) => p.bytesIn >= 3 * MiB), '3 MiB proxied')
    expect(p2.bytesOut).toBeGreaterThan(p1.bytesOut)
    socket.end()
    await statusUntil((s) => (peersOf(s, 'echo').length === 0 ? true : undefined), 'the proxied connection closed')
    await client.close()

    // a swarm fetch capped at 512 KiB/s by max-upload (8 s): the session's bytes grow while it runs
    const fetching = fetchSwarm(peer('alice'), join(dir, 'fetched', 'one.bin'))
    const w1 = await statusUntil(
      (s) => peersOf(s, 'data').find((p) => p.bytesOut > 0 && p.current[0]?.startsWith('fetch swarm:data')),
      'the swarm session'
    )
    const w2 = await statusUntil((s) => peersOf(s, 'data').find((p) => p.bytesOut > w1.bytesOut), 'the swarm session growing')
    expect(w2).toMatchObject({ name: 'alice', operations: 1 })
    expect(await fetching).toBe(manifest.sha256)
    const after = await status()
    expect(after.services.find((s) => s.name === 'data')?.bytes?.out).toBeGreaterThanOrEqual(SWARM_BYTES)
  }, 240_000)

  it('reload under load: gets, puts and a swarm fetch run while the policy flips; every request is answered; a denied swarm session is closed', async () => {
    const alice = await shareClient(portOf('docs'), peer('alice'))
    let flips = 0
    let stop = false
    const observed = { getsOk: 0, putsOk: 0, putsDenied: 0, other: [] as string[] }
    const worker = async (n: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const body = Buffer.from(`w${n} #${i}\n`)
        try {
          expect((await alice.readFile('plan.txt')).toString()).toBe('plan\n')
          observed.getsOk++
        } catch (err) {
          observed.other.push(`get: ${(err as { code?: string }).code}`)
        }
        try {
          await alice.write(`w${n}-${i}.txt`, body)
          observed.putsOk++
        } catch (err) {
          const code = (err as { code?: string }).code
          if (code === 'share-denied') observed.putsDenied++
          else observed.other.push(`put: ${code}`)
        }
      }
    }
    const workers = [1, 2, 3].map(worker)
    const fetched = fetchSwarm(peer('bob'), join(dir, 'fetched', 'two.bin'))
    const policies = [POLICY('docs-ro'), POLICY('docs-rw')]
    for (; flips < 8; flips++) {
      const next = policies[flips % 2] as string
      await replaceFile(join(dir, 'office.yaml'), next)
      const r = await runCli(['node', 'reload', '--config', join(dir, 'node.yaml'), '--json'])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ policySha256: sha256(next) })
      // both policies see requests: wait for a few answers under each
      const seen = observed.putsOk + observed.putsDenied
      while (observed.putsOk + observed.putsDenied < seen + 3) await new Promise((res) => setTimeout(res, 10))
    }
    stop = true
    await Promise.all(workers)
    expect(await fetched).toBe(manifest.sha256)
    expect(observed.other).toEqual([])
    expect(observed.putsOk).toBeGreaterThan(0)
    expect(observed.putsDenied).toBeGreaterThan(0)
    // a policy that denies the swarm, applied by reload, closes the running session
    const denied = fetchSwarm(peer('bob'), join(dir, 'fetched', 'three.bin')).then(
      () => 'fetched',
      (err: { code?: string }) => err.code
    )
    await statusUntil((st) => peersOf(st, 'data').find((p) => p.name === 'bob' && p.bytesOut > 0), "bob's session")
    await replaceFile(join(dir, 'office.yaml'), POLICY('docs-rw', false))
    expect((await runCli(['node', 'reload', '--config', join(dir, 'node.yaml')])).code).toBe(0)
    expect(await denied).toMatch(/^swarm-/)
    expect(peersOf(await status(), 'data')).toEqual([])
    await replaceFile(join(dir, 'office.yaml'), POLICY('docs-rw'))
    expect((await runCli(['node', 'reload', '--config', join(dir, 'node.yaml')])).code).toBe(0)
    // listings: a successful one is its decision alone; a failed one gets its outcome
    expect((await alice.list('')).entries.map((e) => e.name)).toContain('plan.txt')
    await expect(alice.stat('plan.txt')).resolves.toMatchObject({ size: 5 })
    await expect(alice.stat('missing.txt')).rejects.toMatchObject({ code: expect.stringMatching(/not-found/) })
    alice.close()

    // stop the node (its log closes), then hold the log to what the clients saw
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
    const show = async (...f: string[]): Promise<Array<Record<string, unknown>>> => {
      const r = await runCli(['audit', 'log', 'show', join(dir, 'decisions.jsonl'), '--format', 'json', ...f])
      expect(r.code).toBe(0)
      return (JSON.parse(r.stdout) as { rows: Array<Record<string, unknown>> }).rows
    }
    const writes = await show('--action', 'write', '--peer', 'alice', '--resource', 'docs/**')
    // every put is on the record exactly once: allowed ones joined into their outcome, denials as
    // decisions, and a put allowed at its start but refused at its END by a reload that overlapped it
    // (decided again before it commits) as one failed row, share-denied
    const redecided = writes.filter((r) => r.outcome === 'failed' && r.code === 'share-denied')
    expect(writes.filter((r) => r.outcome === 'ok')).toHaveLength(observed.putsOk)
    expect(writes.filter((r) => r.outcome === 'denied').length + redecided.length).toBe(observed.putsDenied)
    expect(writes.filter((r) => r.outcome !== 'ok' && r.outcome !== 'denied' && !redecided.includes(r))).toEqual([])
    // an allowed write was decided by policy A's rule only; a refusal by B (no rule of A involved)
    for (const r of writes) {
      if (r.outcome === 'ok') expect(r.rule).toBe('docs-rw')
      else expect(r.rule === 'docs-rw').toBe(false)
    }
    expect((await show('--outcome', 'failed', '--action', 'write')).filter((r) => r.code !== 'share-denied')).toEqual([])
    // gets are one row each (their outcome carries the bytes)
    const reads = await show('--action', 'read', '--peer', 'alice', '--resource', 'docs/plan.txt')
    expect(reads).toHaveLength(observed.getsOk)
    expect(reads.every((r) => r.outcome === 'ok' && r.bytes === 5)).toBe(true)
  }, 300_000)

  it('the log: one outcome per proxied connection and per swarm session, none for a listing; it verifies; show filters', async () => {
    const log = join(dir, 'decisions.jsonl')
    const verify = await runCli(['audit', 'log', 'verify', log, '--key', join(dir, 'nas.pem')])
    expect(verify.stdout).toMatch(/: OK: \d+ entries/)
    expect(verify.code).toBe(0)
    const entries = (await readFile(log, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    // the proxied connection: its acceptance, then one outcome naming it, bytes each way
    const proxied = entries.filter((e) => e.kind === 'outcome' && e.op === 'connect')
    expect(proxied).toHaveLength(1)
    const accepted = entries.find((e) => e.kind === 'connection' && e.resource === 'service:echo' && e.event === 'accepted')
    expect(proxied[0]).toMatchObject({
      outcome: 'ok',
      code: 'ok',
      resource: 'service:echo',
      bytesIn: 3 * MiB,
      bytesOut: 3 * MiB,
      decisions: [accepted?.seq]
    })
    // swarm: one outcome per session (two fetches), never one per piece
    const sessions = entries.filter((e) => e.kind === 'outcome' && e.op === 'fetch')
    expect(sessions.map((e) => [(e.peer as { name: string }).name, e.outcome, e.code])).toEqual([
      ['alice', 'ok', 'ok'],
      ['bob', 'ok', 'ok'],
      ['bob', 'failed', 'deny-default']
    ])
    expect((sessions[2]?.bytes as number) < SWARM_BYTES).toBe(true)
    for (const s of sessions.slice(0, 2)) {
      expect(s).toMatchObject({ outcome: 'ok', resource: 'swarm:data', bytes: SWARM_BYTES })
      expect(s.durationMs).toEqual(expect.any(Number))
    }
    // the seed's publisher check, three admissions, three session outcomes: 64 pieces served each, none logged
    expect(entries.filter((e) => e.resource === 'swarm:data')).toHaveLength(7)
    // log growth: a successful list or stat writes its decision only
    expect(entries.filter((e) => e.kind === 'outcome' && (e.op === 'list' || e.op === 'stat') && e.outcome === 'ok')).toEqual([])
    expect(entries.filter((e) => e.kind === 'outcome' && e.op === 'stat')).toEqual([
      expect.objectContaining({ outcome: 'failed', code: expect.stringMatching(/not-found/) })
    ])

    const show = async (...f: string[]): Promise<Array<Record<string, unknown>>> => {
      const r = await runCli(['audit', 'log', 'show', log, '--format', 'json', ...f])
      expect(r.code).toBe(0)
      return (JSON.parse(r.stdout) as { rows: Array<Record<string, unknown>> }).rows
    }
    // the proxied connection is one row (acceptance joined into its outcome)
    expect(await show('--resource', 'service:echo')).toEqual([
      expect.objectContaining({ op: 'connect', outcome: 'ok', bytes: 6 * MiB, peerName: 'alice' })
    ])
    const fetches = await show('--action', 'fetch', '--outcome', 'ok')
    expect(fetches.map((r) => [r.peerName, r.resource, r.bytes])).toEqual([
      ['alice', 'swarm:data', SWARM_BYTES],
      ['bob', 'swarm:data', SWARM_BYTES]
    ])
    expect((await show('--action', 'fetch', '--outcome', 'failed')).map((r) => [r.peerName, r.code])).toEqual([
      ['bob', 'deny-default']
    ])
    // --outcome still answers for listings: ok includes a listing's allowed decision, failed its outcome
    expect((await show('--action', 'stat', '--outcome', 'ok')).map((r) => [r.resource, r.outcome])).toEqual([
      ['share:docs/plan.txt', 'allowed']
    ])
    expect((await show('--action', 'stat', '--outcome', 'failed')).map((r) => r.resource)).toEqual(['share:docs/missing.txt'])
    // a stat is decided as the policy verb list: --action list finds both
    expect((await show('--action', 'list', '--peer', 'alice')).map((r) => `${r.op}:${r.outcome}`)).toEqual([
      'list:allowed',
      'stat:allowed',
      'stat:failed'
    ])
  }, 120_000)
})
