import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair } from '@peerguard/identity'
import {
  crlDistributionPoints,
  createCertificateAuthority,
  createTrustStore,
  fetchCrl,
  loadTrustStore,
  parseCertificate,
  verifyPeerChain
} from '@peerguard/pki'
import { CertificateRevokedError, CrlMissingError } from '@peerguard/pki/errors'
import { DAY, manualClock, x509 } from './helpers.js'

const HOUR = 3_600_000

describe('TrustStore.addCrl', () => {
  it('verifies against a root, keeps the newest per CA, never goes back to an older one', async () => {
    const clock = manualClock()
    const ca = await createCertificateAuthority({ name: 'Home LAN CA', clock })
    const alice = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
    const first = await ca.crl()
    const trust = createTrustStore({ roots: [ca.certificate], clock })
    await expect(verifyPeerChain(alice.chain, { trust })).rejects.toThrow(CrlMissingError)
    expect(trust.addCrl(first.der, { source: 'http://127.0.0.1/lan.crl' })).toEqual({
      issuer: 'CN=Home LAN CA',
      replaced: true,
      older: false
    })
    await expect(verifyPeerChain(alice.chain, { trust })).resolves.toBeDefined()
    // the same CRL again changes nothing (a periodic fetch of an unchanged CRL)
    const generation = trust.generation
    expect(trust.addCrl(first.pem)).toEqual({ issuer: 'CN=Home LAN CA', replaced: false, older: false })
    expect(trust.generation).toBe(generation)
    await ca.revoke(alice.serial, 'keyCompromise')
    clock.advance(1000)
    const second = await ca.crl()
    expect(trust.addCrl(second.der).replaced).toBe(true)
    await expect(verifyPeerChain(alice.chain, { trust })).rejects.toThrow(CertificateRevokedError)
    // an older CRL (an attacker replaying #1, which does not list alice) is not installed
    expect(trust.addCrl(first.der)).toEqual({ issuer: 'CN=Home LAN CA', replaced: false, older: true })
    await expect(verifyPeerChain(alice.chain, { trust })).rejects.toThrow(CertificateRevokedError)
    expect(trust.crls).toHaveLength(1)
    expect(trust.crlStatus()).toEqual([
      {
        issuer: 'CN=Home LAN CA',
        thisUpdate: second.thisUpdate,
        nextUpdate: second.nextUpdate,
        stale: false,
        number: '02'
      }
    ])
  })

  it('refuses a CRL of an unknown CA (crl-unknown-issuer) or signed by another key (crl-bad-signature)', async () => {
    const ca = await createCertificateAuthority({ name: 'Home LAN CA' })
    const stranger = await createCertificateAuthority({ name: 'Stranger CA' })
    const twin = await createCertificateAuthority({ name: 'Home LAN CA' })
    const trust = createTrustStore({ roots: [ca.certificate] })
    const strangerCrl = (await stranger.crl()).der
    const twinCrl = (await twin.crl()).der
    expect(() => trust.addCrl(strangerCrl)).toThrow(expect.objectContaining({ code: 'crl-unknown-issuer' }))
    // same name, other key: its AKI names another key, so it is not this CA's CRL
    expect(() => trust.addCrl(twinCrl)).toThrow(expect.objectContaining({ code: 'crl-unknown-issuer' }))
    const damaged = Uint8Array.from((await ca.crl()).der)
    damaged[damaged.length - 3] = (damaged[damaged.length - 3] as number) ^ 0x40
    expect(() => trust.addCrl(damaged)).toThrow(expect.objectContaining({ code: 'crl-bad-signature' }))
    expect(() => trust.addCrl(new Uint8Array([0x30, 0]))).toThrow(expect.objectContaining({ code: 'crl-malformed' }))
    expect(() => trust.addCrl(42 as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    const good = (await ca.crl()).der
    expect(() => trust.addCrl(good, { source: 5 as never })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(trust.crls).toHaveLength(0)
  })

  it("an intermediate's CRL is accepted once the store has verified a chain through it", async () => {
    const root = await createCertificateAuthority({ name: 'Root' })
    const inter = await root.issueIntermediate({ name: 'Issuing CA' })
    const bob = await inter.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'bob' })
    const trust = createTrustStore({ roots: [root.certificate], crls: [(await root.crl()).der] })
    const interCrl = await inter.crl()
    expect(() => trust.addCrl(interCrl.der)).toThrow(expect.objectContaining({ code: 'crl-unknown-issuer' }))
    // the peer's chain verifies up to the root, then stops at the intermediate's missing CRL …
    const err = await verifyPeerChain(bob.chain, { trust }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'crl-missing', details: { issuer: 'CN=Issuing CA' } })
    // … and from then on the store knows the intermediate
    expect(trust.addCrl(interCrl.der)).toMatchObject({ issuer: 'CN=Issuing CA', replaced: true })
    await expect(verifyPeerChain(bob.chain, { trust })).resolves.toMatchObject({ name: 'bob' })
    expect(trust.crlStatus().map((s) => s.issuer)).toEqual(expect.arrayContaining(['CN=Root', 'CN=Issuing CA']))
    // the intermediate stays known while its root does, and is forgotten when the root goes away
    const other = await createCertificateAuthority({ name: 'Other root' })
    trust.replace({ roots: [root.certificate, other.certificate] })
    expect(trust.addCrl((await inter.crl()).der).replaced).toBe(true)
    trust.replace({ roots: [other.certificate] })
    const next = (await inter.crl()).der
    expect(() => trust.addCrl(next)).toThrow(expect.objectContaining({ code: 'crl-unknown-issuer' }))
  })
})

