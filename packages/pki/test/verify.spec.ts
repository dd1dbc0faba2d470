import { X509Certificate } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import {
  CertificateMalformedError,
  createCertificateAuthority,
  createTrustStore,
  parseCertificate,
  verifyPeerChain
} from '@peerguard/pki'
import {
  CertificateBadSignatureError,
  CertificateExpiredError,
  CertificateNotACaError,
  CertificateNotYetValidError,
  CertificatePathTooLongError,
  CertificatePeerMismatchError,
  CertificateRevokedError,
  CertificateUnknownCriticalExtensionError,
  CertificateUnknownIssuerError,
  CertificateWrongUsageError,
  CrlBadSignatureError,
  CrlMissingError,
  CrlStaleError
} from '@peerguard/pki/errors'
import { craft, DAY, manualClock, peerUriOf, spkiOf, wc, webKeyOf, x509 } from './helpers.js'

async function setup(keyType: 'ed25519' | 'p256' = 'ed25519') {
  const clock = manualClock()
  const ca = await createCertificateAuthority({ name: 'Home LAN CA', keyType, clock })
  const alice = generateKeyPair()
  const cert = await ca.issuePeer({ publicKey: alice.publicKey, name: 'alice', groups: ['family', 'admins'] })
  // A long-lived CRL: these tests are about other checks (revocation is required by default).
  const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl({ days: 366 })).der], clock })
  return { clock, ca, alice, cert, trust }
}

describe('verifyPeerChain: a valid chain', () => {
  for (const keyType of ['ed25519', 'p256'] as const) {
    it(`returns the peer for a ${keyType} CA`, async () => {
      const { ca, alice, cert, trust } = await setup(keyType)
      const peer = await verifyPeerChain(cert.chain, { trust, purpose: 'clientAuth' })
      expect(peer.peerId).toBe(peerIdFromPublicKey(alice.publicKey).toString())
      expect(peer.peerId).toBe(cert.peerId)
      expect(Buffer.from(peer.publicKey)).toEqual(Buffer.from(alice.publicKey))
      expect(peer.name).toBe('alice')
      expect(peer.groups).toEqual(['family', 'admins'])
      expect(peer.serial).toBe(cert.serial)
      expect(peer.chain).toHaveLength(2)
      expect(Buffer.from(peer.chain[1] as Uint8Array)).toEqual(Buffer.from(ca.certificate))
      expect(peer.notAfter.getTime()).toBe(cert.notAfter.getTime())
    })
  }

  it('accepts the chain with the root included, and the expected peer ID', async () => {
    const { ca, cert, trust } = await setup()
    const peer = await verifyPeerChain([cert.der, ca.certificate], { trust, expectedPeerId: cert.peerId, purpose: 'serverAuth' })
    expect(peer.peerId).toBe(cert.peerId)
  })

  it('issues 128-bit random serials, 30-day default lifetime and the documented extensions', async () => {
    const { cert, ca } = await setup()
    const p = parseCertificate(cert.der)
    expect(p.serial).toMatch(/^([0-9a-f]{2}){1,16}$/)
    expect(p.notAfter - p.notBefore).toBe(30 * DAY + 60_000)
    expect(p.ca).toBe(false)
    expect(p.keyUsage).toBe(1) // digitalSignature only
    expect(p.extKeyUsage).toEqual(['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'])
    expect(p.uris).toEqual([`peerguard://peer/${cert.peerId}`])
    expect(p.authorityKeyId).toBe(ca.parsed.subjectKeyId)
    expect(ca.parsed.ca).toBe(true)
    expect(ca.parsed.pathLen).toBe(1)
    expect(ca.parsed.keyUsage).toBe(32 | 64)
  })

  it('agrees with node:crypto and @peculiar/x509 on the signature and the fields', async () => {
    const { cert, ca } = await setup()
    const leaf = new X509Certificate(cert.der)
    const root = new X509Certificate(ca.certificate)
    expect(leaf.verify(root.publicKey)).toBe(true)
    expect(leaf.checkIssued(root)).toBe(true)
    const ours = parseCertificate(cert.der)
    expect(ours.serial).toBe(leaf.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ''))
    expect(ours.notAfter).toBe(new Date(leaf.validTo).getTime())
    expect(leaf.subjectAltName).toBe(`URI:peerguard://peer/${cert.peerId}`)
    const peculiar = new x509.X509Certificate(cert.der)
    expect(
      await peculiar.verify({ publicKey: new x509.X509Certificate(ca.certificate).publicKey, signatureOnly: true }, wc)
    ).toBe(true)
    expect(peculiar.notBefore.getTime()).toBe(ours.notBefore)
  })
})

