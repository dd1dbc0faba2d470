#!/usr/bin/env node
// @ts-check
// A share server under many peers: 100 peers, each with its own credentials and one long-lived
// session, run a mixed load of get/put/ls with one operation in flight per peer (concurrency =
// peers) for a fixed time, against peerguard share hardened (Noise channel, certificate checks,
// policy, decision log), peerguard plain (context), sftp (OpenSSH) and Samba with SMB3 encryption.
//
//   node bench/share-load.bench.js            100 peers, 2 rounds of 3 s warm-up + 30 s measured
//   node bench/share-load.bench.js --quick    20 peers, 1 round of 3 s, smaller folders
//   options: --peers N --seconds S --rounds R
//
// The mix, the same on every tool (each peer draws its operations from its own seeded generator,
// so every tool gets the same sequence): 60 % get of a 64 KiB file picked at random from the data
// folders to a local file, 25 % put of a 64 KiB local file over one of the peer's 4 files in
// up/p<N>/, 15 % ls of a data folder with its sizes and times. Data: 8 folders of 300 files
// (quick: 2 of 150), 64 KiB of incompressible bytes each.
// Process model, the same on every tool where the tools allow it: the server is a daemon (peerguard
// in one Node child process; sshd forks a process per session running internal-sftp; smbd forks a
// process per client). Every peer's session is opened before the clock and kept: peerguard's 100
// ShareClients run in this process (one event loop), sftp and smbclient as one client process per
// peer (their only form), driven from this process over pipes (smbclient under `script`, a pty).
// Mind the machine: Linux shares a busy CPU per thread, so under other load the anchors' 200
// processes (client + server side) get more of it than peerguard's two. So the CPU time of all
// the tool's processes (clients, server, this driver: this process and its descendants, from
// /proc) over the measured window is recorded too, per operation: the cost, whatever the load.
// Credentials: peerguard, a certificate per peer (CA-issued, group staff); sftp, an ed25519 key per
// peer (one Unix account); SMB, one Samba account for all (Samba accounts need Unix users).
// Plain mode limits concurrent operations per source host (8); all peers come from 127.0.0.1, so
// its server is given 128 here. Latencies: from issuing an operation to its completion, only
// operations issued after the warm-up and finished before the end; ops/s = those / seconds.
// Nothing is asserted: the figures and the ratios to sftp and SMB3 are printed and recorded.
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCertificateAuthority } from '@peerguard/pki'
import { sshdAvailable, smbdAvailable, startSmbd, startSshd } from './daemons.js'
import { at, figure, fmt, QUICK } from './lib.js'
import { peerguardSession, sftpSession, smbSession } from './load-sessions.js'
import { treeCpuMs } from './proc-cpu.js'
import { credsTransport, issueCreds, startShareServer } from './share-server.js'

/** @param {string} name @param {number} fallback */
const opt = (name, fallback) => {
  const k = process.argv.indexOf(name)
  const v = k >= 0 ? Number(process.argv[k + 1]) : Number.NaN
  return Number.isFinite(v) && v > 0 ? v : fallback
}
const PEERS = opt('--peers', QUICK ? 20 : 100)
const SECONDS = opt('--seconds', QUICK ? 3 : 30)
const WARMUP = QUICK ? 0.5 : 3
const ROUNDS = opt('--rounds', QUICK ? 1 : 2)
const FOLDERS = QUICK ? 2 : 8
const ENTRIES = QUICK ? 150 : 300
const FILE = 64 * 1024
const PUT_NAMES = 4
const MIX = { get: 0.6, put: 0.25, ls: 0.15 }
/** @typedef {'get' | 'put' | 'ls'} Op */
const OPS = /** @type {Op[]} */ (['get', 'put', 'ls'])

/** A small seeded generator (mulberry32): the same operation sequence for a peer on every tool. @param {number} seed */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** @param {number[]} sorted @param {number} q */
const pct = (sorted, q) =>
  sorted.length === 0 ? Number.NaN : at(sorted, Math.min(sorted.length - 1, Math.floor(q * sorted.length)))

/**
 * Drive `sessions` for WARMUP + SECONDS: each peer issues its next operation when the previous one
 * finished. Returns the latencies (ms) per operation, the errors and the ops/s.
 * @param {import('./load-sessions.js').Session[]} sessions @param {string} local
 */
