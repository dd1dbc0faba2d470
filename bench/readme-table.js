#!/usr/bin/env node
// @ts-check
// Rebuild the README's benchmark table from bench/results/*.json: for each benchmark, the figures
// of the newest results file that ran it (a row says which run and the load average then). The
// table goes between the `<!-- bench-table:start -->` and `<!-- bench-table:end -->` markers.
// Ratios are computed from the medians of the same run; the headline anchor is always the
// like-for-like one, context anchors are labelled as such.
// Run: node bench/readme-table.js [--check]   (--check: exit 1 when the README is not up to date)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt } from './lib.js'

const here = dirname(fileURLToPath(import.meta.url))
const README = join(here, '..', 'README.md')
const START = '<!-- bench-table:start -->'
const END = '<!-- bench-table:end -->'

/** @typedef {{ bench: string, key: string, label: string, unit: string, median: number, spread: number, runs: number[] }} Figure */
/** @typedef {{ date: string, machine: { cpu: string, cores: number, loadavg: number[], loadavgAfter?: number[] }, node: string, openssl: string, figures: Figure[] }} Results */

/** Every results file, oldest first. @returns {Results[]} */
function allResults() {
  const dir = join(here, 'results')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => /** @type {Results} */ (JSON.parse(readFileSync(join(dir, f), 'utf8'))))
}

/**
 * One table row: `ours` is the peerguard figure, `anchor` the like-for-like anchor (the ratio's
 * denominator), `context` other figures of the same run, `goal` the issue's goal as a ratio (or
 * an absolute bound on `ours` with `goalMax`/`goalMin`).
 * @typedef {{ bench: string, what: string, ours: string, anchor?: string, context?: string[], goal?: number, goalMax?: number, goalMin?: number }} Row
 */
/** @type {Row[]} */
const ROWS = [
  {
    bench: 'identity',
    what: 'Ed25519 sign',
    ours: 'sign-peerguard',
    anchor: 'sign-node',
    context: ['sign-tweetnacl'],
    goal: 0.85
  },
  {
    bench: 'identity',
    what: 'Ed25519 verify',
    ours: 'verify-peerguard',
    anchor: 'verify-node',
    context: ['verify-tweetnacl'],
    goal: 0.85
  },
  {
    bench: 'pki',
    what: 'chain validation, cold (leaf + root + CRL)',
    ours: 'cold-chain',
    anchor: 'node-leaf-verify',
    context: ['node-both-verify'],
    goal: 0.8
  },
  { bench: 'pki', what: 'chain re-verification, cached', ours: 'cached-chain', goalMin: 100_000 },
  { bench: 'pki', what: 'certificate issuance', ours: 'issue-peer', anchor: 'issue-x509' },
  {
    bench: 'policy',
    what: 'policy decide() (1,000 peers, 2,000 rules)',
    ours: 'decide',
    anchor: 'casl-per-peer',
    context: ['casl-whole'],
    goal: 8
  },
  {
    bench: 'policy',
    what: '10,000-rule YAML policy loaded + compiled for all peers',
    ours: 'load-compile-all-yaml-10k',
    context: ['load-compile-all-json-10k'],
    goalMax: 250
  },
  {
    bench: 'audit',
    what: 'traffic audit, corpus mix, processes spawn to exit',
    ours: 'mix-peerguard',
    anchor: 'mix-tcpdump-nr',
    context: ['mix-tshark-conv', 'mix-tcpdump-w'],
    goal: 4
  },
  { bench: 'audit', what: 'live capture of a 1 GB loopback transfer: packets dropped', ours: 'live-dropped', goalMax: 0 },
  { bench: 'audit', what: 'live capture: packets shed (headers only, auditor behind)', ours: 'live-shed', goalMax: 0 },
  {
    bench: 'channel',
    what: 'channel bulk, one connection',
    ours: 'bulk-channel',
    anchor: 'bulk-tls',
    context: ['bulk-tls-chacha', 'bulk-secret-stream', 'bulk-node-ceiling', 'bulk-socat', 'bulk-iperf3'],
    goal: 1
  },
  { bench: 'channel', what: 'channel handshakes, cold (mutual auth)', ours: 'hs-cold-channel', anchor: 'hs-cold-tls', goal: 1.5 },
  {
    bench: 'channel',
    what: 'channel handshakes, warm (XX; IK)',
    ours: 'hs-warm-channel',
    anchor: 'hs-warm-tls',
    context: ['hs-warm-channel-ik', 'hs-secret-stream']
  },
  { bench: 'channel', what: 'memory per idle channel end', ours: 'idle-memory-channel', context: ['idle-memory-tcp'] },
  {
    bench: 'share',
    what: 'share get (client process per transfer)',
    ours: 'get-hardened',
    anchor: 'get-sftp',
    context: ['get-plain', 'get-smb3'],
    goal: 1
  },
  {
    bench: 'share',
    what: 'share put (client process per transfer)',
    ours: 'put-hardened',
    anchor: 'put-sftp',
    context: ['put-plain', 'put-smb3'],
    goal: 1
  },
  { bench: 'swarm', what: 'swarm, one file to 3 leechers', ours: 'peerguard', anchor: 'aria2c', goal: 1 },
  { bench: 'libp2p', what: 'libp2p encrypter bulk', ours: 'bulk-peerguard', anchor: 'bulk-noise' },
  {
    bench: 'libp2p',
    what: 'libp2p connections, cold',
    ours: 'conn-cold-peerguard',
    anchor: 'conn-noise',
    context: ['conn-warm-peerguard']
  },
  {
    bench: 'proxy',
    what: 'TCP proxy pair, Noise',
    ours: 'mbs-noise',
    anchor: 'mbs-stunnel',
    context: ['mbs-tls', 'mbs-direct'],
    goal: 1
  }
]