describe('differential: our signature check against @peculiar/x509 verify', () => {
  it('agree on every one-byte change of a certificate (signature or signed part)', async () => {
    const { ca, cert, trust } = await setup()
    const caKey = new x509.X509Certificate(ca.certificate).publicKey
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: cert.der.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, delta) => {
        const changed = Uint8Array.from(cert.der)
        changed[i] = ((changed[i] as number) + delta) & 0xff
        let theirs: boolean
        try {
          theirs = await new x509.X509Certificate(changed).verify({ publicKey: caKey, signatureOnly: true }, wc)
        } catch {
          theirs = false
        }
        let ours: boolean
        try {
          await verifyPeerChain([changed], { trust, cache: false })
          ours = true
        } catch {
          ours = false
        }
        // A changed byte breaks parsing or the signature: we never accept it. @peculiar/x509 is
        // laxer (it accepts a damaged outer signatureAlgorithm, e.g. byte 415 → 0x70 in one run),
        // so the differential is one-way: whatever we accept, it accepts; inside the signed part
        // and the signature value both refuse.
        expect(ours).toBe(false)
        const p = parseCertificate(cert.der)
        const tbsEnd = p.tbs.byteOffset - cert.der.byteOffset + p.tbs.length
        const sigStart = cert.der.length - p.signature.length
        if ((i >= 4 && i < tbsEnd) || i >= sigStart) expect(theirs).toBe(false)
      }),
      { numRuns: 150 }
    )
  })
})

