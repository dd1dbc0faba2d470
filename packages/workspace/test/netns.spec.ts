/**
 * Members as separate processes in a network namespace of their own, finding each other by real
 * multicast (TTL 1, on the namespace's loopback): the admin publishes a revocation and every
 * member applies it and drops the revoked member. Prints the time from publish to each member's
 * apply (median and worst) and the datagrams sent — measured, not asserted. Needs root and
 * `ip netns`; the namespace is deleted afterwards. `netns-member.mjs` is one member.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, expect, jest } from '@jest/globals'
import { generateKeyPair, keyPairFromSeed } from '@peerguard/identity'
import { makeTestPki, needs, type TestPki } from '@peerguard/test-utils'
import { signBundle } from '../src/index.js'

jest.setTimeout(180_000)

const ROOT = join(import.meta.dirname, '..', '..', '..')
const NS = `pg-ws-${process.pid}`
/** How many member processes (the admin included); `PEERGUARD_WORKSPACE_MEMBERS` sizes a larger run. */
const MEMBERS = Math.max(3, Math.min(64, Number(process.env.PEERGUARD_WORKSPACE_MEMBERS ?? 6) || 6))
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface Proc {
  name: string
  serial: string
  child: ChildProcessWithoutNullStreams
  members: string[]
  bundle: { version: number; at: number } | undefined
  stats: { announcementsSent: number; announcementBytesSent: number; fetches: number; fetchBytes: number } | undefined
  waiters: Array<() => void>
  stderr: string[]
}

const gate = needs('netns', 'workspace members in a network namespace, by multicast')
let pki: TestPki
const procs: Proc[] = []

function until(p: Proc, ok: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`${p.name}: timed out waiting for ${what}; members ${p.members.join(',')}; stderr: ${p.stderr.join('')}`)
        ),
      120_000
    )
    const check = (): void => {
      if (!ok()) return
      clearTimeout(timer)
      p.waiters = p.waiters.filter((w) => w !== check)
      resolve()
    }
    p.waiters.push(check)
    check()
  })
}

gate.describe('workspace over multicast in a network namespace', () => {
  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-b', 'packages/workspace'], { cwd: ROOT, stdio: 'pipe' })
    execFileSync('ip', ['netns', 'add', NS])
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up'])
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'multicast', 'on'])
    execFileSync('ip', ['-n', NS, 'route', 'add', '224.0.0.0/4', 'dev', 'lo'])
    pki = await makeTestPki({ peers: [] })
    const crl = hex((await pki.ca.crl()).der)
    for (let i = 0; i < MEMBERS; i++) {
      const name = i === 0 ? 'admin' : `m${i}`
      const seed = generateKeyPair().secretKey.slice(0, 32)
      const peer = await pki.issue(name, { identity: keyPairFromSeed(seed) })
      const setup = {
        seed: hex(seed),
        chain: peer.chain.map(hex),
        root: hex(pki.ca.certificate),
        crl,
        group: '239.255.77.77',
        port: 47177,
        interface: '127.0.0.1',
        interval: 500,
        members: MEMBERS
      }
      const child = spawn('ip', ['netns', 'exec', NS, process.execPath, join(import.meta.dirname, 'netns-member.mjs')], {
        env: { ...process.env, PG_MEMBER: JSON.stringify(setup) },
        stdio: 'pipe'
      })
      const p: Proc = {
        name,
        serial: peer.certificate.serial,
        child,
        members: [],
        bundle: undefined,
        stats: undefined,
        waiters: [],
        stderr: []
      }
      child.stderr.on('data', (c: Buffer) => p.stderr.push(c.toString()))
      createInterface({ input: child.stdout }).on('line', (line) => {
        const e = JSON.parse(line) as { event: string; names?: string[]; version?: number; at?: number }
        if (e.event === 'members') p.members = e.names ?? []
        if (e.event === 'bundle') p.bundle = { version: e.version as number, at: e.at as number }
        if (e.event === 'stats') p.stats = (e as unknown as { stats: Proc['stats'] }).stats
        for (const w of [...p.waiters]) w()
      })
      procs.push(p)
    }
    await Promise.all(procs.map((p) => until(p, () => p.members.length === MEMBERS - 1, 'every other member')))
  })

  afterAll(() => {
    for (const p of procs) p.child.kill()
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' })
  })

  gate.it('a revocation published on the admin reaches every member, which drops the revoked one', async () => {
    const revoked = procs[MEMBERS - 1] as Proc
    await pki.ca.revoke(revoked.serial)
    const bundle = signBundle({ version: 1, issuedAtMs: Date.now(), crls: [(await pki.ca.crl()).der] }, pki.ca)
    const admin = procs[0] as Proc
    const others = procs.slice(1, MEMBERS - 1)
    const t0 = Date.now()
    admin.child.stdin.write(`${JSON.stringify({ publish: hex(bundle) })}\n`)
    await Promise.all(others.map((p) => until(p, () => p.bundle?.version === 1, 'bundle version 1')))
    for (const p of others) {
      await until(p, () => !p.members.includes(revoked.name), `${revoked.name} dropped`)
      expect(p.members).not.toContain(revoked.name)
    }
    const times = others.map((p) => (p.bundle?.at as number) - t0).sort((a, b) => a - b)
    // what the whole workspace sent, from start-up to here (announcements include the discovery)
    for (const p of procs) {
      p.stats = undefined
      p.child.stdin.write(`${JSON.stringify({ stats: true })}\n`)
    }
    await Promise.all(procs.map((p) => until(p, () => p.stats !== undefined, 'its stats')))
    const sum = (k: 'announcementsSent' | 'announcementBytesSent' | 'fetches' | 'fetchBytes'): number =>
      procs.reduce((n, p) => n + (p.stats?.[k] ?? 0), 0)
    process.stderr.write(
      `workspace netns: ${others.length} members applied the revocation in median ${times[Math.floor(times.length / 2)]} ms, worst ${times[times.length - 1]} ms; ` +
        `${MEMBERS} processes sent ${sum('announcementsSent')} announcements (${sum('announcementBytesSent')} B) and made ${sum('fetches')} fetches (${sum('fetchBytes')} B of bundles)\n`
    )
  })
})
