/**
 * The parts of the live-reload mechanism that the black-box tests cannot steer: the stat-poll
 * fallback of the file watch, CRLs fetched from a distribution point on 127.0.0.1 (a revocation
 * reaches an open connection without any file change; a forged CRL is refused; a file reload keeps
 * the fetched CRL), warnings before a CRL goes stale, and the `--crl-refresh` parser.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair, type KeyPair } from '@peerguard/identity'
import { type CertificateAuthority, createCertificateAuthority, createTrustStore, pemEncode } from '@peerguard/pki'
import { channelTransport, connectShare, createShareServer, type ShareServer, type ShareTransport } from '@peerguard/share'
import { watchFiles } from '../src/file-watch.js'
import { createLiveConfig, type LiveConfig } from '../src/live-config.js'
import { parseCrlRefresh, readTrustFiles } from '../src/serve-live.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-live-config-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** Poll `check` until it is true (overall timeout generous; the machine is busy). */
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('watchFiles', () => {
  it('sees a file in a folder created after the watch started (no fs.watch possible there) through the stat poll', async () => {
    const folder = join(dir, 'later')
    const file = join(folder, 'ca.crl')
    const changes: string[][] = []
    const w = watchFiles({ paths: [file], onChange: (c) => changes.push(c), pollMs: 100, debounceMs: 20 })
    try {
      await w.ready
      await mkdir(folder)
      await writeFile(file, 'x')
      await until(() => changes.some((c) => c.includes(file)), 'the poll to report the new file')
    } finally {
      w.close()
    }
  })

  it('reports a file replaced by rename (as editors and mv do), naming the file', async () => {
    const file = join(dir, 'policy.yaml')
    await writeFile(file, 'a')
    const changes: string[][] = []
    const w = watchFiles({ paths: [file], onChange: (c) => changes.push(c), debounceMs: 100 })
    try {
      await w.ready
      for (let i = 0; i < 3; i++) {
        await writeFile(join(dir, `.tmp${i}`), `v${i}`)
        await rename(join(dir, `.tmp${i}`), file)
      }
      await until(() => changes.length > 0, 'a change')
      expect(changes.every((c) => c.length === 0 || c.includes(file))).toBe(true)
      expect(changes.flat()).toContain(file)
    } finally {
      w.close()
    }
  })

  it('checks its arguments', () => {
    expect(() => watchFiles({ paths: [''], onChange: () => {} })).toThrow('options.paths: expected an array of non-empty paths')
    expect(() => watchFiles({ paths: ['x'], onChange: () => {}, pollMs: 1 })).toThrow(/options\.pollMs/)
  })
})

describe('parseCrlRefresh', () => {
  it('accepts whole seconds 0..86400 and nothing else', () => {
    expect(parseCrlRefresh(undefined)).toBe(300_000)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 86_400 }), (n) => {
        expect(parseCrlRefresh(String(n))).toBe(n * 1000)
      })
    )
    fc.assert(
      fc.property(fc.string(), (s) => {
        const ok = /^\d+$/.test(s) && Number(s) <= 86_400
        if (ok) expect(parseCrlRefresh(s)).toBe(Number(s) * 1000)
        else expect(() => parseCrlRefresh(s)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
      })
    )
  })
})

