import { describe, expect, it } from '@jest/globals'
import { isPeerguardError } from '@peerguard/interface'
import * as pki from '@peerguard/pki'
import { assertCrlUrl } from '../src/distribution-points.js'

/** Every exported function checks its arguments: wrong types, sizes and encodings get typed errors. */
const TYPED = new Set([
  'invalid-argument',
  'invalid-peer-id',
  'peer-id-check-failed',
  'cert-malformed',
  'crl-malformed',
  'csr-malformed',
  'pem-malformed'
])

async function rejectsTyped(fn: () => unknown): Promise<void> {
  let error: unknown
  try {
    await fn()
  } catch (err) {
    error = err
  }
  expect(error).toBeDefined()
  if (!(isPeerguardError(error) && TYPED.has(error.code)))
    throw new Error(`untyped error from ${fn.toString()}: ${String(error)}`)
}

describe('argument checks of the exports', () => {
  const garbage: unknown[] = [undefined, null, 42, 'text', {}, [], new Uint8Array(0), new Uint8Array([1, 2, 3])]

  it('parsers and encoders', async () => {
    for (const g of garbage) {
      await rejectsTyped(() => pki.parseCertificate(g as never))
      await rejectsTyped(() => pki.parseCrl(g as never))
      await rejectsTyped(() => pki.parseCsr(g as never))
      if (!(g instanceof Uint8Array)) await rejectsTyped(() => pki.pemEncode(g as never, 'CERTIFICATE'))
      await rejectsTyped(() => pki.pemDecode(g as never, 'CERTIFICATE'))
      if (typeof g !== 'string') await rejectsTyped(() => pki.parseDatabase(g as never))
      await rejectsTyped(() => pki.peerUri(g as never))
      await rejectsTyped(() => pki.normalizeSerial(g as never))
      await rejectsTyped(() => pki.crlDistributionPoints(g as never))
      await rejectsTyped(() => pki.fetchCrl(g as never))
      await rejectsTyped(() => assertCrlUrl('url', g))
    }
  })

  it('trust store CRL methods', async () => {
    const ca = await pki.createCertificateAuthority({ name: 'Args CA' })
    const trust = pki.createTrustStore({ roots: [ca.certificate] })
    for (const g of [undefined, null, 42, 'text', {}, [], new Uint8Array(0), new Uint8Array([1, 2, 3])]) {
      await rejectsTyped(() => trust.addCrl(g as never))
      // an object (even {} or []) is an options bag with defaults
      if (g !== undefined && (g === null || typeof g !== 'object')) await rejectsTyped(() => trust.crlWarnings(g as never))
      if (g !== undefined && !Array.isArray(g)) await rejectsTyped(() => trust.crlsMissing(g as never))
      if (g !== undefined && !Array.isArray(g)) await rejectsTyped(() => trust.assertCrlsCurrent(g as never))
    }
    await rejectsTyped(() => trust.crlWarnings({ windowMs: -1 }))
    await rejectsTyped(() => pki.createTrustStore({ roots: [ca.certificate], requireCrl: 'no' as never }))
    await rejectsTyped(() => ca.setCrlDistributionPoints(['http://a/1', 'http://a/2', 'http://a/3', 'http://a/4', 'http://a/5']))
  })

  it('keys, TLS glue, PKCS#12, CSRs', async () => {
    for (const g of garbage) {
      await rejectsTyped(() => pki.identityKeyPem(g as never))
      await rejectsTyped(() => pki.p256KeyPem(g as never))
      await rejectsTyped(() => pki.peerChainOf(g as never))
      await rejectsTyped(() => pki.exportPkcs12(g as never))
      await rejectsTyped(() => pki.createCsr(g as never))
      await rejectsTyped(() => pki.generateCaKey(g as never))
      await rejectsTyped(() => pki.tlsCredentials(g as never))
    }
    await rejectsTyped(() => pki.p256KeyPem(new Uint8Array(40)))
  })

  it('stores, directories and trust', async () => {
    for (const g of [undefined, null, 42, '', {}]) {
      await rejectsTyped(() => pki.fileCaStore(g as never))
      await rejectsTyped(() => pki.initCaDirectory(g as never, { name: 'x' }))
      await rejectsTyped(() => pki.openCaDirectory(g as never))
      await rejectsTyped(() => pki.readCaDirectory(g as never))
      await rejectsTyped(() => pki.loadTrustStore(g as never))
      await rejectsTyped(() => pki.createTrustStore(g as never))
      await rejectsTyped(() => pki.createCertificateAuthority(g as never))
      await rejectsTyped(() => pki.CertificateAuthority.fromKey(g as never))
    }
    const ca = await pki.createCertificateAuthority({ name: 'Args' })
    await rejectsTyped(() => ca.renew(ca.certificate, null as never))
    await rejectsTyped(() => ca.assertIssued(null as never))
    await rejectsTyped(() => ca.signCsr('x', null as never))
    await rejectsTyped(() => ca.issueIntermediate({ name: 'i', pathLen: 5 }))
  })
})
