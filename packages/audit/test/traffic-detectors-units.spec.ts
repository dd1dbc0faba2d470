/**
 * The LAN detectors on crafted traffic where no real peer can run here (NFS data under AUTH_SYS,
 * krb5i and krb5p; MSE/PE with a handshake split across segments; telnet typed a key at a time;
 * protocols on unusual ports), and property tests: every new parser throws nothing and counts
 * no internal error on random or truncated input.
 */
import { describe, expect, it } from '@jest/globals'
import { createTrafficAuditor, type TrafficAuditReport } from '@peerguard/audit'
import fc from 'fast-check'
import { MSE_SEARCH_BYTES, MseFollower } from '../src/traffic/detectors/bittorrent-mse.js'
import { parseIppRequest } from '../src/traffic/detectors/ipp.js'
import { nfsCallOps } from '../src/traffic/detectors/nfs-ops.js'
import { parseTftpRequest } from '../src/traffic/detectors/tftp.js'
import { ether, ipv4, tcpConversation, udp } from './traffic-helpers.js'

function auditFrames(frames: Buffer[]): TrafficAuditReport {
  const a = createTrafficAuditor()
  for (const f of frames) a.packet(1, f, 0, f.length, f.length, 1)
  return a.finish()
}
const internal = (r: TrafficAuditReport): string[] =>
  Object.keys(r.summary.parseErrors.kinds).filter((k) => k.startsWith('internal') || k.endsWith('finish-failed'))

const u32 = (...v: number[]): Buffer => {
  const b = Buffer.alloc(4 * v.length)
  for (const [i, x] of v.entries()) b.writeUInt32BE(x >>> 0, 4 * i)
  return b
}
const xdrOpaque = (d: Buffer): Buffer => Buffer.concat([u32(d.length), d, Buffer.alloc((4 - (d.length % 4)) % 4)])

/** An ONC-RPC call (RFC 5531) in one TCP record. */
function rpcRecord(xid: number, proc: number, cred: Buffer, verf: Buffer, args: Buffer, vers = 3): Buffer {
  const body = Buffer.concat([u32(xid, 0, 2, 100003, vers, proc), cred, verf, args])
  return Buffer.concat([u32(0x80000000 | body.length), body])
}
const authSys = Buffer.concat([u32(1), xdrOpaque(Buffer.concat([u32(0), xdrOpaque(Buffer.from('ws-17')), u32(1000, 1000, 0)]))])
const noVerf = u32(0, 0)
/** RPCSEC_GSS credential (RFC 2203 5): version 1, RPCSEC_GSS_DATA, seq, service, handle. */
const gss = (service: number): Buffer =>
  Buffer.concat([u32(6), xdrOpaque(Buffer.concat([u32(1, 0, 7, service), xdrOpaque(Buffer.from('hndl'))]))])
const gssVerf = Buffer.concat([u32(6), xdrOpaque(Buffer.alloc(16, 7))])
const fh = xdrOpaque(Buffer.alloc(32, 0xab))
/** READ3args: file handle, offset, count. */
const read3 = Buffer.concat([fh, u32(0, 0, 65536)])
/** WRITE3args: file handle, offset, count, stable, data. */
const write3 = Buffer.concat([fh, u32(0, 0, 11, 2), xdrOpaque(Buffer.from('hello world'))])

describe('NFS file data in clear', () => {
  const nfs = (records: Buffer[]): TrafficAuditReport =>
    auditFrames(tcpConversation('10.9.0.2', '10.9.0.1', 871, 2049, records, []))

  it('AUTH_SYS READ and WRITE: counted, with the bytes asked for and written', () => {
    const r = nfs([rpcRecord(1, 6, authSys, noVerf, read3), rpcRecord(2, 7, authSys, noVerf, write3)])
    const f = r.findings.find((x) => x.code === 'nfs-cleartext-data')
    expect(f?.evidence).toMatchObject({ reads: 1, writes: 1, readBytesRequested: 65536, writeBytes: 11, security: ['AUTH_SYS'] })
    expect(JSON.stringify(r)).not.toContain('hello world')
  })

  it('krb5i (integrity only) still shows the data: reported, security krb5i', () => {
    const wrapped = Buffer.concat([u32(4 + read3.length, 7), read3, xdrOpaque(Buffer.alloc(16))])
    const r = nfs([rpcRecord(3, 6, gss(2), gssVerf, wrapped)])
    expect(r.findings.find((x) => x.code === 'nfs-cleartext-data')?.evidence).toMatchObject({ reads: 1, security: ['krb5i'] })
  })

  it('krb5p (privacy): nothing readable, no finding', () => {
    const sealed = xdrOpaque(Buffer.alloc(96, 0x5a))
    const r = nfs([rpcRecord(4, 6, gss(3), gssVerf, sealed), rpcRecord(5, 7, gss(3), gssVerf, sealed)])
    expect(r.findings.map((x) => x.code)).not.toContain('nfs-cleartext-data')
  })

  it('NFSv4 COMPOUND: SEQUENCE, PUTFH, READ and a LOOKUP name', () => {
    const compound = Buffer.concat([
      xdrOpaque(Buffer.alloc(0)),
      u32(1, 4),
      u32(53),
      Buffer.alloc(32),
      u32(22),
      fh,
      u32(15),
      xdrOpaque(Buffer.from('payroll.xlsx')),
      u32(25),
      Buffer.alloc(16),
      u32(0, 0, 4096)
    ])
    const r = nfs([rpcRecord(6, 1, authSys, noVerf, compound, 4)])
    expect(r.findings.find((x) => x.code === 'nfs-cleartext-data')?.evidence).toMatchObject({
      reads: 1,
      readBytesRequested: 4096,
      files: ['payroll.xlsx']
    })
  })
})

