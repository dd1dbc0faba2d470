/**
 * Bounded memory by design: at most maxLiveFlows flows in the table (closed and idle ones, then the
 * least recently active, finished early and counted as evicted), at most maxReportFlows listed, and
 * a hostile capture of 250,000 one-packet UDP flows audited in a child process with a 128 MB old
 * space, under 320 MB RSS, keeping < 64 MB once done.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { CaptureParser, createTrafficAuditor } from '@peerguard/audit'
import { CORPUS, ether, ipv4, pcap, udp } from './traffic-helpers.js'

const ROOT = join(CORPUS, '..', '..', '..', '..', '..')

function udpFlows(n: number): Buffer {
  const records = []
  for (let i = 0; i < n; i++) {
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
    records.push({
      data: ether(0x0800, ipv4(src, '10.255.0.1', 17, udp(40000 + (i % 1000), 9999, Buffer.from('x')))),
      ts: 1_700_000_000 + i * 0.001
    })
  }
  return pcap(records)
}

describe('bounded memory', () => {
  it('never holds more than maxLiveFlows flows, and still counts every flow', () => {
    const N = 70_000
    const file = udpFlows(N)
    const a = createTrafficAuditor({ maxLiveFlows: 1000, maxReportFlows: 500 })
    const p = new CaptureParser(a, a.engine.errors)
    let peakLive = 0
    // Feed in slices so the live-flow count can be watched.
    const step = 1 << 16
    let pos = 0
    let buf = Buffer.alloc(0)
    for (let off = 0; off < file.length; off += step) {
      buf = Buffer.concat([buf.subarray(pos), file.subarray(off, off + step)])
      pos = p.parse(buf, 0, buf.length, off + step >= file.length)
      peakLive = Math.max(peakLive, a.engine.liveFlows)
    }
    const r = a.finish()
    expect(r.summary.packets).toBe(N)
    expect(r.summary.flows.total).toBe(N)
    expect(r.summary.flows.udp).toBe(N)
    expect(r.summary.flows.evicted).toBeGreaterThan(N - 1000 - 1)
    // The documented limit itself, not a sweep interval.
    expect(peakLive).toBeLessThanOrEqual(1000)
    expect(r.flows).toHaveLength(500)
    expect(r.summary.flows.omitted).toBe(N - 500)
  })

  describe('a hostile capture in a child process', () => {
    beforeAll(() => {
      // The child imports the built package (no Jest module mapping there): build it first.
      spawnSync('npx', ['tsc', '-b', 'packages/audit'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 })
    }, 300_000)

    it('250,000 one-packet UDP flows fit a 128 MB heap and 320 MB RSS, and the report says what was bounded', () => {
      const dir = mkdtempSync(join(tmpdir(), 'pg-mem-'))
      const file = join(dir, 'udp-250k.pcap')
      writeFileSync(file, udpFlows(250_000))
      const script = `
        const { auditCaptureFile } = await import(${JSON.stringify(join(ROOT, 'packages', 'audit', 'dist', 'index.js'))})
        const r = await auditCaptureFile(${JSON.stringify(file)})
        globalThis.gc()
        const retainedMiB = process.memoryUsage().heapUsed / 1048576
        process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, retainedMiB, summary: r.summary, listed: r.flows.length, hosts: r.hosts.length }))
      `
      // Node 22+ sizes V8's young generation from the heap limit (Node 20: 16 MB semi-spaces), so
      // short-lived garbage lingers longer and RSS reads ~80 MB higher for the same live data; pin
      // Node 20's size so the bound measures the auditor, not the Node version. The old space is
      // capped at 128 MB: the auditor's live set must fit in it (it runs out of memory otherwise, and
      // the test fails), and V8 must collect instead of growing the heap while its concurrent marker
      // is starved of CPU — CI under load once read 332 MB RSS for a 25 MB live set without the cap.
      // Measured here: peak live set ~60 MB (the flow table at its bound), RSS 175-190 MB alone and
      // up to 250 MB with the whole suite running beside it.
      const v8Flags = ['--expose-gc', '--max-semi-space-size=16', '--max-old-space-size=128']
      const child = spawnSync(process.execPath, [...v8Flags, '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 300_000
      })
      expect(child.stderr).toBe('')
      const out = JSON.parse(child.stdout)
      expect(out.summary.flows).toMatchObject({ total: 250_000, udp: 250_000, listed: 20_000, omitted: 230_000 })
      expect(out.summary.flows.evicted).toBeGreaterThan(150_000)
      // 250,000 sources and the one destination.
      expect(out.summary.hostsOmitted).toBe(250_001 - out.hosts)
      process.stderr.write(
        `peerguard tests: 250,000 one-packet UDP flows: peak RSS ${Math.round(out.maxRssKiB / 1024)} MB, ${Math.round(out.retainedMiB)} MB retained after the audit\n`
      )
      // What the audit keeps once done (the report: 20,000 listed flows, the hosts) — live data,
      // not garbage, so load cannot move it: 28-29 MB measured on Node 20 and 24.
      expect(out.retainedMiB).toBeLessThan(64)
      // The old space is capped above, so the peak live set is bounded by construction; RSS adds
      // V8's spaces, code and the allocator's slack, which a busy machine inflates (garbage waits
      // for a starved concurrent marker). The bound is well above the ~250 MB seen under load and
      // far below the 687 MB the unbounded tables reached.
      expect(out.maxRssKiB / 1024).toBeLessThan(320)
    }, 300_000)
  })
})