describe('CRLs from a distribution point', () => {
  let http: Server
  let served: Uint8Array | undefined
  let ca: CertificateAuthority
  let nas: { identity: KeyPair; chain: Uint8Array[] }
  let bob: { identity: KeyPair; chain: Uint8Array[]; serial: string }
  let server: ShareServer
  let live: LiveConfig
  let port: number
  const lines: string[] = []
  const records: Array<Record<string, unknown>> = []
  const trustDir = (): string => join(dir, 'cdp-trust')

  beforeAll(async () => {
    http = createHttpServer((req, res) => {
      if (req.url !== '/ca.crl' || served === undefined) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(Buffer.from(served))
    })
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ca.crl`
    ca = await createCertificateAuthority({ name: 'CDP Test CA', crlDistributionPoints: [url] })
    const issue = async (name: string, groups: string[]) => {
      const identity = generateKeyPair()
      const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups })
      return { identity, chain: cert.chain, serial: cert.serial }
    }
    nas = await issue('nas', ['servers'])
    bob = await issue('bob', ['guests'])
    // a one-day CRL: its renewal warning (24 h before nextUpdate) is due at once
    const first = await ca.crl({ days: 1 })
    served = first.der
    await mkdir(trustDir())
    await writeFile(join(trustDir(), 'ca.pem'), pemEncode(ca.certificate, 'CERTIFICATE'))
    await writeFile(join(trustDir(), 'ca.crl'), first.pem)
    await writeFile(join(dir, 'nas.pem'), nas.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    await mkdir(join(dir, 'cdp-share'))
    live = await createLiveConfig({
      identity: nas.identity,
      certPath: join(dir, 'nas.pem'),
      trustPath: trustDir(),
      loadTrust: () => readTrustFiles(trustDir()),
      log: {
        append: async (r) => {
          records.push(r as unknown as Record<string, unknown>)
        }
      },
      report: (l) => lines.push(l),
      crlRefreshMs: 200,
      crlCheckMs: 200
    })
    server = createShareServer({
      root: join(dir, 'cdp-share'),
      transport: channelTransport({ identity: nas.identity, chain: live.chain, trust: live.trust }),
      authorize: () => ({ allowed: true, code: 'allow', reason: 'test', matchedGroups: [] }),
      connectionCheck: live.checkPeer
    })
    port = (await server.listen()).port
    live.onChange((change) => server.recheck({ trust: change.trust }))
    await live.start()
  }, 180_000)

  afterAll(async () => {
    live?.close()
    await server?.close()
    await new Promise((r) => http.close(r))
  })

  it('warns well before the CRL in force goes stale', async () => {
    await until(() => lines.some((l) => /warning: the CRL of CN=CDP Test CA goes stale at /.test(l)), 'the renewal warning')
  })

  it('a revocation published only at the distribution point closes the open connection', async () => {
    const base = channelTransport({
      identity: bob.identity,
      chain: bob.chain,
      trust: createTrustStore({ roots: [ca.certificate], crls: [served as Uint8Array] })
    })
    let stream: Duplex | undefined
    const transport: ShareTransport = {
      mode: base.mode,
      accept: (s) => base.accept(s),
      connect: async (s) => {
        const r = await base.connect(s)
        stream = r.stream
        return r
      }
    }
    const client = await connectShare({ host: '127.0.0.1', port }, { transport })
    const closed = new Promise<number>((r) => (stream as Duplex).once('close', () => r(Date.now())))
    const dropped = new Promise<{ code: string }>((r) => server.once('dropped', r))
    expect((await client.list('')).entries).toEqual([])
    await ca.revoke(bob.serial, 'keyCompromise')
    served = (await ca.crl({ days: 1 })).der
    await closed
    expect(lines.some((l) => /^peerguard: reloaded crl/.test(l))).toBe(true)
    expect(records).toContainEqual(
      expect.objectContaining({
        kind: 'reload',
        event: 'applied',
        what: 'crl',
        reason: expect.stringMatching(/fetched a newer CRL/)
      })
    )
    expect(await dropped).toMatchObject({ code: 'cert-revoked' })
  })

  it('a reload of the (older) trust folder keeps the fetched CRL; a forged CRL at the distribution point is refused', async () => {
    const before = lines.length
    await writeFile(join(trustDir(), 'extra.txt'), 'not a certificate, but a change in the folder')
    await live.reload('test')
    expect(lines.slice(before).filter((l) => /rejected/.test(l))).toEqual([])
    const forged = Uint8Array.from((await ca.crl({ days: 1 })).der)
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    served = forged
    await until(() => lines.some((l) => /new crl rejected \(crl-bad-signature\)/.test(l)), 'the forged CRL to be refused')
    expect(records).toContainEqual(
      expect.objectContaining({ kind: 'reload', event: 'rejected', what: 'crl', code: 'crl-bad-signature' })
    )
    // bob is still revoked: the CRL in force did not change
    expect(
      live.checkPeer({ peerId: 'x', publicKey: bob.identity.publicKey, groups: [], certificate: bob.chain[0] as Uint8Array })
    ).toMatchObject({ code: 'cert-revoked' })
  })
})

describe('policy time windows', () => {
  async function liveWith(policy: string, name: string): Promise<{ live: LiveConfig; changes: string[][] }> {
    const ca = await createCertificateAuthority({ name: `Time CA ${name}` })
    const identity = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: identity.publicKey, name: 'nas', groups: ['servers'] })
    const base = join(dir, `time-${name}`)
    await mkdir(base)
    await writeFile(join(base, 'ca.pem'), pemEncode(ca.certificate, 'CERTIFICATE'))
    await writeFile(join(base, 'nas.pem'), cert.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    await writeFile(join(base, 'policy.yaml'), policy)
    const live = await createLiveConfig({
      identity,
      certPath: join(base, 'nas.pem'),
      trustPath: join(base, 'ca.pem'),
      policyPath: join(base, 'policy.yaml'),
      loadTrust: async () => createTrustStore({ roots: [ca.certificate], requireCrl: false }),
      report: () => {},
      timeCheckMs: 100
    })
    const changes: string[][] = []
    live.onChange((c) => {
      changes.push([...c.what])
    })
    await live.start()
    return { live, changes }
  }

  it('asks the servers to decide open connections again while the policy has a time window, not otherwise', async () => {
    const windowed = await liveWith(
      'version: 1\nrules:\n  - allow: [read]\n    peers: ["ou:staff"]\n    resources: ["service:web"]\n    when: { time: "07:00-20:00" }\n',
      'windowed'
    )
    const plain = await liveWith(
      'version: 1\nrules:\n  - allow: [read]\n    peers: ["ou:staff"]\n    resources: ["service:web"]\n',
      'plain'
    )
    try {
      await until(() => windowed.changes.filter((c) => c.includes('time')).length >= 3, 'three time ticks')
      expect(windowed.changes.every((c) => c.length === 1 && c[0] === 'time')).toBe(true)
      expect(plain.changes).toEqual([])
    } finally {
      windowed.live.close()
      plain.live.close()
    }
    // closed: no more ticks
    const after = windowed.changes.length
    await new Promise((r) => setTimeout(r, 350))
    expect(windowed.changes.length).toBe(after)
  })

  it('refuses a time-check period that is not a whole number of ms from 50 to an hour', async () => {
    for (const timeCheckMs of [0, -1, 10, 1.5, Number.NaN])
      await expect(
        createLiveConfig({
          identity: generateKeyPair(),
          certPath: 'nas.pem',
          trustPath: 'trust',
          loadTrust: async () => createTrustStore({ roots: [], requireCrl: false }),
          report: () => {},
          timeCheckMs
        })
      ).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringContaining('options.timeCheckMs') })
  })
})
