#!/usr/bin/env node
// @ts-check
// Rebuild the README's benchmark table from bench/results/*.json: for each benchmark, the figures
// of the newest results file that ran it (a row says which run and the load average then). The
// table goes between the `<!-- bench-table:start -->` and `<!-- bench-table:end -->` markers.
// Ratios are computed from the medians of the same run; the headline anchor is always the
// like-for-like one, context anchors are labelled as such. A ratio is always "how many times
// better": ours / anchor for rates, anchor / ours where lower is better (latencies, times).
// Runs on Node 24 (`npm run bench -- --node24`) fill a second ratio column from the newest
// Node 24 run of each benchmark; the other columns come from the newest run on another Node.
// Only full runs write results files (bench/run.js), so --quick smoke runs never reach the table.
// Run: node bench/readme-table.js [--check]   (--check: exit 1 when the README's table is not what
// the results files generate, compared cell by cell, so biome's column padding does not matter;
// the table is written unpadded and then formatted with biome, as `npm run lint` expects)
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt } from './lib.js'

const here = dirname(fileURLToPath(import.meta.url))
const README = join(here, '..', 'README.md')
const START = '<!-- bench-table:start -->'
const END = '<!-- bench-table:end -->'

/** @typedef {{ bench: string, key: string, label: string, unit: string, median: number, spread: number, runs: number[], higherIsBetter?: boolean }} Figure */
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
  {
    bench: 'share-load',
    what: 'share under load: 100 peers, mixed get/put/ls, ops/s',
    ours: 'hardened-ops',
    anchor: 'sftp-ops',
    context: ['smb3-ops', 'plain-ops'],
    goal: 1
  },
  {
    bench: 'share-load',
    what: 'share under load: CPU per operation (clients + server)',
    ours: 'hardened-cpu-per-op',
    anchor: 'sftp-cpu-per-op',
    context: ['smb3-cpu-per-op', 'plain-cpu-per-op']
  },
  {
    bench: 'share-load',
    what: 'share under load: get p99 (64 KiB)',
    ours: 'hardened-get-p99',
    anchor: 'sftp-get-p99',
    context: ['smb3-get-p99', 'hardened-get-p50']
  },
  {
    bench: 'share-load',
    what: 'share under load: put p99 (64 KiB)',
    ours: 'hardened-put-p99',
    anchor: 'sftp-put-p99',
    context: ['smb3-put-p99', 'hardened-put-p50']
  },
  {
    bench: 'share-load',
    what: 'share under load: ls p99 (folder of 300)',
    ours: 'hardened-ls-p99',
    anchor: 'sftp-ls-p99',
    context: ['smb3-ls-p99', 'hardened-ls-p50']
  },
  {
    bench: 'share-load',
    what: 'share under load: ls p50 against a small get p50 (same peers)',
    ours: 'hardened-ls-p50',
    anchor: 'hardened-get-p50',
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
    bench: 'netns',
    what: 'proxy pair between two network namespaces (iperf3 through it)',
    ours: 'proxy-iperf3',
    anchor: 'nebula-iperf3',
    context: ['veth-iperf3'],
    goal: 1
  },
  {
    bench: 'netns',
    what: 'channel between two network namespaces (same Node sender)',
    ours: 'channel-node',
    anchor: 'nebula-node',
    context: ['veth-node'],
    goal: 1
  },
  {
    bench: 'proxy',
    what: 'TCP proxy pair, Noise',
    ours: 'mbs-noise',
    anchor: 'mbs-stunnel',
    context: ['mbs-tls', 'mbs-direct'],
    goal: 1
  },
  {
    bench: 'workspace',
    what: 'revocation spread, 50 peers on a bridge',
    ours: 'revoke-50',
    context: ['revoke-median-50', 'bytes-50'],
    goalMax: 2000
  }
]

/** @param {Figure} f */
const value = (f) => `${Number.isInteger(f.median) ? f.median.toLocaleString('en-US') : fmt(f.median)} ${f.unit}`
/** @param {Figure} f */
const short = (f) => f.label.replace(/^[^:]*: /, '')

/** Node 24 runs get their own ratio column. */
const SECOND_NODE = 24
/** @param {Results} r */
const major = (r) => Number(/^v(\d+)/.exec(r.node)?.[1] ?? 0)

/** "How many times better" (see the header). @param {Figure} ours @param {Figure} anchor */
const better = (ours, anchor) => (ours.higherIsBetter === false ? anchor.median / ours.median : ours.median / anchor.median)

/** @param {Results} run @param {string} bench @param {string} key */
const find = (run, bench, key) => run.figures.find((f) => f.bench === bench && f.key === key)

/** The ratio cell of `row` in `run`, with the goal mark. @param {Row} row @param {Results | undefined} run */
function ratioCell(row, run) {
  if (run === undefined) return 'not run'
  const ours = find(run, row.bench, row.ours)
  const anchor = row.anchor === undefined ? undefined : find(run, row.bench, row.anchor)
  if (ours === undefined) return 'not measured'
  if (anchor === undefined) return '—'
  const r = better(ours, anchor)
  return `${r.toFixed(2)}×${row.goal === undefined ? '' : r >= row.goal ? ' ✔' : ' ✘'}`
}

