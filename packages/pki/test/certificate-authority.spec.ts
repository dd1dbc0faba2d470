import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import {
  CertificateAuthority,
  createCertificateAuthority,
  createCsr,
  createTrustStore,
  loadTrustStore,
  parseCertificate,
  parseCsr,
  pemDecode,
  pemEncode,
  verifyBinding,
  verifyPeerChain
} from '@peerguard/pki'
import { CaWrongIssuerError, CertificateRevokedError, CsrBadSignatureError, CsrInvalidError } from '@peerguard/pki/errors'
import { BINDING_URI_PREFIX } from '../src/csr.js'
import { DAY, manualClock, wc, x509 } from './helpers.js'

describe('createCertificateAuthority and issuePeer: arguments', () => {
  it('refuses wrong types, sizes and names with invalid-argument', async () => {
    const bad: unknown[] = [
      null,
      {},
      { name: '' },
      { name: 'x'.repeat(65) },
      { name: 'evil\nname' },
      { name: 'ok', keyType: 'rsa' },
      { name: 'ok', days: 0 },
      { name: 'ok', days: 1.5 },
      { name: 'ok', pathLen: -1 }
    ]
    for (const options of bad) {
      await expect(createCertificateAuthority(options as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    }
    const ca = await createCertificateAuthority({ name: 'Args CA' })
    const pk = generateKeyPair().publicKey
    const badIssue: unknown[] = [
      null,
      { publicKey: new Uint8Array(31), name: 'a' },
      { publicKey: 'key', name: 'a' },
      { publicKey: pk, name: '' },
      { publicKey: pk, name: 'a', groups: 'admins' },
      { publicKey: pk, name: 'a', groups: ['x', 'x'] },
      { publicKey: pk, name: 'a', groups: Array.from({ length: 33 }, (_, i) => `g${i}`) },
      { publicKey: pk, name: 'a', days: 3651 },
      { publicKey: pk, name: 'a', subjectPublicKey: new Uint8Array(10) }
    ]
    for (const options of badIssue) {
      await expect(ca.issuePeer(options as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    }
    await expect(ca.revoke('zz')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(ca.revoke('01', 'because' as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(ca.crl({ days: 0 })).rejects.toMatchObject({ code: 'invalid-argument' })
    expect(await ca.list()).toEqual([])
  })

  it('fromKey reopens a CA and refuses a key that is not its own', async () => {
    const ca = await createCertificateAuthority({ name: 'Reopen CA', keyType: 'p256' })
    const again = CertificateAuthority.fromKey({ certificate: ca.certificatePem, keyEntry: ca.keyEntry })
    const cert = await again.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'x' })
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await again.crl()).der] })
    await expect(verifyPeerChain(cert.chain, { trust })).resolves.toBeDefined()
    const other = await createCertificateAuthority({ name: 'Other', keyType: 'p256' })
    expect(() => CertificateAuthority.fromKey({ certificate: ca.certificate, keyEntry: other.keyEntry })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => CertificateAuthority.fromKey({ certificate: cert.der, keyEntry: ca.keyEntry })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
  })

  it('caps a peer certificate at the CA expiry', async () => {
    const ca = await createCertificateAuthority({ name: 'Short CA', days: 10 })
    const cert = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'x', days: 30 })
    expect(cert.notAfter.getTime()).toBe(ca.parsed.notAfter)
  })
})

describe('renew', () => {
  it('gives a new serial and window for the same peer, name and groups', async () => {
    const clock = manualClock()
    const ca = await createCertificateAuthority({ name: 'Renew CA', clock })
    const id = generateKeyPair()
    const old = await ca.issuePeer({ publicKey: id.publicKey, name: 'alice', groups: ['family'], days: 5 })
    clock.advance(4 * DAY)
    const fresh = await ca.renew(old.pem, { days: 30 })
    expect(fresh.serial).not.toBe(old.serial)
    expect(fresh.peerId).toBe(old.peerId)
    expect(fresh.groups).toEqual(['family'])
    expect(fresh.notAfter.getTime() - old.notAfter.getTime()).toBe(29 * DAY)
    const other = await createCertificateAuthority({ name: 'Renew CA' })
    await expect(other.renew(old.der)).rejects.toThrow(CaWrongIssuerError)
    await expect(ca.renew(ca.certificate)).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(
      ca.revoke(parseCertificate(await other.issuePeer({ publicKey: id.publicKey, name: 'b' }).then((c) => c.der)).der)
    ).rejects.toThrow(CaWrongIssuerError)
  })
})