describe('BitTorrent MSE/PE followed to the plaintext method', () => {
  const random = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n)
    let x = seed
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      b[i] = x >>> 24
    }
    return b
  }
  const handshake = (id: string): Buffer =>
    Buffer.concat([
      Buffer.from('\x13BitTorrent protocol', 'latin1'),
      Buffer.alloc(8),
      Buffer.alloc(20, 0x11),
      Buffer.from(id.padEnd(20, 'x'))
    ])

  it('finds a handshake whose signature straddles two segments, and the pieces after it', () => {
    const hs = handshake('-TR3000-')
    const piece = Buffer.concat([u32(9 + 4), Buffer.from([7]), u32(0, 0), Buffer.from('data')])
    const client = [random(400, 1), Buffer.concat([random(200, 2), hs.subarray(0, 7)]), Buffer.concat([hs.subarray(7), piece])]
    const server = [random(300, 3), Buffer.concat([random(100, 4), handshake('-qB4500-')])]
    const r = auditFrames(tcpConversation('10.9.0.5', '10.9.0.6', 40000, 51413, client, server))
    const f = r.findings.filter((x) => x.code === 'bittorrent-plaintext')
    expect(f).toHaveLength(1)
    expect(f[0]!.evidence).toMatchObject({
      obfuscation: 'mse-plaintext',
      infoHashes: ['11'.repeat(20)],
      peerIds: ['-TR3000-', '-qB4500-'],
      pieces: 1,
      mseHeaderBytes: { client: 600, server: 400 }
    })
    expect(r.findings.map((x) => x.code)).not.toContain('bittorrent-encrypted')
  })

  it('MseFollower: any chunking finds the handshake at the same stream offset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 96, max: MSE_SEARCH_BYTES - 68 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1 }),
        (at, cuts) => {
          const stream = Buffer.concat([random(at, at), handshake('-XX0000-')])
          const f = new MseFollower()
          let off = 0
          let i = 0
          let got = -1
          while (off < stream.length && got < 0) {
            const n = Math.min(cuts[i++ % cuts.length]!, stream.length - off)
            const hit = f.push(stream, off, n)
            if (hit >= 0) got = off + (hit - off) - f.carry().length
            off += n
          }
          expect(f.handshakeAt).toBe(at)
          expect(got).toBe(at)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe('content, not port', () => {
  it('telnet typed a key at a time on port 2323: user found, password never kept', () => {
    const keys = (s: string): Buffer[] => [...s].map((c) => Buffer.from(c, 'latin1'))
    const server = [
      Buffer.from([0xff, 0xfd, 0x18, 0xff, 0xfb, 0x01]),
      Buffer.from('router login: '),
      Buffer.from('Password: '),
      Buffer.from('\r\n$ ')
    ]
    const client = [Buffer.from([0xff, 0xfc, 0x18]), ...keys('eve\r\n'), ...keys('pa55\x7fs-word\r\0')]
    // Interleave the way a real session goes: prompt, keys, prompt, keys.
    const frames = tcpConversation('10.9.1.2', '10.9.1.1', 51000, 2323, [], [])
    const a = createTrafficAuditor()
    const [syn, synack] = frames
    let cseq = 1000
    let sseq = 5000
    const push = (fromClient: boolean, p: Buffer): void => {
      const f = fromClient
        ? ether(0x0800, ipv4('10.9.1.2', '10.9.1.1', 6, tcpPacket(51000, 2323, p, cseq, sseq)))
        : ether(0x0800, ipv4('10.9.1.1', '10.9.1.2', 6, tcpPacket(2323, 51000, p, sseq, cseq)))
      if (fromClient) cseq += p.length
      else sseq += p.length
      a.packet(1, f, 0, f.length, f.length, 1)
    }
    for (const f of [syn!, synack!]) a.packet(1, f, 0, f.length, f.length, 1)
    push(false, server[0]!)
    push(true, client[0]!)
    push(false, server[1]!)
    for (const k of client.slice(1, 6)) push(true, k)
    push(false, server[2]!)
    for (const k of client.slice(6)) push(true, k)
    push(false, server[3]!)
    const r = a.finish()
    expect(r.findings.find((f) => f.code === 'telnet-cleartext-login')?.evidence).toMatchObject({
      users: ['eve'],
      passwordsTyped: 1,
      passwordMasked: true
    })
    const text = JSON.stringify(r)
    expect(text).not.toContain('pas-word')
    expect(text).not.toContain('pa55')
  })

  it('TFTP on port 6969 and LPD on port 1515 are still recognised', () => {
    const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from('startup-config\0octet\0blksize\x001468\0', 'latin1')])
    const r1 = auditFrames([ether(0x0800, ipv4('10.9.2.2', '10.9.2.1', 17, udp(40000, 6969, rrq)))])
    expect(r1.findings.find((f) => f.code === 'tftp-transfer')?.evidence).toMatchObject({ reads: ['startup-config'] })
    const control = Buffer.from('Hpc7\nPmallory\nJpayroll.pdf\nldfA001pc7\nNpayroll.pdf\n', 'latin1')
    const r2 = auditFrames(
      tcpConversation('10.9.2.2', '10.9.2.1', 721, 1515, [
        Buffer.from('\x02hr-printer\n', 'latin1'),
        Buffer.from(`\x02${control.length} cfA001pc7\n`, 'latin1'),
        Buffer.concat([control, Buffer.from([0])])
      ])
    )
    expect(r2.findings.find((f) => f.code === 'lpd-print-job')?.evidence).toMatchObject({
      queues: ['hr-printer'],
      users: ['mallory'],
      jobNames: ['payroll.pdf']
    })
  })
})

