/** Bounded memory: idle flows are evicted beyond maxLiveFlows, and the report lists at most maxReportFlows. */
import { describe, expect, it } from '@jest/globals'
import { CaptureParser, createTrafficAuditor } from '@peerguard/audit'
import { ether, ipv4, pcap, udp } from './traffic-helpers.js'

describe('bounded memory', () => {
  it('evicts idle flows beyond maxLiveFlows and still counts every flow', () => {
    const N = 70_000
    const records = []
    for (let i = 0; i < N; i++) {
      const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
      records.push({
        data: ether(0x0800, ipv4(src, '10.255.0.1', 17, udp(40000 + (i % 1000), 9999, Buffer.from('x')))),
        ts: 1_700_000_000 + i * 0.01
      })
    }
    const file = pcap(records)
    const a = createTrafficAuditor({ maxLiveFlows: 1000, maxReportFlows: 500 })
    const p = new CaptureParser(a, a.engine.errors)
    let peakLive = 0
    // Feed in slices so the live-flow count can be watched.
    const step = 1 << 20
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
    expect(r.summary.flows.evicted).toBeGreaterThan(0)
    // Eviction runs every 65,536 packets: the table never holds much more than that.
    expect(peakLive).toBeLessThanOrEqual(65_536 + 1000)
    expect(r.flows).toHaveLength(500)
    expect(r.summary.flows.omitted).toBe(N - 500)
  })
})
