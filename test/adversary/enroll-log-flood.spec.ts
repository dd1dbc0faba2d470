/**
 * Attacker: anyone who can reach the CA node's enrollment port — no certificate needed, the
 * enrollment channel admits strangers. Invariant (SECURITY.md, "Enrollment with one-time tokens"
 * and the decision log): an unauthenticated flood cannot grow the decision log. Refusals before
 * the joiner has proved a token's secret (a failed channel, garbage, an unknown token ID, a wrong
 * secret or a used token again) are counted per address in `refusal-summary` records; a refusal
 * after the proof (the token holder's own request refused) and every enrollment stay entries.
 * Before the fix every such connection appended one `enroll` entry: 100 connections, 100 entries.
 * The first refusal naming a filed token, per token and code, is an entry too (a used token tried
 * again tells the admin someone else redeemed it) — bounded by the tokens the admin made.
 * Real enrollment host (as `peerguard node` / `ca serve-enrollment` run it), real log, loopback.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type DecisionLog, openDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import { createCsr } from '@peerguard/pki'
import { type EnrollToken, parseToken } from '@peerguard/workspace'
import { readCertificates, readKey } from '../../packages/cli/src/common.js'
import { ConsoleLog } from '../../packages/cli/src/console-log.js'
import { RefusalGroups } from '../../packages/cli/src/console-refusals.js'
import { bufferedIO } from '../../packages/cli/src/io.js'
import { type EnrollmentHost, startEnrollmentHost } from '../../packages/cli/src/node/enrollment-node.js'
import { type CliRun, runCli } from '../../packages/cli/test/run-cli.js'
import { makeCliCa } from '../../packages/cli/test/cli-ca.js'
import { rawJoin } from '../../packages/workspace/test/enroll-helpers.js'
import { BIN, ensureCliBuilt } from '../../packages/cli/test/built-cli.js'
import { spawnAndWait } from '@peerguard/test-utils'

jest.setTimeout(180_000)

let dir: string

async function ok(...args: string[]): Promise<CliRun> {
  const r = await runCli(args, { cwd: dir })
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
  return r
}

/** Junk instead of a handshake; resolves when the host has closed the connection. */
function junkConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end(Buffer.alloc(120, 0x41)))
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.resume()
  })
}

