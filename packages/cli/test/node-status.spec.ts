/**
 * `node status` for people: every service kind, each peer's bytes each way and operations, one
 * line per running operation; byte counts in binary units.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { formatBytes, formatStatus, type NodeStatus, peerStatus } from '../src/node/status.js'

const alice = { peerId: 'AAAA', name: 'alice', publicKey: new Uint8Array(32), groups: ['staff'], address: '127.0.0.1:5000' }

describe('formatBytes', () => {
  it('keeps bytes exact below 1 KiB and uses one decimal above', () => {
    expect([0, 1023, 1024, 1536, 5 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '5.0 MiB',
      '3.0 TiB'
    ])
  })

  it('says the count to within 5%, in the largest unit below it', () => {
    const value = (s: string): number => {
      const [n, unit] = s.split(' ')
      return Number(n) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(unit as string)
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), (n) => {
        expect(Math.abs(value(formatBytes(n)) - n)).toBeLessThanOrEqual(n * 0.05 + 0.5)
      })
    )
  })
})

describe('formatStatus', () => {
  it('lists every service with its peers: bytes each way, operations, and what they are', () => {
    const s: NodeStatus = {
      pid: 42,
      config: '/etc/peerguard/node.yaml',
      since: '2026-01-01T00:00:00.000Z',
      policy: { file: '/etc/peerguard/office.yaml', sha256: 'ab'.repeat(32) },
      crls: [],
      services: [
        {
          kind: 'share',
          name: 'docs',
          root: '/srv/docs',
          listening: '127.0.0.1:4455',
          peers: [
            peerStatus(alice, Date.parse('2026-01-01T00:00:01Z'), { bytesIn: 900, bytesOut: 3 * 1024 * 1024 }, ['read a.txt'])
          ]
        },
        { kind: 'proxy', name: 'web', target: '127.0.0.1:80', mode: 'noise', listening: '127.0.0.1:8443', peers: [] },
        {
          kind: 'swarm',
          name: 'data',
          root: '/srv/data.bin',
          swarmId: 'cd'.repeat(32),
          listening: '127.0.0.1:6881',
          bytes: { in: 0, out: 2048 },
          peers: [
            peerStatus(alice, Date.parse('2026-01-01T00:00:02Z'), { bytesIn: 10, bytesOut: 2048 }, [
              'fetch swarm:data (2 requests pending)'
            ])
          ]
        }
      ]
    }
    expect(formatStatus(s).slice(2)).toEqual([
      'share docs (/srv/docs) on 127.0.0.1:4455: 1 peer',
      '  alice  AAAA  127.0.0.1:5000  since 2026-01-01T00:00:01.000Z  in 900 B  out 3.0 MiB  1 op',
      '    read a.txt',
      'proxy web -> 127.0.0.1:80 (noise) on 127.0.0.1:8443: 0 peers',
      'swarm data (/srv/data.bin) on 127.0.0.1:6881: 1 peer',
      '  alice  AAAA  127.0.0.1:5000  since 2026-01-01T00:00:02.000Z  in 10 B  out 2.0 KiB  1 op',
      '    fetch swarm:data (2 requests pending)'
    ])
    expect(s.services[0]?.peers[0]).toMatchObject({ operations: 1, current: ['read a.txt'], bytesIn: 900 })
  })
})