describe('verifyPeerChain: each failed check has its own error', () => {
  it('expired and not yet valid (with clock skew)', async () => {
    const { clock, cert, trust } = await setup()
    const t0 = clock.now()
    clock.set(cert.notAfter.getTime() + 4 * 60_000) // within the 5-minute skew
    await expect(verifyPeerChain(cert.chain, { trust })).resolves.toBeDefined()
    clock.set(cert.notAfter.getTime() + 6 * 60_000)
    await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateExpiredError)
    clock.set(t0 - DAY)
    await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateNotYetValidError)
    const strict = createTrustStore({ roots: [trust.roots[0]?.der as Uint8Array], clock, clockSkewMs: 0 })
    clock.set(cert.notAfter.getTime() + 1000)
    await expect(verifyPeerChain(cert.chain, { trust: strict })).rejects.toMatchObject({ code: 'cert-expired' })
  })

  it('bad signature: a flipped bit and a truncated signature', async () => {
    const { cert, trust } = await setup()
    const flipped = Uint8Array.from(cert.der)
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 1
    await expect(verifyPeerChain([flipped], { trust })).rejects.toThrow(CertificateBadSignatureError)
    // A signature cut short: re-encode the BIT STRING 10 bytes shorter (lengths stay consistent).
    const p = parseCertificate(cert.der)
    const sigLen = p.signature.length
    const truncated = reencodeWithSignature(cert.der, p.signature.subarray(0, sigLen - 10))
    await expect(verifyPeerChain([truncated], { trust })).rejects.toMatchObject({ code: 'cert-bad-signature' })
  })

  it('unknown issuer: another CA, even with the same name', async () => {
    const { cert } = await setup()
    const other = await createCertificateAuthority({ name: 'Other CA' })
    const twin = await createCertificateAuthority({ name: 'Home LAN CA' })
    await expect(verifyPeerChain(cert.chain, { trust: createTrustStore({ roots: [other.certificate] }) })).rejects.toThrow(
      CertificateUnknownIssuerError
    )
    await expect(verifyPeerChain(cert.chain, { trust: createTrustStore({ roots: [twin.certificate] }) })).rejects.toMatchObject({
      code: 'cert-unknown-issuer'
    })
  })

  it('not a CA: a peer certificate used as an issuer', async () => {
    const { alice, cert, trust } = await setup()
    const mallory = generateKeyPair()
    const forged = await craft({
      subject: 'CN=mallory',
      issuer: 'CN=alice, OU=family, OU=admins',
      subjectKey: spkiOf(mallory.publicKey),
      signer: await webKeyOf(alice),
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.2'],
      uris: [peerUriOf(mallory)]
    })
    const err = await verifyPeerChain([forged, cert.der], { trust }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CertificateNotACaError)
    expect((err as CertificateNotACaError).details).toMatchObject({ index: 1 })
  })

  it('path too long: an intermediate below a pathLen 0 root', async () => {
    const root = await createCertificateAuthority({ name: 'Root', pathLen: 0 })
    const trust = createTrustStore({ roots: [root.certificate] })
    // The CA refuses to make such an intermediate, so craft one.
    const interKey = generateKeyPair()
    const rootKey = await wc.subtle.importKey(
      'pkcs8',
      Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), root.keyEntry.secret]),
      { name: 'Ed25519' },
      false,
      ['sign']
    )
    const inter = await craft({
      subject: 'CN=Inter',
      issuer: 'CN=Root',
      subjectKey: spkiOf(interKey.publicKey),
      signer: rootKey,
      ca: true,
      keyUsage: 32 | 64
    })
    const bob = generateKeyPair()
    const leaf = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Inter',
      subjectKey: spkiOf(bob.publicKey),
      signer: await webKeyOf(interKey),
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'],
      uris: [peerUriOf(bob)]
    })
    await expect(verifyPeerChain([leaf, inter], { trust })).rejects.toThrow(CertificatePathTooLongError)
    await expect(root.issueIntermediate({ name: 'Inter' })).rejects.toMatchObject({ code: 'invalid-argument' })
  })

  it('intermediate chains verify, and a chain missing its intermediate is unknown-issuer', async () => {
    const root = await createCertificateAuthority({ name: 'Root' })
    const inter = await root.issueIntermediate({ name: 'Day-to-day CA' })
    const bob = generateKeyPair()
    const cert = await inter.issuePeer({ publicKey: bob.publicKey, name: 'bob' })
    expect(cert.chain).toHaveLength(2)
    const trust = createTrustStore({ roots: [root.certificate], crls: [(await root.crl()).der, (await inter.crl()).der] })
    const peer = await verifyPeerChain(cert.chain, { trust })
    expect(peer.chain).toHaveLength(3)
    await expect(verifyPeerChain([cert.der], { trust })).rejects.toThrow(CertificateUnknownIssuerError)
    // revoke the intermediate at the root: its peers fail too
    await root.revoke(inter.certificate, 'cACompromise')
    const crl = await root.crl()
    await expect(
      verifyPeerChain(cert.chain, { trust: createTrustStore({ roots: [root.certificate], crls: [crl.der] }) })
    ).rejects.toMatchObject({
      code: 'cert-revoked',
      details: { index: 1 }
    })
  })

  it('an intermediate-issued certificate with only the root CRL is refused: crl-missing names the intermediate', async () => {
    const root = await createCertificateAuthority({ name: 'Root' })
    const inter = await root.issueIntermediate({ name: 'Day-to-day CA' })
    const bob = generateKeyPair()
    const cert = await inter.issuePeer({ publicKey: bob.publicKey, name: 'bob' })
    await inter.revoke(cert.serial, 'keyCompromise')
    const onlyRoot = createTrustStore({ roots: [root.certificate], crls: [(await root.crl()).der] })
    const err = await verifyPeerChain(cert.chain, { trust: onlyRoot }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CrlMissingError)
    expect((err as CrlMissingError).message).toContain('Day-to-day CA')
    expect((err as CrlMissingError).details).toMatchObject({ issuer: 'CN=Day-to-day CA', index: 0 })
    // with no CRL at all, the root's is the first missing one (checked from the top)
    const none = createTrustStore({ roots: [root.certificate] })
    await expect(verifyPeerChain(cert.chain, { trust: none })).rejects.toMatchObject({
      code: 'crl-missing',
      details: { issuer: 'CN=Root', index: 1 }
    })
    // the intermediate's CRL, verified against the intermediate's key from the chain: revoked
    onlyRoot.replace({ crls: [(await root.crl()).der, (await inter.crl()).der] })
    await expect(verifyPeerChain(cert.chain, { trust: onlyRoot })).rejects.toThrow(CertificateRevokedError)
    // explicit opt-out: a CA without a CRL is not checked (the documented degraded mode)
    const optOut = createTrustStore({ roots: [root.certificate], crls: [(await root.crl()).der], requireCrl: false })
    await expect(verifyPeerChain(cert.chain, { trust: optOut })).resolves.toMatchObject({ name: 'bob' })
  })

  it('a revoked peer with no CRL loaded is refused by default (crl-missing), accepted only with requireCrl: false', async () => {
    const { ca, cert } = await setup()
    await ca.revoke(cert.serial, 'keyCompromise')
    const trust = createTrustStore({ roots: [ca.certificate] })
    expect(trust.requireCrl).toBe(true)
    await expect(verifyPeerChain(cert.chain, { trust })).rejects.toMatchObject({
      code: 'crl-missing',
      details: { issuer: 'CN=Home LAN CA' }
    })
    expect(trust.crlsMissing()).toEqual(['CN=Home LAN CA'])
    const open = createTrustStore({ roots: [ca.certificate], requireCrl: false })
    await expect(verifyPeerChain(cert.chain, { trust: open })).resolves.toBeDefined()
  })

  it('wrong usage: a serverAuth-only certificate for clientAuth, a CA certificate as a peer', async () => {
    const { ca, trust } = await setup()
    const bob = generateKeyPair()
    const caKey = await wc.subtle.importKey(
      'pkcs8',
      Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), ca.keyEntry.secret]),
      { name: 'Ed25519' },
      false,
      ['sign']
    )
    const serverOnly = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Home LAN CA',
      subjectKey: spkiOf(bob.publicKey),
      signer: caKey,
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.1'],
      uris: [peerUriOf(bob)]
    })
    await expect(verifyPeerChain([serverOnly], { trust, purpose: 'serverAuth' })).resolves.toBeDefined()
    await expect(verifyPeerChain([serverOnly], { trust, purpose: 'clientAuth' })).rejects.toThrow(CertificateWrongUsageError)
    const noDigitalSignature = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Home LAN CA',
      subjectKey: spkiOf(bob.publicKey),
      signer: caKey,
      keyUsage: 4,
      eku: ['1.3.6.1.5.5.7.3.1'],
      uris: [peerUriOf(bob)]
    })
    await expect(verifyPeerChain([noDigitalSignature], { trust })).rejects.toMatchObject({ code: 'cert-wrong-usage' })
    await expect(verifyPeerChain([ca.certificate], { trust })).rejects.toMatchObject({ code: 'cert-wrong-usage' })
    const unknownCritical = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Home LAN CA',
      subjectKey: spkiOf(bob.publicKey),
      signer: caKey,
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.1'],
      uris: [peerUriOf(bob)],
      extraExtensions: [new x509.Extension('1.2.3.4.5', true, new Uint8Array([5, 0]))]
    })
    await expect(verifyPeerChain([unknownCritical], { trust })).rejects.toThrow(CertificateUnknownCriticalExtensionError)
  })

  it('peer mismatch: another expected peer, a SAN that is not the key, no SAN', async () => {
    const { ca, cert, trust } = await setup()
    const bob = generateKeyPair()
    await expect(
      verifyPeerChain(cert.chain, { trust, expectedPeerId: peerIdFromPublicKey(bob.publicKey).toString() })
    ).rejects.toThrow(CertificatePeerMismatchError)
    // cached path gives the same answer
    await expect(
      verifyPeerChain(cert.chain, { trust, expectedPeerId: peerIdFromPublicKey(bob.publicKey).toString() })
    ).rejects.toThrow(CertificatePeerMismatchError)
    const caKey = await wc.subtle.importKey(
      'pkcs8',
      Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), ca.keyEntry.secret]),
      { name: 'Ed25519' },
      false,
      ['sign']
    )
    const mallory = generateKeyPair()
    const lying = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Home LAN CA',
      subjectKey: spkiOf(mallory.publicKey),
      signer: caKey,
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.2'],
      uris: [peerUriOf(bob)]
    })
    await expect(verifyPeerChain([lying], { trust })).rejects.toMatchObject({ code: 'cert-peer-mismatch' })
    const noSan = await craft({
      subject: 'CN=bob',
      issuer: 'CN=Home LAN CA',
      subjectKey: spkiOf(bob.publicKey),
      signer: caKey,
      keyUsage: 1,
      eku: ['1.3.6.1.5.5.7.3.2']
    })
    await expect(verifyPeerChain([noSan], { trust })).rejects.toMatchObject({ code: 'cert-peer-mismatch' })
  })

  it('revoked, stale CRL, CRL signed by the wrong key', async () => {
    const { clock, ca, cert, alice } = await setup()
    const other = await ca.issuePeer({ publicKey: alice.publicKey, name: 'alice-laptop' })
    const rec = await ca.revoke(cert.serial, 'keyCompromise')
    expect(rec.reason).toBe('keyCompromise')
    const crl = await ca.crl({ days: 1 })
    expect(crl.number).toBe(2) // setup signed number 1
    expect(crl.revoked).toEqual([cert.serial])
    const trust = createTrustStore({ roots: [ca.certificate], crls: [crl.pem], clock })
    const err = await verifyPeerChain(cert.chain, { trust }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CertificateRevokedError)
    expect((err as CertificateRevokedError).details).toMatchObject({ reason: 'keyCompromise', serial: cert.serial })
    await expect(verifyPeerChain(other.chain, { trust })).resolves.toBeDefined()
    clock.advance(2 * DAY)
    await expect(verifyPeerChain(other.chain, { trust })).rejects.toThrow(CrlStaleError)
    // A CRL under the same name from another key.
    const twin = await createCertificateAuthority({ name: 'Home LAN CA', clock })
    const forged = await twin.crl()
    const trust2 = createTrustStore({ roots: [ca.certificate], crls: [forged.der], clock })
    await expect(verifyPeerChain(other.chain, { trust: trust2 })).rejects.toThrow(CrlBadSignatureError)
    // A CRL whose signature bytes were damaged.
    const fresh = await ca.crl()
    expect(fresh.number).toBe(3)
    const damaged = Uint8Array.from(fresh.der)
    damaged[damaged.length - 3] = (damaged[damaged.length - 3] as number) ^ 0x40
    const trust3 = createTrustStore({ roots: [ca.certificate], crls: [damaged], clock })
    await expect(verifyPeerChain(other.chain, { trust: trust3 })).rejects.toMatchObject({ code: 'crl-bad-signature' })
  })

  it('garbage is cert-malformed', async () => {
    const { trust } = await setup()
    await expect(verifyPeerChain([new Uint8Array([0x30, 0x03, 1, 2, 3])], { trust })).rejects.toThrow(CertificateMalformedError)
    await expect(verifyPeerChain([new Uint8Array(0)], { trust })).rejects.toThrow(CertificateMalformedError)
    await expect(verifyPeerChain([new Uint8Array(64 * 1024 + 1)], { trust })).rejects.toThrow(CertificateMalformedError)
  })
})