describe('CSR', () => {
  it('a peer CSR carries its name and peer ID; the CA signs it and groups come from the operator only', async () => {
    const ca = await createCertificateAuthority({ name: 'CSR CA' })
    const id = generateKeyPair()
    const csr = await createCsr({ keyPair: id, name: 'alice' })
    expect(csr.pem).toContain('BEGIN CERTIFICATE REQUEST')
    const parsed = parseCsr(csr.pem)
    expect(parsed.uris).toEqual([`peerguard://peer/${peerIdFromPublicKey(id.publicKey).toString()}`])
    const cert = await ca.signCsr(csr.pem, { groups: ['family'], peerId: peerIdFromPublicKey(id.publicKey).toString() })
    expect(cert.name).toBe('alice')
    expect(cert.groups).toEqual(['family'])
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const peer = await verifyPeerChain(cert.chain, { trust })
    expect(Buffer.from(peer.publicKey)).toEqual(Buffer.from(id.publicKey))
  })

  it('refuses a tampered CSR, another expected peer and a P-256 CSR key', async () => {
    const ca = await createCertificateAuthority({ name: 'CSR CA' })
    const id = generateKeyPair()
    const csr = await createCsr({ keyPair: id, name: 'alice' })
    const tampered = Uint8Array.from(csr.der)
    // change one letter of the CN inside the signed part: 'alice' → 'alicf'
    const at = Buffer.from(tampered).indexOf(Buffer.from('alice'))
    tampered[at + 4] = 0x66
    await expect(ca.signCsr(pemEncode(tampered, 'CERTIFICATE REQUEST'))).rejects.toThrow(CsrBadSignatureError)
    await expect(ca.signCsr(csr.der, { peerId: peerIdFromPublicKey(generateKeyPair().publicKey).toString() })).rejects.toThrow(
      CsrInvalidError
    )
    await expect(ca.signCsr('garbage')).rejects.toMatchObject({ code: 'csr-malformed' })
    await expect(
      createCsr({ keyPair: { publicKey: id.publicKey, secretKey: new Uint8Array(64) }, name: 'alice' })
    ).rejects.toBeDefined()
    expect(pemDecode(csr.pem, 'CERTIFICATE REQUEST')).toEqual(csr.der)
  })
})

describe('P-256 requests for tools without Ed25519', () => {
  it('are signed when the identity key vouches for the P-256 key, and the certificate names the peer', async () => {
    const ca = await createCertificateAuthority({ name: 'P256 CSR CA' })
    const id = generateKeyPair()
    const csr = await createCsr({ keyPair: id, name: 'printer', keyType: 'p256' })
    expect(csr.p256Key).toBeInstanceOf(Uint8Array)
    const parsed = parseCsr(csr.pem)
    expect(parsed.publicKey.keyType).toBe('p256')
    expect(parsed.uris.filter((u) => u.startsWith(BINDING_URI_PREFIX))).toHaveLength(1)
    const cert = await ca.signCsr(csr.pem, { groups: ['printers'] })
    expect(cert.peerId).toBe(peerIdFromPublicKey(id.publicKey).toString())
    const leaf = parseCertificate(cert.der)
    expect(leaf.publicKey.keyType).toBe('p256')
    expect(leaf.uris).toEqual([`peerguard://peer/${cert.peerId}`]) // the proof stays out of the certificate
    const peer = await verifyPeerChain(cert.chain, {
      trust: createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] }),
      expectedPeerId: cert.peerId
    })
    expect(Buffer.from(peer.publicKey)).toEqual(Buffer.from(id.publicKey))
  })

  it('are refused without a valid proof from the named identity', async () => {
    const ca = await createCertificateAuthority({ name: 'P256 CSR CA' })
    const id = generateKeyPair()
    const mallory = generateKeyPair()
    // mallory makes a P-256 request, then swaps in alice's peer ID: the proof is mallory's
    const csr = await createCsr({ keyPair: mallory, name: 'printer', keyType: 'p256' })
    const parsed = parseCsr(csr.der)
    expect(verifyBinding(parsed, mallory.publicKey)).toBe(true)
    expect(verifyBinding(parsed, id.publicKey)).toBe(false)
    // a P-256 CSR without any proof: made directly with @peculiar/x509
    const keys = await wc.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
    const bare = await x509.Pkcs10CertificateRequestGenerator.create(
      {
        name: 'CN=printer',
        keys,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          new x509.SubjectAlternativeNameExtension([
            { type: 'url', value: `peerguard://peer/${peerIdFromPublicKey(id.publicKey).toString()}` }
          ])
        ]
      },
      wc
    )
    await expect(ca.signCsr(new Uint8Array(bare.rawData))).rejects.toThrow(CsrInvalidError)
    await expect(createCsr({ keyPair: id, name: 'x', keyType: 'rsa' as never })).rejects.toMatchObject({
      code: 'invalid-argument'
    })
  })
})

