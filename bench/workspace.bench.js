#!/usr/bin/env node
// @ts-check
// Revocation propagation in a workspace LAN (issue 13): N members (5, 10, 20, 50; --quick: 5), each
// a process in its own network namespace with a veth on one Linux bridge (10.233.0.0/24, made
// here), finding each other by multicast (TTL 1) — the workspace runtime of the node
// (packages/workspace/test/netns-member.mjs, without the node's services). Member 0 is the admin:
// it takes a new bundle (the CA's CRL after a revocation, signed by the root, what
// `peerguard ca revoke --publish` makes) and every member fetches it over a peerguard channel,
// verifies and applies it, and passes it on. Measured per change: the time from the admin taking
// the bundle until the last member applied it (from then its handshakes refuse the revoked peer;
// the last round revokes a running member and every other member really connects to it and must
// be refused with `cert-revoked`), the median member, and what the whole LAN sent for it —
// announcement datagrams, their bytes and the bundle bytes fetched.
// Anchor context: Nebula's revocation is a blocklist of certificate fingerprints in each host's
// config (`pki.blocklist`), copied by config management: nothing propagates, so there is no
// like-for-like figure and no anchor ratio. Goal (issue 13): every member refuses a revoked peer
// within 2 s on a 50-peer LAN.
// Needs root, iproute2 and a build (packages/workspace/dist: `npm run build`); without them it
// says what is missing and records nothing. Every namespace and process is removed at the end,
// also after a failure.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, keyPairFromSeed } from '@peerguard/identity'
import { createCertificateAuthority } from '@peerguard/pki'
import { signBundle } from '@peerguard/workspace'
import { which } from './daemons.js'
import { figure, QUICK, show } from './lib.js'

const here = dirname(fileURLToPath(import.meta.url))
const MEMBER = join(here, '..', 'packages', 'workspace', 'test', 'netns-member.mjs')
const SIZES = QUICK ? [5] : [5, 10, 20, 50]
const ROUNDS = QUICK ? 2 : 4
const NET = '10.233.0'
const GROUP = '239.255.78.78'
const PORT = 47277
const WAIT_MS = 600_000
const tag = process.pid % 100000
const BR = `pgwb-br-${tag}`
/** @param {number} i */
const ns = (i) => `pgwb-${tag}-${i}`
/** @param {Uint8Array} b */
const hex = (b) => Buffer.from(b).toString('hex')

const missing = [
  process.getuid?.() === 0 ? undefined : 'root (network namespaces)',
  which('ip') ? undefined : 'ip (iproute2)',
  existsSync(join(here, '..', 'packages', 'workspace', 'dist', 'index.js')) ? undefined : 'a build (npm run build)'
].filter((m) => m !== undefined)
if (missing.length > 0) {
  console.log(`workspace: skipped: needs ${missing.join(', ')}; nothing recorded`)
  process.exit(0)
}

/**
 * @typedef {{ i: number, name: string, ip: string, serial: string, peerId: string, servicePort: number,
 *   child: import('node:child_process').ChildProcessWithoutNullStreams, members: string[], bundle: number, at: number,
 *   stats: Record<string, number> | undefined, probe: { refused: boolean, cause?: string } | undefined,
 *   waiters: Array<() => void>, stderr: string[] }} Member
 */
/** @type {Member[]} */
let members = []
let made = 0
function cleanup() {
  for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL')
  for (let i = 0; i < made; i++) spawnSync('ip', ['netns', 'del', ns(i)], { stdio: 'ignore' })
  spawnSync('ip', ['netns', 'del', BR], { stdio: 'ignore' })
  members = []
  made = 0
}
process.on('exit', cleanup)
/** @param {string[]} cmd */
function run(cmd) {
  const r = spawnSync(/** @type {string} */ (cmd[0]), cmd.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.status}: ${r.stderr}`)
}

/** @param {Member} m @param {() => boolean} ok @param {string} what @returns {Promise<void>} */
function until(m, ok, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${m.name}: timed out waiting for ${what}: ${m.stderr.join('')}`)), WAIT_MS)
    const check = () => {
      if (!ok()) return
      clearTimeout(timer)
      m.waiters = m.waiters.filter((w) => w !== check)
      resolve()
    }
    m.waiters.push(check)
    check()
  })
}

