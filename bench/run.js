#!/usr/bin/env node
// Run the benchmarks: every bench/*.bench.js in sequence, each in its own child process with
// inherited stdio, or only those named on the command line (`node bench/run.js identity policy`).
// Arguments starting with `--` (e.g. --quick) are passed on to every benchmark.
// Exit code: 0 when all ran, 1 when one failed, 2 for an unknown benchmark name.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const SUFFIX = '.bench.js'
const available = readdirSync(here)
  .filter((f) => f.endsWith(SUFFIX))
  .sort()
  .map((f) => basename(f, SUFFIX))

const args = process.argv.slice(2)
const flags = args.filter((a) => a.startsWith('--'))
const names = args.filter((a) => !a.startsWith('--')).map((a) => basename(a).replace(/\.bench\.js$|\.js$/, ''))
const unknown = names.filter((n) => !available.includes(n))
if (unknown.length > 0) {
  console.error(`bench: error: no benchmark named ${unknown.join(', ')} (have: ${available.join(', ') || 'none'})`)
  process.exit(2)
}
const selected = names.length > 0 ? names : available

const failed = []
for (const name of selected) {
  console.log(`\n=== ${name} ===`)
  const started = performance.now()
  const r = spawnSync(process.execPath, [join(here, `${name}${SUFFIX}`), ...flags], { stdio: 'inherit' })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  if (r.status !== 0) {
    failed.push(name)
    console.error(`bench: error: ${name} failed (${r.signal ?? `exit ${r.status}`}) after ${seconds} s`)
  } else {
    console.log(`--- ${name}: ${seconds} s`)
  }
}
if (failed.length > 0) {
  console.error(`bench: ${failed.length} of ${selected.length} benchmarks failed: ${failed.join(', ')}`)
  process.exit(1)
}