async function drive(sessions, local) {
  /** @type {Record<Op, number[]>} */
  const lat = { get: [], put: [], ls: [] }
  let errors = 0
  let listedNone = 0
  const t0 = performance.now()
  const from = t0 + WARMUP * 1000
  const end = from + SECONDS * 1000
  // CPU of this process and all its descendants (the tool's clients and server) over the window
  let cpuFrom = 0
  let cpuEnd = 0
  const timers = [
    setTimeout(() => {
      cpuFrom = treeCpuMs()
    }, WARMUP * 1000),
    setTimeout(
      () => {
        cpuEnd = treeCpuMs()
      },
      (WARMUP + SECONDS) * 1000
    )
  ]
  await Promise.all(
    sessions.map(async (s, peer) => {
      const next = rng(peer + 1)
      for (let n = 0; ; n++) {
        const start = performance.now()
        if (start >= end) break
        const r = next()
        const folder = `data/d${Math.floor(next() * FOLDERS)}`
        /** @type {Op} */
        const op = r < MIX.get ? 'get' : r < MIX.get + MIX.put ? 'put' : 'ls'
        try {
          if (op === 'get') await s.get(`${folder}/e${Math.floor(next() * ENTRIES)}.bin`, join(local, `p${peer}-get.bin`))
          else if (op === 'put') await s.put(join(local, `p${peer}-src.bin`), `up/p${peer}/u${n % PUT_NAMES}.bin`)
          else if ((await s.ls(folder)) < ENTRIES) listedNone++
        } catch {
          errors++
          continue
        }
        const done = performance.now()
        if (start >= from && done <= end) lat[op].push(done - start)
      }
    })
  )
  for (const t of timers) clearTimeout(t)
  if (cpuEnd === 0) cpuEnd = treeCpuMs()
  for (const s of sessions) errors += s.errors()
  for (const op of OPS) lat[op].sort((a, b) => a - b)
  const ops = OPS.reduce((n, op) => n + lat[op].length, 0)
  return {
    lat,
    errors,
    short: listedNone,
    opsPerSecond: ops / SECONDS,
    cpuSeconds: (cpuEnd - cpuFrom) / 1000,
    cpuPerOp: (cpuEnd - cpuFrom) / ops
  }
}

/**
 * Open the sessions a few at a time (as peers arrive), returning them and the seconds it took.
 * @param {(i: number) => Promise<import('./load-sessions.js').Session>} open
 */
