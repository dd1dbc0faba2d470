// @ts-check
// CPU time of processes from /proc (Linux): given pids, or a process and all its live descendants
// (a load benchmark's clients and servers, whichever process model each tool has). Elsewhere 0.
import { readdirSync, readFileSync } from 'node:fs'

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat) and the parent pid, or undefined. @param {number} pid */
function stat(pid) {
  try {
    const fields = String(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]).split(' ')
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) }
  } catch {
    return undefined
  }
}

/** USER_HZ is 100 on Linux. */
const MS_PER_TICK = 10

/**
 * CPU time of `pids` so far, in ms; 0 when one cannot be read (not Linux, or it has exited).
 * @param {(number | undefined)[]} pids
 */
export function cpuMs(pids) {
  let ticks = 0
  for (const pid of pids) {
    const s = pid === undefined ? undefined : stat(pid)
    if (s === undefined) return 0
    ticks += s.ticks
  }
  return ticks * MS_PER_TICK
}

/** CPU time so far, in ms, of process `root` and every live descendant (0 when /proc is missing). */
export function treeCpuMs(root = process.pid) {
  /** @type {Map<number, number[]>} */
  const children = new Map()
  /** @type {Map<number, number>} */
  const ticks = new Map()
  let pids
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return 0
  }
  for (const d of pids) {
    const s = stat(Number(d))
    if (s === undefined) continue
    ticks.set(Number(d), s.ticks)
    const list = children.get(s.ppid) ?? []
    list.push(Number(d))
    children.set(s.ppid, list)
  }
  let total = 0
  const todo = [root]
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    total += ticks.get(pid) ?? 0
    todo.push(...(children.get(pid) ?? []))
  }
  return total * MS_PER_TICK
}
