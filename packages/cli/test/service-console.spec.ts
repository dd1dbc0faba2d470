/**
 * ServiceConsole in process, over real sockets on 127.0.0.1: a share server's connection lines
 * and grouped refusals, a swarm peer's refusals through its logger (it has no events), and the
 * reload records it writes and passes on.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import type { ReloadRecord } from '@peerguard/decision-log'
import type { DecisionRecord, Logger } from '@peerguard/interface'
import { connectShare, createShareServer, plainTransport } from '@peerguard/share'
import { createSwarmPeer } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { ConsoleLog } from '../src/console-log.js'
import { ServiceConsole } from '../src/service-console.js'
import { hangUp } from './console-fixture.js'

jest.setTimeout(300_000)

let dir: string
let pki: TestPki

function capture(): { svc: ServiceConsole; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  return { svc: new ServiceConsole(new ConsoleLog({ write: (l) => lines.push(JSON.parse(l)), level: 'debug' })), lines }
}

/** Resolves once `n` calls of the counter happened. */
function counter(n: number): { hit: () => void; done: Promise<void> } {
  let seen = 0
  let resolve: () => void = () => {}
  const done = new Promise<void>((r) => {
    resolve = r
  })
  return {
    hit: () => {
      if (++seen === n) resolve()
    },
    done
  }
}

