// @ts-check
// What every benchmark shares: the --quick flag, repeated measurement with median and spread, and
// recording each figure for bench/results/<date>.json. A benchmark calls `figure()` for each
// number it reports; run.js collects them (through the file named by PEERGUARD_BENCH_OUT) into one
// results file, and bench/readme-table.js builds the README table from that file.
// Units: throughput in MB/s with MB = 10^6 bytes everywhere; sizes of test data in MiB (2^20).
import { appendFileSync } from 'node:fs'
import { basename } from 'node:path'

/** Smoke mode: small sizes and short runs; checks that the benchmark runs, claims nothing. */
export const QUICK = process.argv.includes('--quick')

export const MB = 1e6
export const MiB = 2 ** 20

/**
 * @typedef {{ runs: number[], median: number, min: number, max: number, spread: number }} Summary
 * `spread` is (max - min) / median: how much the runs disagree.
 */

/** @param {readonly number[]} runs @returns {Summary} */
export function summarize(runs) {
  if (runs.length === 0) throw new Error('summarize: no runs')
  const sorted = [...runs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median =
    sorted.length % 2 === 1 ? /** @type {number} */ (sorted[mid]) : (Number(sorted[mid - 1]) + Number(sorted[mid])) / 2
  const min = /** @type {number} */ (sorted[0])
  const max = /** @type {number} */ (sorted[sorted.length - 1])
  return { runs: [...runs], median, min, max, spread: median === 0 ? 0 : (max - min) / median }
}

/** Which benchmark file is running (e.g. `channel`), for the figure keys. */
const BENCH = basename(process.argv[1] ?? 'unknown').replace(/\.bench\.js$/, '')

/**
 * Record one figure: `key` is stable (the README generator refers to it), `runs` are the
 * repeated measurements in `unit`. Prints nothing; returns the summary.
 * @param {string} key @param {string} label @param {string} unit @param {readonly number[]} runs
 * @param {{ higherIsBetter?: boolean, note?: string }} [extra]
 * @returns {Summary}
 */
export function figure(key, label, unit, runs, extra = {}) {
  const s = summarize(runs)
  const out = process.env.PEERGUARD_BENCH_OUT
  if (out !== undefined && out !== '') {
    const record = { bench: BENCH, key, label, unit, higherIsBetter: extra.higherIsBetter ?? true, ...s, note: extra.note }
    appendFileSync(out, `${JSON.stringify(record)}\n`)
  }
  return s
}

/**
 * Run `measure` `rounds` times, alternating with the other contenders measured the same way by
 * the caller; returns the runs. A measurement returns one number (a rate or a time).
 * @param {number} rounds @param {() => Promise<number> | number} measure @returns {Promise<number[]>}
 */
export async function repeat(rounds, measure) {
  /** @type {number[]} */
  const runs = []
  for (let i = 0; i < rounds; i++) runs.push(await measure())
  return runs
}

/** @param {number} a @param {number} b */
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`

/** @param {number} n */
export const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2))

/** A one-line summary for the console: `median unit (n runs, spread x %)`. @param {Summary} s @param {string} unit */
export const show = (s, unit) =>
  `${fmt(s.median)} ${unit} (${s.runs.length} run${s.runs.length === 1 ? '' : 's'}, spread ${(s.spread * 100).toFixed(0)} %)`

/**
 * `list[i]`, which must exist (benchmark tables are built full; an out-of-range index is a bug).
 * @template T @param {readonly T[]} list @param {number} i @returns {T}
 */
export function at(list, i) {
  const v = list[i]
  if (v === undefined) throw new Error(`bench: no item ${i} of ${list.length}`)
  return v
}