function tcpPacket(sport: number, dport: number, payload: Buffer, seq: number, ack: number): Buffer {
  const b = Buffer.alloc(20 + payload.length)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  b.writeUInt32BE(seq >>> 0, 4)
  b.writeUInt32BE(ack >>> 0, 8)
  b[12] = 5 << 4
  b[13] = 0x18
  b.writeUInt16BE(65535, 14)
  payload.copy(b, 20)
  return b
}

describe('property tests: new parsers never throw, never count an internal error', () => {
  it('IPP, TFTP and NFS argument parsers on random and truncated input', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.nat(400),
        fc.integer({ min: 2, max: 4 }),
        fc.nat(40),
        (bytes, cut, vers, proc) => {
          const b = Buffer.from(bytes)
          const ipp = parseIppRequest(b.subarray(0, cut))
          if (ipp !== undefined) expect(typeof ipp.operation).toBe('string')
          parseTftpRequest(b, 0, Math.min(cut, b.length))
          const ops = nfsCallOps(b, 0, Math.min(cut, b.length), vers, proc)
          if (ops !== undefined) expect(ops.reads + ops.writes).toBeGreaterThanOrEqual(0)
        }
      ),
      { numRuns: 3000 }
    )
    // A real request prefix, cut anywhere, still parses or is refused, never throws.
    const ipp = Buffer.concat([
      Buffer.from([2, 0, 0, 2, 0, 0, 0, 1, 1]),
      Buffer.from([0x42, 0, 20]),
      Buffer.from('requesting-user-name'),
      Buffer.from([0, 5]),
      Buffer.from('alice'),
      Buffer.from([3])
    ])
    expect(parseIppRequest(ipp)?.attributes['requesting-user-name']).toEqual(['alice'])
    for (let n = 0; n <= ipp.length; n++) parseIppRequest(ipp.subarray(0, n))
  })

  it('the new stream and datagram detectors on garbage after their openers', () => {
    const ippHead = Buffer.from('POST /printers/p HTTP/1.1\r\nContent-Type: application/ipp\r\nContent-Length: 60\r\n\r\n')
    fc.assert(
      fc.property(
        fc.constantFrom(
          Buffer.from('\x1b%-12345X@PJL JOB NAME="'),
          Buffer.from('@RSYNCD: 31.0\n'),
          Buffer.from([0xff, 0xfd, 0x18]),
          Buffer.from('\x02queue\n\x02'),
          ippHead,
          Buffer.from('POST /eSCL/ScanJobs HTTP/1.1\r\nContent-Length: 40\r\n\r\n'),
          Buffer.from('POST /wsd HTTP/1.1\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n')
        ),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(515, 873, 9100, 23, 631, 8080, 41000),
        (prefix, payloads, port) => {
          const bodies = payloads.map((p, i) => (i === 0 ? Buffer.concat([prefix, Buffer.from(p)]) : Buffer.from(p)))
          const r = auditFrames(tcpConversation('10.1.1.1', '10.1.1.2', 50000, port, bodies, bodies.slice().reverse()))
          expect(internal(r)).toEqual([])
        }
      ),
      { numRuns: 800 }
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(69, 3702, 4000), (p, port) => {
        const head = port === 3702 ? Buffer.from('<') : Buffer.from([0, 1])
        const r = auditFrames([
          ether(0x0800, ipv4('10.1.1.1', '10.1.1.2', 17, udp(40000, port, Buffer.concat([head, Buffer.from(p)]))))
        ])
        expect(internal(r)).toEqual([])
      }),
      { numRuns: 800 }
    )
  })
})