/** @param {Figure} f */
const value = (f) => `${Number.isInteger(f.median) ? f.median.toLocaleString('en-US') : fmt(f.median)} ${f.unit}`
/** @param {Figure} f */
const short = (f) => f.label.replace(/^[^:]*: /, '')

/** The table, from the newest run of each benchmark. @param {Results[]} results */
export function buildTable(results) {
  /** @type {Map<string, Results>} */
  const newest = new Map()
  for (const r of results) for (const f of r.figures) newest.set(f.bench, r)
  const lines = [
    '| capability | peerguard | like-for-like anchor | ratio | goal | context (same run) | run |',
    '| --- | --- | --- | --- | --- | --- | --- |'
  ]
  /** @type {Set<Results>} */
  const used = new Set()
  for (const row of ROWS) {
    const run = newest.get(row.bench)
    /** @param {string} key */
    const get = (key) => run?.figures.find((f) => f.bench === row.bench && f.key === key)
    const ours = get(row.ours)
    if (run === undefined || ours === undefined) {
      lines.push(`| ${row.what} | not measured yet | | | | | |`)
      continue
    }
    used.add(run)
    const anchor = row.anchor === undefined ? undefined : get(row.anchor)
    const r = anchor === undefined ? undefined : ours.median / anchor.median
    let goal = ''
    if (row.goal !== undefined && r !== undefined) goal = `≥ ${row.goal}× ${r >= row.goal ? '✔' : '✘'}`
    else if (row.goalMax !== undefined)
      goal = `≤ ${row.goalMax.toLocaleString('en-US')} ${ours.unit} ${ours.median <= row.goalMax ? '✔' : '✘'}`
    else if (row.goalMin !== undefined) goal = `≥ ${fmt(row.goalMin)} ${ours.unit} ${ours.median >= row.goalMin ? '✔' : '✘'}`
    const context = (row.context ?? [])
      .map(get)
      .filter((f) => f !== undefined)
      .map((f) => `${short(f)}: ${value(f)}`)
      .join('; ')
    const spread = `± ${(ours.spread * 50).toFixed(0)} %`
    lines.push(
      `| ${row.what} | ${value(ours)} (${ours.runs.length} run${ours.runs.length === 1 ? '' : 's'}, ${spread}) | ${anchor === undefined ? '—' : `${short(anchor)}: ${value(anchor)}`} | ${r === undefined ? '—' : `${r.toFixed(2)}×`} | ${goal || '—'} | ${context || '—'} | ${run.date.slice(0, 16).replace('T', ' ')}, load ${run.machine.loadavg[0]}${run.machine.loadavgAfter === undefined ? '' : ` → ${run.machine.loadavgAfter[0]}`} |`
    )
  }
  const machines = [
    ...new Set([...used].map((r) => `${r.machine.cores} × ${r.machine.cpu}, Node ${r.node}, OpenSSL ${r.openssl}`))
  ]
  return [
    `Generated by \`node bench/readme-table.js\` from \`bench/results/\` (each benchmark's newest full run) on: ${machines.join('; ') || 'no run yet'}.`,
    'The machine is shared and small (2 cores, other work running: the 1-minute load average at the start and end of each run is given), so',
    'absolute figures move between runs; **the ratios within one run are the claim**, not the absolute figures.',
    'MB = 10^6 bytes. "± x %" is half the spread (max − min) / median of the runs.',
    '',
    ...lines
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README, 'utf8')
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  if (a < 0 || b < a) {
    console.error(`readme-table: error: README.md has no ${START} … ${END} section`)
    process.exit(2)
  }
  const next = `${readme.slice(0, a + START.length)}\n${buildTable(allResults())}\n${readme.slice(b)}`
  if (process.argv.includes('--check')) {
    if (next !== readme) {
      console.error('readme-table: README.md is not up to date: run node bench/readme-table.js')
      process.exit(1)
    }
  } else {
    writeFileSync(README, next)
    console.log('readme-table: README.md benchmark table rebuilt')
  }
}