const sum = (lines: Array<Record<string, unknown>>, service: string): number =>
  lines
    .filter((l) => l.service === service && (l.event === 'refused' || l.event === 'refused-summary'))
    .reduce((n, l) => n + (l.count as number), 0)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerguard-service-console-'))
  await writeFile(join(dir, 'a.txt'), 'a')
  pki = await makeTestPki({
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'alice', groups: ['staff'] }
    ]
  })
}, 120_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('ServiceConsole', () => {
  it('share: a line per connection accepted and closed, operations at debug, refusals grouped', async () => {
    const { svc, lines } = capture()
    const server = createShareServer({ root: dir, shareName: 'docs', transport: plainTransport() })
    svc.share(server)
    const refused = counter(200)
    server.on('refused', refused.hit)
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const closed = new Promise((r) => server.once('closed', r))
      const client = await connectShare({ host: '127.0.0.1', port }, { transport: plainTransport() })
      await client.list('')
      await client.close()
      await closed
      for (let i = 0; i < 200; i++) await hangUp(port)
      await refused.done
    } finally {
      await server.close()
    }
    svc.close()
    expect(lines.filter((l) => l.event === 'connected')).toEqual([
      expect.objectContaining({ level: 'info', service: 'share:docs', addr: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })
    ])
    expect(lines.filter((l) => l.event === 'closed')).toEqual([
      expect.objectContaining({
        service: 'share:docs',
        durationMs: expect.any(Number),
        bytesIn: expect.any(Number),
        bytesOut: expect.any(Number)
      })
    ])
    expect((lines.find((l) => l.event === 'closed')?.bytesIn as number) > 0).toBe(true)
    expect(lines).toContainEqual(expect.objectContaining({ level: 'debug', event: 'operation', what: 'list', code: 'ok' }))
    expect(sum(lines, 'share:docs')).toBe(200)
    expect(lines.filter((l) => String(l.event).startsWith('refused')).length).toBeLessThanOrEqual(3)
  })

  it('swarm: refusals reach the console through the peer logger, grouped per address', async () => {
    const { svc, lines } = capture()
    const nas = pki.peers.nas as TestPeer
    const logger = svc.libraryLogger('swarm:data')
    const refused = counter(100)
    const counting: Logger = {
      ...logger,
      info: (m, f) => {
        if (/connection refused$/.test(m)) refused.hit()
        logger.info(m, f)
      }
    }
    const peer = createSwarmPeer({ identity: nas.identity, chain: nas.chain, trust: await pki.trustWithCrl(), logger: counting })
    const { port } = await peer.listen(0, '127.0.0.1')
    try {
      for (let i = 0; i < 100; i++) await hangUp(port)
      await refused.done
    } finally {
      await peer.close()
    }
    svc.close()
    expect(sum(lines, 'swarm:data')).toBe(100)
    const first = lines.find((l) => l.event === 'refused')
    expect(first).toMatchObject({ service: 'swarm:data', level: 'warn', code: expect.any(String) })
    expect(lines.filter((l) => String(l.event).startsWith('refused')).length).toBeLessThanOrEqual(2)
  })

  it('swarm: a fetch is a connection line when admitted and a closed line with bytes when its session ends', async () => {
    const { svc, lines } = capture()
    const nas = pki.peers.nas as TestPeer
    const alice = pki.peers.alice as TestPeer
    const file = join(dir, 'data.bin')
    await writeFile(file, Buffer.alloc(300_000, 7))
    let ended: () => void = () => {}
    const outcome = new Promise<void>((r) => {
      ended = r
    })
    const passed: DecisionRecord[] = []
    const sink = svc.decisions('swarm:data', {
      append: (r: DecisionRecord) => {
        passed.push(r)
        if (r.kind === 'outcome') ended()
        return { seq: passed.length }
      }
    })
    const trust = await pki.trustWithCrl()
    const seeder = createSwarmPeer({ identity: nas.identity, chain: nas.chain, trust, log: sink })
    const fetcher = createSwarmPeer({ identity: alice.identity, chain: alice.chain, trust })
    try {
      const manifest = await seeder.publish(file, { name: 'data' })
      await seeder.seed(manifest, file)
      const { port } = await seeder.listen(0, '127.0.0.1')
      await fetcher.fetch(manifest, { peers: [`127.0.0.1:${port}`], out: join(dir, 'fetched.bin') })
      await fetcher.close()
      await outcome
    } finally {
      await fetcher.close()
      await seeder.close()
    }
    svc.close()
    const who = { service: 'swarm:data', peer: 'alice', peerId: alice.peerId }
    expect(lines.filter((l) => l.event === 'connected')).toEqual([expect.objectContaining({ level: 'info', ...who })])
    const closed = lines.filter((l) => l.event === 'closed')
    expect(closed).toEqual([expect.objectContaining({ ...who, durationMs: expect.any(Number), bytesOut: expect.any(Number) })])
    expect(closed[0]?.bytesOut as number).toBeGreaterThan(300_000)
    expect(passed.some((r) => r.kind === 'operation')).toBe(true) // every record reaches the log behind
  })

  it('reloads: applied (with the policy hash) and rejected lines; each record is passed on', async () => {
    const { svc, lines } = capture()
    const passed: ReloadRecord[] = []
    const sink = svc.reloads({ append: async (r) => passed.push(r) })
    const sha = 'ab'.repeat(32)
    const records: ReloadRecord[] = [
      {
        kind: 'reload',
        event: 'applied',
        what: 'certificate,trust,crl,policy',
        code: 'ok',
        reason: 'configuration loaded at start-up',
        policySha256: sha
      },
      { kind: 'reload', event: 'applied', what: 'policy', code: 'ok', reason: 'reloaded on SIGHUP', policySha256: sha },
      { kind: 'reload', event: 'rejected', what: 'policy', code: 'policy-parse-error', reason: 'x.yaml:1:2: bad' }
    ]
    for (const r of records) await sink.append(r)
    expect(passed).toEqual(records)
    expect(lines.map((l) => [l.level, l.event, l.code, l.policySha256, l.msg])).toEqual([
      ['info', 'reload', 'ok', sha, `loaded certificate, trust, crl, policy (policy sha256 ${sha.slice(0, 16)}…)`],
      ['info', 'reload', 'ok', sha, `reloaded policy (policy sha256 ${sha.slice(0, 16)}…)`],
      [
        'warn',
        'reload',
        'policy-parse-error',
        undefined,
        'reload: new policy rejected (policy-parse-error): x.yaml:1:2: bad; keeping the policy in force'
      ]
    ])
  })
})
