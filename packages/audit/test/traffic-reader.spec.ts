/** Capture formats, link types, network decoding and bad input, on synthetic captures. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import {
  auditCaptureFile,
  CaptureFormatError,
  CaptureParser,
  createTrafficAuditor,
  type TrafficAuditReport
} from '@peerguard/audit'
import {
  CORPUS,
  ether,
  ipv4,
  ipv4Bytes,
  ipv6,
  ipv6Bytes,
  pcap,
  pcapng,
  pcapngBlock,
  tcp,
  tcpConversation,
  udp
} from './traffic-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-audit-'))
let n = 0
async function audit(bytes: Buffer, options = {}): Promise<TrafficAuditReport> {
  const file = join(dir, `c${n++}.pcap`)
  writeFileSync(file, bytes)
  return auditCaptureFile(file, options)
}

const FTP = tcpConversation(
  '10.0.0.1',
  '10.0.0.2',
  40000,
  2121,
  [Buffer.from('USER alice\r\n'), Buffer.from('PASS s3cret-pw\r\n')],
  [Buffer.from('220 ftp ready\r\n'), Buffer.from('230 ok\r\n')]
)

function ftpUsers(r: TrafficAuditReport): unknown {
  return r.findings.filter((f) => f.code === 'ftp-cleartext-credentials').map((f) => (f.evidence as { users: string[] }).users)
}

describe('capture formats and link types', () => {
  it.each([
    ['pcap little-endian µs', { bigEndian: false, nano: false }],
    ['pcap big-endian µs', { bigEndian: true, nano: false }],
    ['pcap little-endian ns', { bigEndian: false, nano: true }],
    ['pcap big-endian ns', { bigEndian: true, nano: true }]
  ])('%s: FTP on port 2121 is found by content', async (_name, o) => {
    const r = await audit(
      pcap(
        FTP.map((data, i) => ({ data, ts: 1700000000 + i * 0.5 })),
        o
      )
    )
    expect(r.summary.packets).toBe(FTP.length)
    expect(r.flows).toHaveLength(1)
    expect(r.flows[0]).toMatchObject({
      proto: 'tcp',
      src: '10.0.0.1',
      srcPort: 40000,
      dst: '10.0.0.2',
      dstPort: 2121,
      protocol: 'ftp',
      tcpState: 'closed'
    })
    expect(ftpUsers(r)).toEqual([['alice']])
    expect(r.summary.firstTimestamp).toBeCloseTo(1700000000, 5)
    expect(JSON.stringify(r)).not.toContain('s3cret-pw')
  })

  const wraps: [string, number, (ip: Buffer) => Buffer][] = [
    ['Ethernet + 802.1Q', 1, (ip) => ether(0x0800, ip, [100])],
    ['Ethernet + QinQ', 1, (ip) => ether(0x0800, ip, [10, 20])],
    ['raw IP (101)', 101, (ip) => ip],
    ['raw IPv4 (228)', 228, (ip) => ip],
    ['BSD null (0)', 0, (ip) => Buffer.concat([Buffer.from([2, 0, 0, 0]), ip])],
    ['OpenBSD loop (108)', 108, (ip) => Buffer.concat([Buffer.from([0, 0, 0, 2]), ip])],
    ['Linux SLL (113)', 113, (ip) => Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]), ip])],
    [
      'Linux SLL2 (276)',
      276,
      (ip) => Buffer.concat([Buffer.from([0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]), ip])
    ]
  ]
  it.each(wraps)('%s', async (_name, linktype, wrap) => {
    const frames = tcpConversation(
      '10.0.0.1',
      '10.0.0.2',
      40000,
      2121,
      [Buffer.from('USER bob\r\n'), Buffer.from('PASS x\r\n')],
      [Buffer.from('220 hi\r\n')],
      wrap
    )
    const r = await audit(
      pcap(
        frames.map((data) => ({ data })),
        { linktype }
      )
    )
    expect(r.summary.parseErrors.total).toBe(0)
    expect(r.flows).toHaveLength(1)
    expect(ftpUsers(r)).toEqual([['bob']])
  })

  it('pcapng with two interfaces of different link types and timestamp resolutions', async () => {
    const a = tcpConversation('10.0.0.1', '10.0.0.2', 40000, 2121, [Buffer.from('USER carol\r\n'), Buffer.from('PASS y\r\n')])
    const b = tcpConversation(
      '10.0.0.3',
      '10.0.0.4',
      40001,
      21,
      [Buffer.from('USER dave\r\n'), Buffer.from('PASS z\r\n')],
      [],
      (ip) => ip
    )
    const file = pcapng(
      [{ linktype: 1 }, { linktype: 101, tsresol: 9 }],
      [
        ...a.map((data, i) => ({ data, iface: 0, ts: 1700000000 + i })),
        ...b.map((data, i) => ({ data, iface: 1, ts: 1700000100 + i }))
      ]
    )
    const r = await audit(file)
    expect(r.summary.source?.format).toBe('pcapng')
    expect(r.summary.source?.linktypes).toEqual([1, 101])
    expect(r.flows).toHaveLength(2)
    expect(r.summary.lastTimestamp).toBeCloseTo(1700000100 + b.length - 1, 3)
    expect((ftpUsers(r) as string[][]).flat().sort()).toEqual(['carol', 'dave'])
  })

  it('detects the format by magic number, not by file name (pcapng named .pcap)', async () => {
    const r = await auditCaptureFile(join(CORPUS, 'ndpi-webdav.pcap'))
    expect(r.summary.source?.format).toBe('pcapng')
  })

  it('gives the same report whatever the read-buffer size (records split across reads)', async () => {
    const { createTrafficAuditor } = await import('@peerguard/audit')
    const file = join(CORPUS, 'sv-smb2-ntlmssp-negotiateflags.pcap')
    const big = await auditCaptureFile(file)
    const small = createTrafficAuditor()
    const { readCaptureFile } = await import('@peerguard/audit')
    await readCaptureFile(file, small, small.engine.errors, { chunkBytes: 100 })
    const r = small.finish()
    expect(r.flows).toEqual(big.flows)
    expect(r.findings).toEqual(big.findings)
  })
})

describe('network decoding', () => {
  it('reassembles IPv4 fragments that arrive out of order (UDP mDNS inside)', async () => {
    // An mDNS response naming "fragged-host.local", split into two fragments sent in reverse order.
    const name = Buffer.from('\x0cfragged-host\x05local\x00', 'latin1')
    const dns = Buffer.concat([
      Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
      name,
      Buffer.from([0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 9])
    ])
    const datagram = udp(5353, 5353, dns)
    const first = datagram.subarray(0, 16)
    const second = datagram.subarray(16)
    const frames = [
      ether(0x0800, ipv4('10.0.0.9', '224.0.0.251', 17, second, { id: 77, fragOffset: 16 })),
      ether(0x0800, ipv4('10.0.0.9', '224.0.0.251', 17, first, { id: 77, fragOffset: 0, more: true }))
    ]
    const r = await audit(pcap(frames.map((data) => ({ data }))))
    const udpFlows = r.flows.filter((f) => f.proto === 'udp')
    expect(udpFlows).toHaveLength(1)
    // tshark counts the reassembled datagram once, in the frame that completed it.
    expect(udpFlows[0]!.packets.fwd).toBe(1)
    expect(r.findings.find((f) => f.code === 'discovery-leak')?.evidence).toMatchObject({
      protocol: 'mdns',
      names: ['fragged-host.local']
    })
    expect(r.hosts.find((h) => h.addr === '10.0.0.9')?.names).toEqual([{ name: 'fragged-host.local', via: 'mdns' }])
  })

  it('walks IPv6 extension headers and reassembles IPv6 fragments', async () => {
    const payload = udp(
      5355,
      5355,
      Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x06llmnrq\x00\x00\x01\x00\x01', 'latin1')])
    )
    const hbh = { type: 0, body: Buffer.alloc(6) }
    const frag = (off: number, more: boolean): { type: number; body: Buffer } => {
      const body = Buffer.alloc(6)
      body.writeUInt16BE(off | (more ? 1 : 0), 0)
      body.writeUInt32BE(0xabcd, 2)
      return { type: 44, body }
    }
    const frames = [
      ether(0x86dd, ipv6('fe80::1', 'ff02::1:3', 17, payload.subarray(0, 16), [hbh, frag(0, true)])),
      ether(0x86dd, ipv6('fe80::1', 'ff02::1:3', 17, payload.subarray(16), [hbh, frag(16, false)]))
    ]
    const r = await audit(pcap(frames.map((data) => ({ data }))))
    expect(r.summary.parseErrors.total).toBe(0)
    expect(r.flows.filter((f) => f.proto === 'udp')).toMatchObject([{ src: 'fe80::1', dst: 'ff02::1:3', srcPort: 5355 }])
    expect(r.findings.find((f) => f.code === 'discovery-leak')?.evidence).toMatchObject({
      protocol: 'llmnr',
      queries: ['llmnrq']
    })
  })

  it('counts ARP and keeps going', async () => {
    const arp = Buffer.from([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2])
    const frames = [ether(0x0806, arp), ...FTP]
    const r = await audit(pcap(frames.map((data) => ({ data }))))
    expect(r.summary.nonIpFrames).toBe(1)
    expect(r.hosts.find((h) => h.addr === '10.0.0.1')?.macs).toContain('02:00:00:00:00:01')
  })
})

describe('bad input: counted, reported, never fatal', () => {
  it('rejects a file with a wrong magic number with a typed error', async () => {
    await expect(audit(Buffer.from('this is not a capture file at all'))).rejects.toBeInstanceOf(CaptureFormatError)
    await expect(audit(Buffer.from('this is not a capture file at all'))).rejects.toMatchObject({
      code: 'capture-format-invalid'
    })
    await expect(audit(Buffer.alloc(0))).rejects.toMatchObject({ code: 'capture-format-invalid' })
    await expect(audit(pcap([]).subarray(0, 10))).rejects.toMatchObject({ code: 'capture-format-invalid' })
  })

  it('reads a truncated file up to the damage and says so', async () => {
    const whole = pcap(FTP.map((data) => ({ data })))
    const r = await audit(whole.subarray(0, whole.length - 20))
    expect(r.summary.truncated).toBe(true)
    expect(r.summary.integrity).toBe('truncated')
    expect(r.overview.verdict).toBe('damaged')
    expect(r.summary.packets).toBe(FTP.length - 1)
    expect(r.summary.parseErrors.kinds['capture-truncated-record']?.count).toBe(1)
  })

  it('a directory is not a capture: its own error, not an I/O accident', async () => {
    await expect(auditCaptureFile(dir)).rejects.toMatchObject({
      code: 'capture-not-a-file',
      message: expect.stringContaining('is a directory')
    })
  })

  it('a valid pcap header followed by garbage is corrupt, never a clean empty capture', async () => {
    const garbage = Buffer.concat([pcap([]), Buffer.from('garbage garbage garbage garbage\n')])
    const r = await audit(garbage)
    expect(r.summary.packets).toBe(0)
    expect(r.summary.integrity).toBe('corrupt')
    expect(r.overview.verdict).toBe('damaged')
    // A record longer than the snaplen and libpcap's maximum is corrupt too (libpcap refuses it).
    const whole = pcap(
      FTP.map((data) => ({ data })),
      { snaplen: 65535 }
    )
    const big = Buffer.from(whole)
    big.writeUInt32LE(300_000, 24 + 8)
    const r2 = await audit(big)
    expect(r2.summary.integrity).toBe('corrupt')
    expect(r2.summary.parseErrors.kinds['capture-record-exceeds-snaplen']?.count).toBe(1)
    // A header alone is a valid, empty capture.
    expect((await audit(pcap([]))).summary.integrity).toBe('ok')
  })

  it('pcap and pcapng magic numbers alone are handled alike: a truncated header', async () => {
    for (const magic of ['d4c3b2a1', 'a1b2c3d4', '0a0d0d0a']) {
      await expect(audit(Buffer.from(magic, 'hex'))).rejects.toMatchObject({
        code: 'capture-format-invalid',
        message: expect.stringMatching(/^truncated pcap(ng section)? (global )?header/)
      })
    }
    // A pcapng section header whose byte-order magic is wrong is not a pcapng file.
    const shb = Buffer.from('0a0d0d0a1c00000001020304010000000000000000000000', 'hex')
    await expect(audit(shb)).rejects.toMatchObject({
      code: 'capture-format-invalid',
      message: expect.stringContaining('byte-order magic')
    })
  })

  describe('pcapng name resolution and interface statistics blocks', () => {
    /** An option or record: code, length, value padded to 4 bytes. */
    const tlv = (code: number, value: Buffer = Buffer.alloc(0)): Buffer => {
      const h = Buffer.alloc(4)
      h.writeUInt16LE(code, 0)
      h.writeUInt16LE(value.length, 2)
      return Buffer.concat([h, value, Buffer.alloc((4 - (value.length % 4)) % 4)])
    }
    const END = Buffer.alloc(4)
    const nrb = (...parts: Buffer[]) => pcapngBlock(4, Buffer.concat(parts))
    const isb = (iface: number, ...opts: Buffer[]) => {
      const h = Buffer.alloc(12)
      h.writeUInt32LE(iface, 0)
      return pcapngBlock(5, Buffer.concat([h, ...opts]))
    }
    const u64 = Buffer.alloc(8, 1)
    const base = pcapng(
      [{ linktype: 1 }],
      FTP.map((data) => ({ data }))
    )
    const ipv4Name = tlv(1, Buffer.concat([ipv4Bytes('10.0.0.2'), Buffer.from('nas.lan\0')]))
    const journal = (text: string) => pcapngBlock(9, Buffer.from(text, 'latin1'))
    const secrets = (type: number, data: Buffer, ...opts: Buffer[]) => {
      const h = Buffer.alloc(8)
      h.writeUInt32LE(type, 0)
      h.writeUInt32LE(data.length, 4)
      return pcapngBlock(10, Buffer.concat([h, data, Buffer.alloc((4 - (data.length % 4)) % 4), ...opts]))
    }
    const custom = (pen: number) => {
      const b = Buffer.alloc(8)
      b.writeUInt32LE(pen, 0)
      return pcapngBlock(0xbad, b)
    }
    const TLS_KEY_LOG = 0x544c534b

    it('well-formed blocks, as Wireshark writes them, read without an error', async () => {
      const good = Buffer.concat([
        base,
        nrb(
          ipv4Name,
          tlv(2, Buffer.concat([ipv6Bytes('fd00::2'), Buffer.from('nas6.lan\0')])),
          END,
          tlv(3, ipv4Bytes('10.0.0.53')),
          tlv(1, Buffer.from('resolved by dumpcap')),
          END
        ),
        nrb(END),
        isb(0, tlv(2, u64), tlv(3, u64), tlv(4, u64), tlv(5, u64), tlv(2989, Buffer.from('\0\0\0\x07pen')), END),
        isb(0),
        journal('__CURSOR=s=1;i=2\nMESSAGE=share mounted\n\n'),
        secrets(
          TLS_KEY_LOG,
          Buffer.from(`CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`),
          tlv(1, Buffer.from('keys')),
          END
        ),
        custom(32473)
      ])
      const r = await audit(good)
      expect(r.summary.parseErrors).toEqual({ total: 0, kinds: {} })
      expect(r.summary.packets).toBe(FTP.length)
    })

    it.each([
      ['a record of an unknown type', nrb(tlv(9, Buffer.alloc(8)), END), 'pcapng-bad-name-record'],
      ['records without their end', nrb(ipv4Name), 'pcapng-bad-name-record'],
      ['an IPv4 record too short for an address and a name', nrb(tlv(1, ipv4Bytes('10.0.0.2')), END), 'pcapng-bad-name-record'],
      ['a DNS server address of the wrong size', nrb(END, tlv(3, Buffer.alloc(6)), END), 'pcapng-bad-option'],
      ['an option that runs past the block', nrb(END, Buffer.from([2, 0, 0x40, 0])), 'pcapng-bad-option'],
      ['a counter of the wrong size', isb(0, tlv(4, Buffer.alloc(4)), END), 'pcapng-bad-option'],
      ['an option the block does not define', isb(0, tlv(99, u64), END), 'pcapng-unknown-option'],
      ['an interface that was never described', isb(7, END), 'pcapng-unknown-interface'],
      ['a body too short for its header', pcapngBlock(5, Buffer.alloc(8)), 'pcapng-short-statistics-block'],
      ['a journal block that is not a journal entry', journal('\0\0\0\0MESSAGE=x\n'), 'pcapng-bad-journal-block'],
      ['secrets of an unknown type', secrets(7, Buffer.alloc(8)), 'pcapng-bad-secrets-block'],
      [
        'secrets longer than their block',
        pcapngBlock(10, Buffer.from([0x4b, 0x53, 0x4c, 0x54, 0xff, 0, 0, 0])),
        'pcapng-bad-secrets-block'
      ],
      ['a custom block with the reserved enterprise number 0', custom(0), 'pcapng-bad-custom-block']
    ])('%s is counted as damage', async (_what, bad, code) => {
      const r = await audit(Buffer.concat([base, bad]))
      expect(r.summary.packets).toBe(FTP.length)
      expect(Object.keys(r.summary.parseErrors.kinds)).toEqual([code])
    })

    it.each(['ndpi-webdav.pcap', 'zeek-dce-rpc-dce_rpc_ntlm.pcapng'])(
      '%s: a packet block whose type was damaged into any other block type is counted or still read (every packet)',
      (file) => {
        const original = readFileSync(join(CORPUS, file))
        const epbs: number[] = []
        for (let o = 0; o + 8 <= original.length; o += original.readUInt32LE(o + 4))
          if (original.readUInt32LE(o) === 6) epbs.push(o)
        expect(epbs.length).toBeGreaterThan(5)
        // interface description, obsolete and simple packet, name resolution, statistics, journal,
        // decryption secrets, custom (copyable and not)
        for (const at of epbs)
          for (const type of [1, 2, 3, 4, 5, 9, 10, 0xbad, 0x40000bad]) {
            const buf = Buffer.from(original)
            buf.writeUInt32LE(type, at)
            const a = createTrafficAuditor()
            new CaptureParser(a, a.engine.errors).parse(buf, 0, buf.length, true)
            const r = a.finish()
            if (r.summary.packets !== epbs.length) expect([type, r.summary.parseErrors.total > 0]).toEqual([type, true])
          }
      }
    )
  })

  it('stops at an absurd record length instead of allocating it', async () => {
    const whole = pcap(FTP.map((data) => ({ data })))
    const bad = Buffer.from(whole)
    // Third record's incl_len → 0x7fffffff.
    let o = 24
    for (let i = 0; i < 2; i++) o += 16 + bad.readUInt32LE(o + 8)
    bad.writeUInt32LE(0x7fffffff, o + 8)
    const r = await audit(bad)
    expect(r.summary.packets).toBe(2)
    expect(r.summary.parseErrors.kinds['capture-absurd-record-length']?.count).toBe(1)
  })

  it('handles snaplen-cut packets: wire length counted, missing bytes a gap', async () => {
    const frames = tcpConversation(
      '10.0.0.1',
      '10.0.0.2',
      40000,
      80,
      [Buffer.from(`GET /f.bin HTTP/1.1\r\nAuthorization: Basic ${Buffer.from('eve:pw').toString('base64')}\r\nHost: x\r\n\r\n`)],
      [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`)]
    )
    const records = frames.map((data) => (data.length > 200 ? { data: data.subarray(0, 96), origLen: data.length } : { data }))
    const r = await audit(pcap(records, { snaplen: 96 }))
    expect(r.flows[0]!.bytes.fwd + r.flows[0]!.bytes.rev).toBe(frames.reduce((s, f) => s + f.length, 0))
    expect(r.summary.parseErrors.total).toBeGreaterThanOrEqual(0)
  })

  it('counts IPv4 header lengths under 20, bad TCP header lengths and malformed TCP options', async () => {
    const frames = [
      ether(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2), { ihl: 4 })),
      ether(0x0800, Buffer.from([0x45, 0, 0, 10, 0, 0, 0, 0, 64, 6])),
      ether(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, Buffer.alloc(0), { options: Buffer.from([2, 9, 0, 0]) }))),
      (() => {
        const t = tcp(1, 2)
        t[12] = 0x30
        return ether(0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, t))
      })(),
      ether(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, Buffer.from([0, 1, 0, 2, 0, 3]))),
      Buffer.from([1, 2, 3])
    ]
    const r = await audit(pcap(frames.map((data) => ({ data }))))
    const k = r.summary.parseErrors.kinds
    expect(k['ipv4-header-length-under-20']?.count).toBe(1)
    expect(k['ipv4-truncated']?.count).toBe(1)
    expect(k['tcp-options-malformed']?.count).toBe(1)
    expect(k['tcp-bad-header-length']?.count).toBe(1)
    expect(k['udp-truncated']?.count).toBe(1)
    expect(k['ethernet-truncated']?.count).toBe(1)
    expect(r.summary.packets).toBe(6)
  })

  it('keeps the corpus file it was given intact (read only)', () => {
    expect(readFileSync(join(CORPUS, 'sv-ssdp-notify.pcap')).length).toBe(493)
  })
})

describe('HTTP keep-alive with chunked responses', () => {
  it('follows chunked bodies to the next response on the same connection', async () => {
    const chunked = (body: string): string => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
    const frames = tcpConversation(
      '10.0.0.1',
      '10.0.0.2',
      40000,
      8080,
      [
        Buffer.from('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'),
        Buffer.from('GET /files/backup.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n')
      ],
      [
        Buffer.from(
          `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n${chunked('<html>hello</html>')}`
        ),
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: 4\r\n\r\nabcd')
      ]
    )
    const r = await audit(pcap(frames.map((data) => ({ data }))))
    expect(r.findings.find((f) => f.code === 'cleartext-file-transfer')?.evidence).toMatchObject({
      protocol: 'http',
      transfers: [{ method: 'GET', path: '/files/backup.tar.gz', status: '200' }]
    })
  })
})