/** @param {Results} run */
const when = (run) =>
  `${run.date.slice(0, 16).replace('T', ' ')}, load ${run.machine.loadavg[0]}${run.machine.loadavgAfter === undefined ? '' : ` → ${run.machine.loadavgAfter[0]}`}`

/**
 * The table: figures and the first ratio from the newest run of each benchmark on Node other than
 * 24, the second ratio from its newest Node 24 run. @param {Results[]} results oldest first
 */
export function buildTable(results) {
  /** @type {Map<string, Results>} */
  const newest = new Map()
  /** @type {Map<string, Results>} */
  const newest24 = new Map()
  for (const r of results) for (const f of r.figures) (major(r) === SECOND_NODE ? newest24 : newest).set(f.bench, r)
  const lines = [
    `| capability | peerguard | like-for-like anchor | ratio | ratio, Node ${SECOND_NODE} | goal | context (same run) | run |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |'
  ]
  /** @type {Set<Results>} */
  const used = new Set()
  for (const row of ROWS) {
    const run = newest.get(row.bench)
    const run24 = newest24.get(row.bench)
    if (run24 !== undefined) used.add(run24)
    const second = ratioCell(row, run24)
    const ours = run === undefined ? undefined : find(run, row.bench, row.ours)
    if (run === undefined || ours === undefined) {
      lines.push(`| ${row.what} | not measured yet | | | ${second} | | | |`)
      continue
    }
    used.add(run)
    /** @param {string} key */
    const get = (key) => find(run, row.bench, key)
    const anchor = row.anchor === undefined ? undefined : get(row.anchor)
    const r = anchor === undefined ? undefined : better(ours, anchor)
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
      `| ${row.what} | ${value(ours)} (${ours.runs.length} run${ours.runs.length === 1 ? '' : 's'}, ${spread}) | ${anchor === undefined ? '—' : `${short(anchor)}: ${value(anchor)}`} | ${r === undefined ? '—' : `${r.toFixed(2)}×`} | ${second} | ${goal || '—'} | ${context || '—'} | ${when(run)}${run24 === undefined ? '' : `; Node ${SECOND_NODE}: ${when(run24)}`} |`
    )
  }
  const machines = [
    ...new Set([...used].map((r) => `${r.machine.cores} × ${r.machine.cpu}, Node ${r.node}, OpenSSL ${r.openssl}`))
  ]
  return [
    `Generated by \`node bench/readme-table.js\` from \`bench/results/\` (each benchmark's newest full run per Node version) on: ${machines.join('; ') || 'no run yet'}.`,
    'The machine is shared and small (2 cores, other work running: the 1-minute load average at the start and end of each run is given), so',
    'absolute figures move between runs; **the ratios within one run are the claim**, not the absolute figures.',
    'A ratio is how many times better peerguard is: ours / anchor for rates, anchor / ours where lower is better (latencies, times).',
    `"ratio, Node ${SECOND_NODE}" is the same ratio from the newest run under Node ${SECOND_NODE} (\`npm run bench -- --node24\`).`,
    'MB = 10^6 bytes. "± x %" is half the spread (max − min) / median of the runs.',
    '',
    ...lines
  ].join('\n')
}

/** Cell by cell, ignoring column padding and the separator row's dash count. @param {string} text */
const normalize = (text) =>
  text
    .split('\n')
    .map((l) =>
      l.startsWith('|')
        ? l
            .split('|')
            .map((c) => c.trim().replace(/^-+$/, '-'))
            .join('|')
        : l.trimEnd()
    )
    .join('\n')

/** The README's generated section, or undefined when it has no markers. @param {string} readme */
function section(readme) {
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  return a < 0 || b < a ? undefined : { a, b, body: readme.slice(a + START.length, b) }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README, 'utf8')
  const at = section(readme)
  if (at === undefined) {
    console.error(`readme-table: error: README.md has no ${START} … ${END} section`)
    process.exit(2)
  }
  const table = buildTable(allResults())
  if (process.argv.includes('--check')) {
    if (normalize(at.body.trim()) !== normalize(table.trim())) {
      console.error(
        "readme-table: README.md's benchmark table is not what bench/results/ generates: run node bench/readme-table.js"
      )
      process.exit(1)
    }
    console.log('readme-table: README.md benchmark table is up to date')
  } else {
    writeFileSync(README, `${readme.slice(0, at.a + START.length)}\n${table}\n${readme.slice(at.b)}`)
    const biome = join(here, '..', 'node_modules', '.bin', 'biome')
    if (spawnSync(biome, ['format', '--write', README], { stdio: 'ignore' }).status !== 0)
      console.log('readme-table: note: could not format README.md with biome; run npx biome format --write README.md')
    console.log('readme-table: README.md benchmark table rebuilt')
  }
}
