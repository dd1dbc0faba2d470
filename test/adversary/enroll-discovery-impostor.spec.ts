/**
 * Attacker: a host on the LAN with no credentials at all. Announcements carry the workspace ID in
 * clear, so anyone who saw one can announce "this workspace is here" and open the enrollment port.
 * Invariant (SECURITY.md, enrollment; workspace SPEC §6.5): a joiner that finds the CA node by
 * announcements neither hands its secret to an impostor nor gives up because of one — whatever a
 * server says before it proves a certificate under the token's root (a foreign CA, garbage, a
 * closed connection) sends the joiner on to the next candidate, and the real CA node enrolls it.
 * Real sockets on loopback: impostors on 127.0.0.2 and 127.0.0.4, the CA node on 127.0.0.3, all on
 * the same enrollment port; `peerguard join` in process; the impostors announce first.
 */
import { createSocket } from 'node:dgram'
import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import {
  announceKeyOf,
  type EnrollEvent,
  EnrollmentService,
  rootFingerprintOf,
  sealAnnouncement,
  TokenStore,
  workspaceIdOf
} from '@peerguard/workspace'
import { runCli } from '../../packages/cli/test/run-cli.js'

interface Ca {
  pki: TestPki
  tokens: TokenStore
  events: EnrollEvent[]
}

async function ca(caName: string): Promise<Ca> {
  const pki = await makeTestPki({ caName, peers: [{ name: 'admin', groups: ['admins'] }] })
  return { pki, tokens: new TokenStore(await mkdtemp(join(tmpdir(), 'pg-adv-disc-'))), events: [] }
}

function serve(c: Ca): (socket: Socket) => void {
  const admin = c.pki.peers.admin as TestPeer
  const service = new EnrollmentService({
    ca: c.pki.ca,
    root: c.pki.ca.certificate,
    tokens: c.tokens,
    identity: admin.identity,
    chain: admin.chain,
    onEvent: (e) => c.events.push(e)
  })
  return (socket) => void service.handle(socket)
}

const listen = (server: Server, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve((server.address() as { port: number }).port))
  })

let real: Ca
let foreign: Ca
const servers: Server[] = []
let enrollPort = 0
const contacted: string[] = []
const open = new Set<Socket>()
const track = (s: Socket): void => {
  open.add(s)
  s.on('error', () => {})
  s.on('close', () => open.delete(s))
}

beforeAll(async () => {
  real = await ca('Home CA')
  foreign = await ca('Impostor CA')
  const realServer = createServer((s) => {
    track(s)
    serve(real)(s)
  })
  enrollPort = await listen(realServer, '127.0.0.3', 0)
  const impostor = createServer((s) => {
    track(s)
    contacted.push('foreign CA')
    serve(foreign)(s)
  })
  const junk = createServer((s) => {
    track(s)
    contacted.push('junk')
    s.end(Buffer.from('HTTP/1.0 400 nope\r\n\r\n'))
  })
  await listen(impostor, '127.0.0.2', enrollPort)
  await listen(junk, '127.0.0.4', enrollPort)
  servers.push(realServer, impostor, junk)
})

afterAll(async () => {
  for (const s of open) s.destroy()
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
})

describe('peerguard join by discovery, impostors first', () => {
  it('goes past a foreign CA and a junk server to the CA node the token names, and enrolls there', async () => {
    const root = real.pki.ca.certificate
    const made = await real.tokens.create({ name: 'pat', groups: [], ttlMs: 600_000, rootFingerprint: rootFingerprintOf(root) })
    const probe = createSocket('udp4')
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r))
    const udpPort = probe.address().port
    await new Promise<void>((r) => probe.close(() => r()))
    // the clear header is all an impostor needs: our workspace ID, any key, any seal
    const datagram = (key: Uint8Array): Uint8Array =>
      sealAnnouncement(
        { timestampMs: Date.now(), seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] },
        { identity: generateKeyPair(), workspaceId: workspaceIdOf(root), key }
      )
    const senders = await Promise.all(
      ['127.0.0.2', '127.0.0.4', '127.0.0.3'].map(async (host) => {
        const s = createSocket('udp4')
        await new Promise<void>((r) => s.bind(0, host, r))
        return s
      })
    )
    const [foreignSender, junkSender, realSender] = senders as [
      ReturnType<typeof createSocket>,
      ReturnType<typeof createSocket>,
      ReturnType<typeof createSocket>
    ]
    const fake = datagram(announceKeyOf(foreign.pki.ca.certificate))
    const genuine = datagram(announceKeyOf(root))
    // impostors announce at once; the CA node only after both impostors were contacted
    const timer = setInterval(() => {
      foreignSender.send(fake, udpPort, '127.0.0.1')
      junkSender.send(fake, udpPort, '127.0.0.1')
      if (contacted.includes('foreign CA') && contacted.includes('junk')) realSender.send(genuine, udpPort, '127.0.0.1')
    }, 50)
    const dir = await mkdtemp(join(tmpdir(), 'pg-adv-join-'))
    try {
      const r = await runCli(
        ['join', made.token, '--dir', 'pat', '--discover', `127.0.0.1:${udpPort}`, '--enroll-port', String(enrollPort)],
        { cwd: dir }
      )
      expect({ code: r.code, out: r.stdout.split('\n')[0] }).toEqual({ code: 0, out: 'joined as pat' })
      // a foreign CA answers before proving anything (here: enroll-token-unknown), junk fails the channel
      expect(r.stderr).toMatch(/127\.0\.0\.2:\d+ did not prove itself the workspace's CA node \(enroll-/)
      expect(r.stderr).toMatch(/127\.0\.0\.4:\d+ did not prove itself the workspace's CA node \(enroll-/)
      expect(r.stdout).toContain(`at 127.0.0.3:${enrollPort}`)
    } finally {
      clearInterval(timer)
      for (const s of senders) s.close()
    }
    // the impostor CA saw the token ID only: no secret, no request reached it (the reachability
    // probe shows up as a failed channel); the CA node enrolled pat once
    expect(new Set(foreign.events.map((e) => e.code))).toEqual(new Set(['enroll-failed', 'enroll-token-unknown']))
    expect(real.events.filter((e) => e.outcome === 'enrolled').map((e) => e.name)).toEqual(['pat'])
  }, 120_000)
})