/** @param {Member} m @param {object} cmd */
const tell = (m, cmd) => m.child.stdin.write(`${JSON.stringify(cmd)}\n`)

/** The LAN of `n` members: bridge, namespaces, processes; resolves once every member lists every other. */
async function lan(/** @type {number} */ n, /** @type {import('@peerguard/pki').CertificateAuthority} */ ca) {
  run(['ip', 'netns', 'add', BR])
  run(['ip', '-n', BR, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0'])
  run(['ip', '-n', BR, 'link', 'set', 'br0', 'up'])
  const crl = hex((await ca.crl()).der)
  for (let i = 0; i < n; i++) {
    const veth = `pgwb${tag}x${i}`
    const ip = `${NET}.${10 + i}`
    run(['ip', 'netns', 'add', ns(i)])
    made = i + 1
    run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}b`])
    run(['ip', 'link', 'set', veth, 'netns', ns(i)])
    run(['ip', 'link', 'set', `${veth}b`, 'netns', BR])
    run(['ip', '-n', BR, 'link', 'set', `${veth}b`, 'master', 'br0'])
    run(['ip', '-n', BR, 'link', 'set', `${veth}b`, 'up'])
    run(['ip', '-n', ns(i), 'addr', 'add', `${ip}/24`, 'dev', veth])
    run(['ip', '-n', ns(i), 'link', 'set', veth, 'up'])
    run(['ip', '-n', ns(i), 'link', 'set', 'lo', 'up'])
    run(['ip', '-n', ns(i), 'route', 'replace', '224.0.0.0/4', 'dev', veth])
    const seed = generateKeyPair().secretKey.slice(0, 32)
    const name = i === 0 ? 'admin' : `m${i}`
    const cert = await ca.issuePeer({ publicKey: keyPairFromSeed(seed).publicKey, name, groups: ['staff'] })
    const setup = {
      seed: hex(seed),
      chain: cert.chain.map(hex),
      root: hex(ca.certificate),
      crl,
      group: GROUP,
      port: PORT,
      interface: ip,
      interval: 1000,
      timeout: 60_000,
      members: 1
    }
    const child = spawn('ip', ['netns', 'exec', ns(i), process.execPath, MEMBER], {
      env: { ...process.env, PG_MEMBER: JSON.stringify(setup) },
      stdio: 'pipe'
    })
    /** @type {Member} */
    const m = {
      i,
      name,
      ip,
      serial: cert.serial,
      peerId: cert.peerId,
      servicePort: 0,
      child,
      members: [],
      bundle: 0,
      at: 0,
      stats: undefined,
      probe: undefined,
      waiters: [],
      stderr: []
    }
    child.stderr.on('data', (c) => m.stderr.push(String(c)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line)
      if (e.event === 'ready') m.servicePort = e.servicePort
      if (e.event === 'members') m.members = e.names
      if (e.event === 'bundle') [m.bundle, m.at] = [e.version, e.at]
      if (e.event === 'stats') m.stats = e.stats
      if (e.event === 'probe') m.probe = e
      for (const w of [...m.waiters]) w()
    })
    members.push(m)
  }
  await Promise.all(members.map((m) => until(m, () => m.members.length >= n - 1, 'every other member')))
}

/** The LAN's counters summed over every member. @returns {Promise<Record<string, number>>} */
async function totals() {
  for (const m of members) {
    m.stats = undefined
    tell(m, { stats: true })
  }
  await Promise.all(members.map((m) => until(m, () => m.stats !== undefined, 'its counters')))
  /** @type {Record<string, number>} */
  const sum = {}
  for (const m of members)
    for (const k of ['announcementsSent', 'announcementBytesSent', 'fetches', 'fetchBytes'])
      sum[k] = (sum[k] ?? 0) + Number(m.stats?.[k] ?? 0)
  return sum
}

console.log(`workspace: revocation propagation on a bridge, ${SIZES.join(', ')} members, ${ROUNDS} changes each`)
for (const n of SIZES) {
  const ca = await createCertificateAuthority({ name: 'Bench Workspace CA' })
  const t = performance.now()
  await lan(n, ca)
  const admin = /** @type {Member} */ (members[0])
  console.log(`  ${n} members found one another in ${Math.round(performance.now() - t)} ms`)
  /** @type {Record<string, number[]>} */
  const runs = { worst: [], median: [], datagrams: [], bytes: [] }
  for (let r = 1; r <= ROUNDS; r++) {
    // the last change revokes a running member; the others revoke a certificate not in use
    const live = r === ROUNDS ? /** @type {Member} */ (members[n - 1]) : undefined
    const serial = live?.serial ?? (await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: `gone${r}` })).serial
    await ca.revoke(serial)
    const bundle = signBundle({ version: r, issuedAtMs: Date.now(), crls: [(await ca.crl()).der] }, ca)
    const before = await totals()
    const others = members.filter((m) => m !== admin && m !== live)
    const t0 = Date.now()
    tell(admin, { publish: hex(bundle) })
    await Promise.all(others.map((m) => until(m, () => m.bundle >= r, `bundle ${r}`)))
    const times = others.map((m) => m.at - t0).sort((a, b) => a - b)
    const after = await totals()
    runs.worst?.push(/** @type {number} */ (times[times.length - 1]))
    runs.median?.push(/** @type {number} */ (times[Math.floor(times.length / 2)]))
    runs.datagrams?.push(Number(after.announcementsSent) - Number(before.announcementsSent))
    runs.bytes?.push(
      Number(after.announcementBytesSent) -
        Number(before.announcementBytesSent) +
        Number(after.fetchBytes) -
        Number(before.fetchBytes)
    )
    if (live !== undefined) {
      for (const m of others) {
        m.probe = undefined
        tell(m, { probe: { host: live.ip, port: live.servicePort, peerId: live.peerId } })
      }
      await Promise.all(others.map((m) => until(m, () => m.probe !== undefined, 'its probe of the revoked member')))
      const admitted = others.filter((m) => m.probe?.refused !== true || m.probe.cause !== 'cert-revoked')
      if (admitted.length > 0)
        throw new Error(`workspace: ${admitted.map((m) => m.name).join(', ')} did not refuse the revoked member`)
    }
  }
  const note = `${n} members in network namespaces on one bridge, multicast discovery (1 s announcements)`
  const w = figure(`revoke-${n}`, `revocation, ${n} members: the last member applied it`, 'ms', runs.worst ?? [], {
    higherIsBetter: false,
    note
  })
  const m = figure(`revoke-median-${n}`, `revocation, ${n} members: the median member`, 'ms', runs.median ?? [], {
    higherIsBetter: false,
    note
  })
  const d = figure(
    `datagrams-${n}`,
    `revocation, ${n} members: announcements sent meanwhile`,
    'datagrams',
    runs.datagrams ?? [],
    {
      higherIsBetter: false,
      note: 'every announcement on the LAN while the change spread, the periodic ones included'
    }
  )
  const b = figure(`bytes-${n}`, `revocation, ${n} members: announcement and bundle bytes`, 'B', runs.bytes ?? [], {
    higherIsBetter: false,
    note: 'announcement datagrams plus the bundles fetched (channel handshakes not counted)'
  })
  console.log(`  ${n} members: last member ${show(w, 'ms')}; median member ${show(m, 'ms')}`)
  console.log(`  ${n} members: ${show(d, 'datagrams')} and ${show(b, 'B')} per change`)
  cleanup()
}