describe('loadTrustStore', () => {
  it('loads roots and CRLs from a directory and reloads them while running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pki-trust-'))
    try {
      const ca = await createCertificateAuthority({ name: 'Dir CA' })
      const cert = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
      await writeFile(join(dir, 'root.pem'), ca.certificatePem)
      await writeFile(join(dir, 'README.txt'), 'not a certificate')
      await writeFile(join(dir, 'lan.crl'), (await ca.crl()).der)
      const trust = await loadTrustStore(dir)
      await expect(verifyPeerChain(cert.chain, { trust })).resolves.toBeDefined()
      await ca.revoke(cert.serial)
      await writeFile(join(dir, 'lan.crl'), (await ca.crl()).der)
      // still cached and the CRL not loaded: valid until reload
      await expect(verifyPeerChain(cert.chain, { trust })).resolves.toBeDefined()
      await trust.reload()
      await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateRevokedError)
      // a damaged file: reload fails and keeps the old contents
      await writeFile(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n')
      await expect(trust.reload()).rejects.toMatchObject({ code: 'cert-malformed' })
      await expect(verifyPeerChain(cert.chain, { trust })).rejects.toThrow(CertificateRevokedError)
      await expect(loadTrustStore(join(dir, 'missing'))).rejects.toMatchObject({ code: 'not-found' })
      // watch: a new root file is picked up without a call to reload()
      await rm(join(dir, 'broken.pem'))
      await trust.reload()
      const other = await createCertificateAuthority({ name: 'Second CA' })
      const otherCert = await other.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'dave' })
      await writeFile(join(dir, 'second.crl'), (await other.crl()).pem)
      await expect(verifyPeerChain(otherCert.chain, { trust })).rejects.toMatchObject({ code: 'cert-unknown-issuer' })
      const reloaded = new Promise<void>((resolve, reject) => {
        const stop = trust.watch({
          debounceMs: 50,
          onReload: () => {
            stop()
            resolve()
          },
          onError: reject
        })
      })
      // Written elsewhere and renamed in: a reload (debounced 50 ms) never reads a half-written
      // second.pem (an empty one is skipped, a cut one is cert-malformed) on a slow machine.
      const staging = await mkdtemp(join(tmpdir(), 'pki-trust-staging-'))
      await writeFile(join(staging, 'second.pem'), other.certificatePem)
      await rename(join(staging, 'second.pem'), join(dir, 'second.pem'))
      await rm(staging, { recursive: true, force: true, maxRetries: 5 })
      await reloaded
      await expect(verifyPeerChain(otherCert.chain, { trust })).resolves.toMatchObject({ name: 'dave' })
      expect(() => createTrustStore({ roots: [ca.certificate] }).watch()).toThrow(
        expect.objectContaining({ code: 'invalid-argument' })
      )
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    }
  })
})