interface Entry {
  kind: string
  verb?: string
  code?: string
  count?: number
  address?: string
  allowed?: boolean
  resource?: string
  reason?: string
  peer?: { name?: string }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-adv-enroll-log-'))
  await makeCliCa(dir, { caName: 'Log Flood CA', members: [{ name: 'admin' }] })
}, 120_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('enrollment host: a stranger cannot flood the decision log', () => {
  it('refusals before the token proof become summaries; a token holder refused after the proof and an enrollment are entries', async () => {
    const logPath = join(dir, 'decisions.jsonl')
    const identity = await readKey(join(dir, 'admin.key'), undefined)
    const log: DecisionLog = await openDecisionLog({ path: logPath, identity, checkpointIntervalMs: 0 })
    const io = bufferedIO()
    const host: EnrollmentHost = await startEnrollmentHost({
      caDir: join(dir, 'ca'),
      passphraseFile: join(dir, 'ca.pass'),
      identity,
      chain: await readCertificates(join(dir, 'admin.pem')),
      listen: { host: '127.0.0.1', port: 0 },
      log,
      io,
      json: true
    })
    let closed = false
    try {
      const port = Number(host.address.split(':')[1])
      const tokenLine = (t: CliRun): EnrollToken => parseToken(t.stdout.trim().split('\n')[0] as string)
      const carol = tokenLine(await ok('ca', 'token', '--ca', 'ca', '--name', 'carol', '--ttl', '10m'))
      const dave = tokenLine(await ok('ca', 'token', '--ca', 'ca', '--name', 'dave', '--ttl', '10m'))
      const csrFor =
        (name: string, me = generateKeyPair()) =>
        async () =>
          (await createCsr({ keyPair: me, name })).der
      const before = (await readFile(logPath, 'utf8')).split('\n').filter(Boolean).length

      // the flood: garbage handshakes, unknown token IDs, carol's token ID with a wrong secret
      await Promise.all(Array.from({ length: 40 }, () => junkConnection(port)))
      const unknown = { ...carol, tokenId: new Uint8Array(randomBytes(carol.tokenId.length)) }
      const wrongSecret = { ...carol, secret: new Uint8Array(randomBytes(carol.secret.length)) }
      const codes: string[] = []
      for (let i = 0; i < 10; i++) {
        const me = generateKeyPair()
        codes.push(await rawJoin(port, me, unknown, csrFor('carol', me)))
        codes.push(await rawJoin(port, me, wrongSecret, csrFor('carol', me)))
      }
      expect(new Set(codes)).toEqual(new Set(['enroll-token-unknown', 'enroll-token-mac']))

      // the token holder: dave's request for another key is refused after the proof (its own entry) …
      expect(await rawJoin(port, generateKeyPair(), dave, csrFor('dave'))).toBe('enroll-csr-mismatch')
      // … and carol enrolls (her entry), then her used token is replayed twice (the first in full)
      const me = generateKeyPair()
      expect(await rawJoin(port, me, carol, csrFor('carol', me))).toBe('ok')
      expect(await rawJoin(port, generateKeyPair(), carol, csrFor('carol'))).toBe('enroll-token-used')
      expect(await rawJoin(port, generateKeyPair(), carol, csrFor('carol'))).toBe('enroll-token-used')

      // every connection has been answered: wait until the host reported all 64 outcomes
      const outcomes = (): number => io.stdout.filter((l) => /"event":"(refused|enrolled)"/.test(l)).length
      const deadline = Date.now() + 60_000
      while (outcomes() < 64 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(outcomes()).toBe(64)
      await host.close() // writes the open summary windows
      closed = true
      await log.close()

      const added = (await readFile(logPath, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .slice(before)
        .map((l) => JSON.parse(l) as Entry)
      const enrollEntries = added.filter((e) => e.kind === 'operation' && e.verb === 'enroll')
      const summaries = added.filter((e) => e.kind === 'refusal-summary')
      // carol's token: its first wrong secret, its first replay; dave refused after the proof; carol in
      expect(enrollEntries.map((e) => [e.code, e.allowed])).toEqual([
        ['enroll-token-mac', false],
        ['enroll-csr-mismatch', false],
        ['allow', true],
        ['enroll-token-used', false]
      ])
      // a stranger who named carol's token is not logged as carol; dave and carol, who proved it, are
      const peerName = (e: Entry) => e.peer?.name
      expect(enrollEntries.map(peerName)).toEqual([undefined, 'dave', 'carol', undefined])
      expect(enrollEntries[0]?.reason).toMatch(/a token for carol, its secret not proved/)
      // the other 60 refusals: counted, one address, a handful of records
      expect(summaries.length).toBeGreaterThanOrEqual(1)
      expect(summaries.length).toBeLessThanOrEqual(3)
      expect(summaries.every((s) => s.address === '127.0.0.1')).toBe(true)
      expect(summaries.reduce((n, s) => n + (s.count ?? 0), 0)).toBe(60)
      expect(added.length).toBeLessThan(12)
      expect((await verifyDecisionLogFile(logPath)).ok).toBe(true)
    } finally {
      if (!closed) {
        await host.close()
        await log.close()
      }
    }
  })
  it('`ca serve-enrollment` groups a stranger flood on stdout too: one line in full, then a summary', async () => {
    ensureCliBuilt()
    const s = await spawnAndWait(
      process.execPath,
      [BIN, 'ca', 'serve-enrollment', '--ca', 'ca', '--passphrase-file', 'ca.pass', '--identity', 'admin.key'].concat([
        '--cert',
        'admin.pem',
        '--listen',
        '127.0.0.1:0',
        '--json'
      ]),
      { cwd: dir, readyLine: /"event":"listening","address":"127\.0\.0\.1:(\d+)"/ }
    )
    try {
      const port = Number(s.match[1])
      await Promise.all(Array.from({ length: 50 }, () => junkConnection(port)))
    } finally {
      expect(await s.stop('SIGTERM')).toBe(0)
    }
    const lines = s
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; count?: number; code?: string })
    const refusalLines = lines.filter((l) => l.event.startsWith('refused'))
    // the first in full, then summaries (one per window): the counts add up to the 50 connections
    expect(refusalLines[0]).toMatchObject({ event: 'refused', code: 'enroll-failed' })
    expect(refusalLines.length).toBeLessThanOrEqual(3)
    expect(1 + refusalLines.slice(1).reduce((n, l) => n + (l.count ?? 0), 0)).toBe(50)
  })

  it('under `peerguard node` the console groups a stranger flood per address (a line per connection before)', async () => {
    const identity = await readKey(join(dir, 'admin.key'), undefined)
    const lines: Array<{ event: string; count?: number; msg: string }> = []
    const consoleLog = new ConsoleLog({ write: (l) => lines.push(JSON.parse(l)) })
    const refusals = new RefusalGroups(consoleLog)
    const io = bufferedIO()
    const host = await startEnrollmentHost({
      caDir: join(dir, 'ca'),
      passphraseFile: join(dir, 'ca.pass'),
      identity,
      chain: await readCertificates(join(dir, 'admin.pem')),
      listen: { host: '127.0.0.1', port: 0 },
      io,
      json: false,
      refusals
    })
    try {
      const port = Number(host.address.split(':')[1])
      await Promise.all(Array.from({ length: 50 }, () => junkConnection(port)))
      const deadline = Date.now() + 60_000
      const counted = (): number => lines.reduce((n, l) => n + (l.count ?? 0), 0)
      while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      await host.close()
      refusals.close() // the summaries of the open windows
      // one line in full, then one summary: the counts add up to the 50 connections
      expect(io.stdout.filter((l) => l.startsWith('refused'))).toEqual([])
      expect(lines.map((l) => l.event)).toEqual(['refused', 'refused-summary'])
      expect(lines[0]?.msg).toMatch(/^refused 127\.0\.0\.1: enroll-failed/)
      expect(counted()).toBe(50)
    } finally {
      await host.close()
    }
  })
})