describe('crlStatus, crlWarnings, crlsMissing, assertCrlsCurrent', () => {
  it('warn at half the lifetime or 24 h before nextUpdate, whichever is first; stale CRLs name their CA', async () => {
    const clock = manualClock()
    const ca = await createCertificateAuthority({ name: 'Home LAN CA', clock })
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl({ days: 7 })).der], clock })
    expect(trust.crlsMissing()).toEqual([])
    expect(() => trust.assertCrlsCurrent()).not.toThrow()
    expect(trust.crlWarnings()).toEqual([])
    clock.advance(3 * DAY + 11 * HOUR) // just before half of 7 days
    expect(trust.crlWarnings()).toEqual([])
    clock.advance(2 * HOUR)
    const [w] = trust.crlWarnings()
    expect(w).toMatchObject({ issuer: 'CN=Home LAN CA', stale: false })
    expect(trust.crlWarnings({ lifetimeFraction: 1, windowMs: DAY })).toEqual([]) // 24 h before only
    clock.advance(3 * DAY)
    expect(trust.crlWarnings({ lifetimeFraction: 1, windowMs: DAY })).toHaveLength(1)
    clock.advance(DAY) // past nextUpdate + 5 min skew
    expect(trust.crlStatus()[0]?.stale).toBe(true)
    expect(() => trust.assertCrlsCurrent()).toThrow(
      expect.objectContaining({ code: 'crl-stale', details: expect.objectContaining({ issuer: 'CN=Home LAN CA' }) })
    )
    expect(() => trust.crlWarnings({ lifetimeFraction: 2 })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    // a one-day CRL: half its lifetime (12 h) comes before "24 h left" (at once)
    const short = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl({ days: 1 })).der], clock })
    expect(short.crlWarnings()).toHaveLength(1)
  })

  it('assertCrlsCurrent checks the roots and the intermediates given, naming the missing one', async () => {
    const root = await createCertificateAuthority({ name: 'Root' })
    const inter = await root.issueIntermediate({ name: 'Issuing CA' })
    const none = createTrustStore({ roots: [root.certificate] })
    expect(none.crlsMissing([inter.certificate])).toEqual(['CN=Root', 'CN=Issuing CA'])
    expect(() => none.assertCrlsCurrent()).toThrow(
      expect.objectContaining({ code: 'crl-missing', details: expect.objectContaining({ issuer: 'CN=Root' }) })
    )
    const rootOnly = createTrustStore({ roots: [root.certificate], crls: [(await root.crl()).der] })
    expect(() => rootOnly.assertCrlsCurrent()).not.toThrow()
    expect(() => rootOnly.assertCrlsCurrent([inter.certificate])).toThrow(
      expect.objectContaining({ code: 'crl-missing', details: expect.objectContaining({ issuer: 'CN=Issuing CA' }) })
    )
    const optOut = createTrustStore({ roots: [root.certificate], requireCrl: false })
    expect(() => optOut.assertCrlsCurrent([inter.certificate])).not.toThrow()
    expect(optOut.crlsMissing([inter.certificate])).toEqual(['CN=Root', 'CN=Issuing CA'])
  })
})