describe('trust store cache', () => {
  it('caches verified chains and drops them when the CRLs change', async () => {
    const { ca, cert, trust } = await setup()
    await verifyPeerChain(cert.chain, { trust })
    const again = await verifyPeerChain(cert.chain, { trust })
    expect(again.peerId).toBe(cert.peerId)
    again.groups.push('mutated')
    expect((await verifyPeerChain(cert.chain, { trust })).groups).toEqual(['family', 'admins'])
    await ca.revoke(cert.serial)
    const before = trust.generation
    trust.replace({ crls: [(await ca.crl()).der] })
    expect(trust.generation).toBe(before + 1)
    await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateRevokedError)
  })

  it('a cached result still expires', async () => {
    const { clock, cert, trust } = await setup()
    await verifyPeerChain(cert.chain, { trust })
    clock.set(cert.notAfter.getTime() + DAY)
    await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateExpiredError)
  })
})

describe('bad arguments', () => {
  it('refuses wrong types with invalid-argument', async () => {
    const { cert, trust } = await setup()
    const bad: unknown[][] = [
      [null, { trust }],
      [[], { trust }],
      [['pem'], { trust }],
      [cert.chain, null],
      [cert.chain, { trust: {} }],
      [cert.chain, { trust, purpose: 'codeSigning' }],
      [cert.chain, { trust, expectedPeerId: 42 }],
      [cert.chain, { trust, clock: 5 }]
    ]
    for (const [chain, options] of bad) {
      await expect(verifyPeerChain(chain as Uint8Array[], options as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    }
    expect(() => createTrustStore({ roots: [] })).toThrow(expect.objectContaining({ code: 'trust-store-empty' }))
    expect(() => createTrustStore({ roots: ['not pem'] })).toThrow(expect.objectContaining({ code: 'cert-malformed' }))
    expect(() => createTrustStore({ roots: [cert.der], crls: ['garbage'] })).toThrow(
      expect.objectContaining({ code: 'crl-malformed' })
    )
    expect(() => createTrustStore({ roots: [cert.der], clockSkewMs: -1 })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
  })
})

/** Rebuild a certificate with another signature value (DER lengths recomputed). */
function reencodeWithSignature(der: Uint8Array, signature: Uint8Array): Uint8Array {
  const p = parseCertificate(der)
  const algStart = der.indexOf(0x30, p.tbs.byteOffset - der.byteOffset + p.tbs.length)
  const alg = der.subarray(algStart, algStart + 2 + (der[algStart + 1] as number))
  const bit = Buffer.concat([Buffer.from([0x03]), derLength(signature.length + 1), Buffer.from([0]), signature])
  const body = Buffer.concat([p.tbs, alg, bit])
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]))
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  if (n < 0x100) return Buffer.from([0x81, n])
  return Buffer.from([0x82, n >> 8, n & 0xff])
}
