#!/usr/bin/env node
// @ts-check
// Run the benchmarks: every bench/*.bench.js in sequence, each in its own child process with
// inherited stdio, or only those named on the command line (`node bench/run.js identity policy`).
// Arguments starting with `--` (e.g. --quick) are passed on to every benchmark.
// A full run (not --quick) writes bench/results/<date>.json: the machine (CPU, cores, memory,
// load before and after), Node and OpenSSL versions, and every figure each benchmark recorded
// with its runs, median and spread (bench/lib.js). `node bench/readme-table.js` then rebuilds the
// README table from the newest results file. --quick runs are smoke tests and write nothing;
// neither does a run in which a benchmark failed.
// --node24 runs every benchmark under Node 24 instead of this Node: the binary named by
// PEERGUARD_NODE24, else .tmp/node24 (where .ci/run installs the npm package node@24), else
// /opt/node24; the results file records the version the benchmarks ran on, and the README table
// shows Node 24 ratios in their own column (`npm run bench -- --node24`).
// Exit code: 0 when all ran, 1 when one failed, 2 for an unknown benchmark name.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const SUFFIX = '.bench.js'
const available = readdirSync(here)
  .filter((f) => f.endsWith(SUFFIX))
  .sort()
  .map((f) => basename(f, SUFFIX))

const args = process.argv.slice(2)
const flags = args.filter((a) => a.startsWith('--') && a !== '--node24')
const quick = flags.includes('--quick')
const NODE24 = [
  process.env.PEERGUARD_NODE24,
  join(here, '..', '.tmp', 'node24', 'node_modules', 'node', 'bin', 'node'),
  '/opt/node24/node_modules/node/bin/node'
].filter(/** @returns {p is string} */ (p) => typeof p === 'string' && p !== '')
/** The Node binary the benchmarks run on. */
const node = args.includes('--node24') ? NODE24.find((p) => existsSync(p)) : process.execPath
if (node === undefined) {
  console.error(`bench: error: --node24: no Node 24 binary (PEERGUARD_NODE24, ${NODE24.slice(1).join(', ')})`)
  process.exit(2)
}
const versions = JSON.parse(
  spawnSync(node, ['-p', 'JSON.stringify({ node: process.version, openssl: process.versions.openssl })'], {
    encoding: 'utf8'
  }).stdout
)
const names = args.filter((a) => !a.startsWith('--')).map((a) => basename(a).replace(/\.bench\.js$|\.js$/, ''))
const unknown = names.filter((n) => !available.includes(n))
if (unknown.length > 0) {
  console.error(`bench: error: no benchmark named ${unknown.join(', ')} (have: ${available.join(', ') || 'none'})`)
  process.exit(2)
}
const selected = names.length > 0 ? names : available

const work = mkdtempSync(join(tmpdir(), 'pg-bench-'))
const out = join(work, 'figures.jsonl')
writeFileSync(out, '')
const machine = () => ({
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGB: +(totalmem() / 1e9).toFixed(1),
  freeMemoryGB: +(freemem() / 1e9).toFixed(1),
  loadavg: loadavg().map((l) => +l.toFixed(2)),
  kernel: release()
})
console.log(`bench: Node ${versions.node} (${node}), OpenSSL ${versions.openssl}`)
const started = new Date()
const before = machine()
/** @type {Record<string, { seconds: number, status: string }>} */
const runs = {}
const failed = []
for (const name of selected) {
  console.log(`\n=== ${name} ===`)
  const t0 = performance.now()
  const r = spawnSync(node, [join(here, `${name}${SUFFIX}`), ...flags], {
    stdio: 'inherit',
    env: { ...process.env, PEERGUARD_BENCH_OUT: out }
  })
  const seconds = +((performance.now() - t0) / 1000).toFixed(1)
  const status = r.status === 0 ? 'ok' : (r.signal ?? `exit ${r.status}`)
  runs[name] = { seconds, status }
  if (r.status !== 0) {
    failed.push(name)
    console.error(`bench: error: ${name} failed (${status}) after ${seconds} s`)
  } else {
    console.log(`--- ${name}: ${seconds} s`)
  }
}
const figures = readFileSync(out, 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l))
rmSync(work, { recursive: true, force: true })
if (!quick && failed.length > 0) {
  console.log('\nbench: a benchmark failed: no results file written (a results file holds complete runs only)')
} else if (!quick) {
  const results = {
    date: started.toISOString(),
    machine: { ...before, loadavgAfter: loadavg().map((l) => +l.toFixed(2)) },
    node: versions.node,
    openssl: versions.openssl,
    units: 'MB = 10^6 bytes; MiB = 2^20 bytes (sizes of test data only)',
    benchmarks: runs,
    figures
  }
  const dir = join(here, 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${started.toISOString().slice(0, 19).replace(/:/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  // in the repository's JSON style, so `npm run lint` (biome) accepts the file as written
  const biome = join(here, '..', 'node_modules', '.bin', 'biome')
  if (spawnSync(biome, ['format', '--write', file], { stdio: 'ignore' }).status !== 0)
    console.log(`bench: note: could not format ${file} with biome; run npx biome format --write on it`)
  console.log(`\nbench: ${figures.length} figures written to ${file}`)
} else {
  console.log(`\nbench: quick mode: ${figures.length} figures recorded, none kept (smoke test)`)
}
if (failed.length > 0) {
  console.error(`bench: ${failed.length} of ${selected.length} benchmarks failed: ${failed.join(', ')}`)
  process.exit(1)
}