describe('loadTrustStore with CRLs besides the directory', () => {
  it('keeps a newer CRL (added or fetched) over an older file on reload, and takes a newer file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pki-crl-dir-'))
    try {
      const clock = manualClock()
      const ca = await createCertificateAuthority({ name: 'Dir CA', clock })
      const alice = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
      await writeFile(join(dir, 'root.pem'), ca.certificatePem)
      await expect(loadTrustStore(join(dir))).resolves.toBeDefined()
      const one = await ca.crl()
      const trust = await loadTrustStore(dir, { crls: [{ crl: one.der, source: 'extra.crl' }], clock })
      expect(trust.crlStatus()).toEqual([expect.objectContaining({ source: 'extra.crl', number: '01' })])
      await expect(verifyPeerChain(alice.chain, { trust })).resolves.toBeDefined()
      expect(await trust.reload()).toEqual({ olderCrls: [] }) // the extra CRL stays in force
      await expect(verifyPeerChain(alice.chain, { trust })).resolves.toBeDefined()
      await ca.revoke(alice.serial)
      clock.advance(1000)
      const two = await ca.crl()
      trust.addCrl(two.der, { source: 'http://ca.lan/dir.crl' })
      await writeFile(join(dir, 'old.crl'), one.der)
      expect(await trust.reload()).toEqual({ olderCrls: [{ issuer: 'CN=Dir CA', source: join(dir, 'old.crl') }] })
      await expect(verifyPeerChain(alice.chain, { trust })).rejects.toThrow(CertificateRevokedError)
      clock.advance(1000)
      const three = await ca.crl()
      await writeFile(join(dir, 'old.crl'), three.pem)
      expect(await trust.reload()).toEqual({ olderCrls: [] })
      expect(trust.crlStatus()).toEqual([expect.objectContaining({ number: '03', source: join(dir, 'old.crl') })])
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    }
  })
})

