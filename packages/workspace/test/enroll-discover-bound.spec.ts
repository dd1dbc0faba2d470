/**
 * Discovery is bounded: announcement headers are clear and their source addresses can be forged,
 * so forged announcements from many addresses must not make a joiner connect to any number of
 * them. At most MAX_DISCOVERY_CANDIDATES senders are probed, at most 8 at once, then discovery ends
 * with a hint to name the CA node. Senders are real sockets on 127.0.0.2…127.0.0.101 (loopback).
 */
import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'
import {
  announceKeyOf,
  discoverEnrollment,
  MAX_DISCOVERY_CANDIDATES,
  rootFingerprintOf,
  sealAnnouncement,
  workspaceIdOf
} from '../src/index.js'

const SENDERS = 100
let pki: TestPki
let server: Server
let enrollPort: number
const connectedFrom = new Set<string>()
const senders: Socket[] = []

beforeAll(async () => {
  pki = await makeTestPki({ peers: ['mallory'] })
  // Every 127.0.0.x answers on the enrollment port (a listener on all of loopback's addresses).
  server = createServer((s) => {
    connectedFrom.add(s.localAddress ?? '?')
    s.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve))
  enrollPort = (server.address() as { port: number }).port
  for (let i = 0; i < SENDERS; i++) {
    const s = createSocket('udp4')
    await new Promise<void>((resolve) => s.bind(0, `127.0.0.${i + 2}`, resolve))
    senders.push(s)
  }
})

afterAll(async () => {
  for (const s of senders) s.close()
  await new Promise((resolve) => server.close(resolve))
})

describe('discovery under forged announcements from many addresses', () => {
  it(`probes at most ${MAX_DISCOVERY_CANDIDATES} senders, 8 at once, then ends naming --ca`, async () => {
    const mallory = pki.peers.mallory as NonNullable<typeof pki.peers.mallory>
    const root = pki.ca.certificate
    const ours = sealAnnouncement(
      { timestampMs: Date.now(), seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] },
      { identity: mallory.identity, workspaceId: workspaceIdOf(root), key: announceKeyOf(root) }
    )
    const listen = createSocket('udp4')
    await new Promise<void>((resolve) => listen.bind(0, '127.0.0.1', resolve))
    const port = listen.address().port
    await new Promise<void>((resolve) => listen.close(() => resolve()))

    let checking = 0
    let mostAtOnce = 0
    const checked = new Set<string>()
    const found = discoverEnrollment({
      rootFingerprint: rootFingerprintOf(root),
      udp: { host: '127.0.0.1', port },
      enrollPort,
      timeoutMs: 60_000,
      // every sender is an impostor: the joiner goes on listening
      check: async (candidate) => {
        checking++
        mostAtOnce = Math.max(mostAtOnce, checking)
        checked.add(candidate.host)
        await new Promise((r) => setTimeout(r, 20))
        checking--
        return false
      }
    })
    // UDP may drop a datagram: every sender repeats until discovery ends
    const timer = setInterval(() => {
      for (const s of senders) s.send(ours, port, '127.0.0.1')
    }, 50)
    try {
      await expect(found).rejects.toMatchObject({
        code: 'enroll-failed',
        message: `discovery: more than ${MAX_DISCOVERY_CANDIDATES} addresses announce this workspace and none is the CA node; name it with --ca HOST:PORT`
      })
    } finally {
      clearInterval(timer)
    }
    expect(checked.size).toBeLessThanOrEqual(MAX_DISCOVERY_CANDIDATES)
    expect(connectedFrom.size).toBeLessThanOrEqual(MAX_DISCOVERY_CANDIDATES)
    expect(connectedFrom.size).toBeGreaterThan(8)
    expect(mostAtOnce).toBeLessThanOrEqual(8)
  }, 90_000)
})