async function openAll(open) {
  const t = performance.now()
  /** @type {import('./load-sessions.js').Session[]} */
  const sessions = []
  for (let i = 0; i < PEERS; i += 10) {
    const batch = Array.from({ length: Math.min(10, PEERS - i) }, (_, k) => open(i + k))
    sessions.push(...(await Promise.all(batch)))
  }
  return { sessions, setup: (performance.now() - t) / 1000 }
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'pg-share-load-'))
  const root = join(dir, 'root')
  const local = join(dir, 'local')
  try {
    const block = randomBytes(FOLDERS * ENTRIES * 64 + FILE)
    for (let d = 0; d < FOLDERS; d++) {
      await mkdir(join(root, 'data', `d${d}`), { recursive: true })
      for (let e = 0; e < ENTRIES; e++) {
        const o = (d * ENTRIES + e) * 64
        await writeFile(join(root, 'data', `d${d}`, `e${e}.bin`), block.subarray(o, o + FILE))
      }
    }
    await mkdir(local)
    for (let p = 0; p < PEERS; p++) {
      await mkdir(join(root, 'up', `p${p}`), { recursive: true })
      await writeFile(join(local, `p${p}-src.bin`), randomBytes(FILE))
    }
    const ca = await createCertificateAuthority({ name: 'Bench CA' })
    const server = await issueCreds(ca, 'server')
    /** @type {import('@peerguard/share').ShareTransport[]} */
    const peers = []
    for (let p = 0; p < PEERS; p++) peers.push(credsTransport(await issueCreds(ca, `peer-${p}`)).transport)
    console.log(
      `${PEERS} peers, one session and one operation in flight each; mix: get ${MIX.get * 100} %, put ${MIX.put * 100} %, ls ${MIX.ls * 100} % ` +
        `(64 KiB files; folders of ${ENTRIES}); ${ROUNDS} round(s) of ${WARMUP} s warm-up + ${SECONDS} s; latencies in ms`
    )

    /** @type {Record<string, () => Promise<{ sessions: import('./load-sessions.js').Session[], setup: number, stop: () => Promise<unknown> } | { skipped: string }>>} */
    const tools = {
      hardened: async () => {
        const s = await startShareServer({ mode: 'hardened', root, dir, creds: server })
        return { ...(await openAll((i) => peerguardSession(s.addr, at(peers, i)))), stop: s.stop }
      },
      plain: async () => {
        const s = await startShareServer({ mode: 'plain', root, dir, creds: server, maxConcurrentPerPeer: 128 })
        return { ...(await openAll(() => peerguardSession(s.addr, undefined))), stop: s.stop }
      },
      sftp: async () => {
        const missing = sshdAvailable()
        if (missing !== undefined) return { skipped: missing }
        const sshd = await startSshd(join(dir, `ssh-${Date.now()}`), PEERS)
        return { ...(await openAll((i) => sftpSession(sshd, at(sshd.keys, i), root))), stop: sshd.stop }
      },
      smb3: async () => {
        const missing = smbdAvailable()
        if (missing !== undefined) return { skipped: missing }
        const smbd = await startSmbd(join(dir, `smb-${Date.now()}`), root)
        return { ...(await openAll(() => smbSession(smbd))), stop: smbd.stop }
      }
    }
    const names = {
      hardened: 'peerguard hardened',
      plain: 'peerguard plain',
      sftp: 'sftp (OpenSSH)',
      smb3: 'smbclient SMB3 encrypted'
    }
    /** @type {Record<string, { ops: number[], errors: number, short: number, setup: number[], lat: Record<string, number[]>, cpu: number[], cpuPerOp: number[] } | { skipped: string }>} */
    const all = {}
    for (let round = 0; round < ROUNDS; round++) {
      for (const [key, start] of Object.entries(tools)) {
        const got = await start()
        if ('skipped' in got) {
          all[key] = got
          continue
        }
        const r = await drive(got.sessions, local)
        await Promise.all(got.sessions.map((s) => s.close()))
        await got.stop()
        const prev = all[key] ?? { ops: [], errors: 0, short: 0, setup: [], lat: {}, cpu: [], cpuPerOp: [] }
        if ('skipped' in prev) continue
        prev.ops.push(r.opsPerSecond)
        prev.errors += r.errors
        prev.short += r.short
        prev.setup.push(got.setup)
        prev.cpu.push(r.cpuSeconds)
        prev.cpuPerOp.push(r.cpuPerOp)
        for (const op of OPS) for (const q of [50, 99]) (prev.lat[`${op}-p${q}`] ??= []).push(pct(r.lat[op], q / 100))
        all[key] = prev
      }
    }
    console.log('')
    console.log(
      `  ${'tool'.padEnd(26)} ${'ops/s'.padStart(7)} ${OPS.map((o) => `${o} p50/p99`.padStart(15)).join(' ')}  errors  sessions set up`
    )
    /** @type {Record<string, number>} */
    const med = {}
    for (const [key, r] of Object.entries(all)) {
      const name = names[/** @type {keyof typeof names} */ (key)]
      if ('skipped' in r) {
        console.log(`  ${name.padEnd(26)} skipped: ${r.skipped}`)
        continue
      }
      med[`${key}-ops`] = figure(`${key}-ops`, `share under load, ${PEERS} peers: ${name}`, 'ops/s', r.ops).median
      for (const [k, runs] of Object.entries(r.lat))
        med[`${key}-${k}`] = figure(
          `${key}-${k}`,
          `share under load, ${PEERS} peers: ${name}, ${k.replace('-', ' ')}`,
          'ms',
          runs,
          {
            higherIsBetter: false
          }
        ).median
      figure(`${key}-errors`, `share under load, ${PEERS} peers: ${name}, failed operations`, 'operations', [r.errors], {
        higherIsBetter: false
      })
      const cell = (/** @type {Op} */ op) =>
        `${fmt(med[`${key}-${op}-p50`] ?? Number.NaN)}/${fmt(med[`${key}-${op}-p99`] ?? Number.NaN)}`.padStart(15)
      console.log(
        `  ${name.padEnd(26)} ${fmt(med[`${key}-ops`] ?? Number.NaN).padStart(7)} ${OPS.map(cell).join(' ')}  ${String(r.errors).padStart(6)}  ${r.setup.map((s) => `${s.toFixed(1)} s`).join(', ')}${r.short > 0 ? `  (${r.short} short listings)` : ''}`
      )
    }
    console.log('')
    for (const [key, r] of Object.entries(all)) {
      if ('skipped' in r) continue
      const name = names[/** @type {keyof typeof names} */ (key)]
      const perOp = figure(
        `${key}-cpu-per-op`,
        `share under load, ${PEERS} peers: ${name}, CPU per operation`,
        'ms',
        r.cpuPerOp,
        {
          higherIsBetter: false
        }
      )
      med[`${key}-cpu-per-op`] = perOp.median
      console.log(
        `  CPU, ${name}: ${r.cpu.map((c) => `${c.toFixed(1)} s`).join(', ')} of ${SECONDS} s × 2 cores, ${fmt(perOp.median)} ms per operation (clients, server and this driver)`
      )
    }
    /** @param {string} a @param {string} b @param {boolean} higher */
    const ratio = (a, b, higher) => {
      const x = med[a]
      const y = med[b]
      return x === undefined || y === undefined ? 'n/a' : `${(higher ? x / y : y / x).toFixed(2)}×`
    }
    console.log('')
    for (const anchor of ['sftp', 'smb3', 'plain'])
      console.log(
        `  hardened vs ${names[/** @type {keyof typeof names} */ (anchor)].padEnd(26)} ops/s ${ratio('hardened-ops', `${anchor}-ops`, true)}; ` +
          OPS.map((op) => `${op} p99 ${ratio(`hardened-${op}-p99`, `${anchor}-${op}-p99`, false)}`).join(', ') +
          ' (latency ratios: anchor / peerguard, > 1 is faster)'
      )
    console.log(
      `  issue 15: ls no slower than a small get: peerguard hardened ls p50 ${fmt(med['hardened-ls-p50'] ?? Number.NaN)} ms, get p50 ${fmt(med['hardened-get-p50'] ?? Number.NaN)} ms (get/ls ${ratio('hardened-ls-p50', 'hardened-get-p50', false)})`
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  process.exit(0)
}

await main()