describe('CRL distribution points', () => {
  it('a CA setting puts an http URL into every later certificate; per-certificate override; intermediates carry the parent URL', async () => {
    const ca = await createCertificateAuthority({
      name: 'Home LAN CA',
      crlDistributionPoints: ['http://ca.lan:8080/lan-ca.crl']
    })
    const alice = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
    expect(crlDistributionPoints(alice.der)).toEqual(['http://ca.lan:8080/lan-ca.crl'])
    expect(crlDistributionPoints(parseCertificate(alice.pem))).toEqual(['http://ca.lan:8080/lan-ca.crl'])
    const none = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'bob', crlDistributionPoints: [] })
    expect(crlDistributionPoints(none.der)).toEqual([])
    const inter = await ca.issueIntermediate({ name: 'Issuing CA' })
    expect(parseCertificate(inter.certificate).crlDistributionPoints).toEqual(['http://ca.lan:8080/lan-ca.crl'])
    expect(crlDistributionPoints(ca.certificate)).toEqual([]) // the root has none
    await ca.setCrlDistributionPoints(['http://10.0.0.1/a.crl', 'http://10.0.0.2/a.crl'])
    const renewed = await ca.renew(alice.der)
    expect(crlDistributionPoints(renewed.der)).toEqual(['http://10.0.0.1/a.crl', 'http://10.0.0.2/a.crl'])
    for (const bad of [['https://ca.lan/x.crl'], ['ftp://x/y'], ['http://user:pw@ca/x.crl'], ['not a url'], 'http://x'])
      await expect(ca.setCrlDistributionPoints(bad as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    expect(() => crlDistributionPoints(null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })

  it('property: URLs written by @peculiar/x509 read back the same; random extension bytes throw only cert-malformed', async () => {
    const ca = await createCertificateAuthority({ name: 'Prop CA' })
    const pathChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._~/%'.split(''))
    const url = fc
      .tuple(
        fc.constantFrom('ca.lan', '127.0.0.1', '[::1]', 'crl.example'),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        fc.array(pathChar, { maxLength: 40 })
      )
      .map(([host, port, path]) => `http://${host}${port === undefined ? '' : `:${port}`}/${path.join('')}`)
    await fc.assert(
      fc.asyncProperty(fc.array(url, { minLength: 1, maxLength: 4 }), async (urls) => {
        const cert = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'p', crlDistributionPoints: urls })
        expect(crlDistributionPoints(cert.der)).toEqual([...new Set(urls)])
      }),
      { numRuns: 25 }
    )
    const ext = new x509.CRLDistributionPointsExtension(['http://ca.lan/x.crl'])
    const value = new Uint8Array(ext.value)
    const cert = await ca.issuePeer({
      publicKey: generateKeyPair().publicKey,
      name: 'q',
      crlDistributionPoints: ['http://ca.lan/x.crl']
    })
    const at = Buffer.from(cert.der).indexOf(Buffer.from(value))
    expect(at).toBeGreaterThan(0)
    fc.assert(
      fc.property(fc.nat({ max: value.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const changed = Uint8Array.from(cert.der)
        changed[at + i] = ((changed[at + i] as number) + delta) & 0xff
        try {
          parseCertificate(changed)
        } catch (err) {
          expect((err as { code?: string }).code).toBe('cert-malformed')
        }
      }),
      { numRuns: 200 }
    )
  })
})

describe('fetchCrl', () => {
  let server: Server
  let base: string
  let crlDer: Uint8Array
  let crlPem: string
  beforeAll(async () => {
    const ca = await createCertificateAuthority({ name: 'Fetch CA' })
    const crl = await ca.crl()
    crlDer = crl.der
    crlPem = crl.pem
    server = createServer((req, res) => {
      if (req.url === '/der') res.writeHead(200, { 'Content-Type': 'application/pkix-crl' }).end(crlDer)
      else if (req.url === '/pem') res.writeHead(200).end(crlPem)
      else if (req.url === '/big') res.writeHead(200).end(Buffer.alloc(4096, 0x30))
      else if (req.url === '/chunked-big') {
        res.writeHead(200)
        res.write(Buffer.alloc(3000))
        res.end(Buffer.alloc(3000))
      } else if (req.url === '/garbage') res.writeHead(200).end('hello')
      else if (req.url === '/redirect') res.writeHead(302, { Location: '/der' }).end()
      else if (req.url === '/slow') setTimeout(() => res.end(crlDer), 5_000).unref()
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('returns the DER of a DER or PEM answer', async () => {
    expect(Buffer.from(await fetchCrl(`${base}/der`))).toEqual(Buffer.from(crlDer))
    expect(Buffer.from(await fetchCrl(`${base}/pem`))).toEqual(Buffer.from(crlDer))
  })

  it('fails with typed errors: status, redirect, size, time, garbage, scheme', async () => {
    await expect(fetchCrl(`${base}/missing`)).rejects.toMatchObject({
      code: 'crl-fetch-failed',
      details: { url: `${base}/missing` }
    })
    await expect(fetchCrl(`${base}/redirect`)).rejects.toMatchObject({ code: 'crl-fetch-failed' })
    await expect(fetchCrl(`${base}/big`, { maxBytes: 1024 })).rejects.toMatchObject({ code: 'crl-fetch-failed' })
    await expect(fetchCrl(`${base}/chunked-big`, { maxBytes: 4096 })).rejects.toMatchObject({ code: 'crl-fetch-failed' })
    await expect(fetchCrl(`${base}/slow`, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'crl-fetch-failed' })
    await expect(fetchCrl(`${base}/garbage`)).rejects.toMatchObject({ code: 'crl-malformed' })
    await expect(fetchCrl('https://127.0.0.1/x.crl')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(fetchCrl('file:///etc/passwd')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(fetchCrl('not a url')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(fetchCrl(`${base}/der`, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(fetchCrl(5 as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    // nothing listening
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    await expect(fetchCrl(`http://127.0.0.1:${port}/x.crl`)).rejects.toMatchObject({ code: 'crl-fetch-failed' })
  })
})

describe('CertificateAuthority.renew', () => {
  it('refuses a revoked certificate whatever the reason, and records nothing', async () => {
    for (const reason of ['keyCompromise', 'superseded', 'unspecified'] as const) {
      const ca = await createCertificateAuthority({ name: 'Renew CA' })
      const cert = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
      await ca.revoke(cert.serial, reason)
      const before = await ca.list()
      await expect(ca.renew(cert.der)).rejects.toMatchObject({
        code: 'ca-certificate-revoked',
        details: { serial: cert.serial, reason }
      })
      expect(await ca.list()).toEqual(before)
    }
  })
})
