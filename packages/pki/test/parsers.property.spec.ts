import { X509Certificate } from 'node:crypto'
import { beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import {
  type CertificateAuthority,
  createCertificateAuthority,
  type IssuedCertificate,
  normalizeSerial,
  parseCertificate,
  parseCrl,
  parseCsr,
  parseDatabase,
  pemDecode,
  pemDecodeAll,
  pemEncode
} from '@peerguard/pki'
import { createCsr } from '@peerguard/pki'

/** Property tests: encoders round-trip, and parsers throw only our typed errors on any input. */

const OUR_CODES = new Set([
  'cert-malformed',
  'crl-malformed',
  'csr-malformed',
  'csr-bad-signature',
  'pem-malformed',
  'invalid-argument',
  'cert-unsupported-algorithm',
  'ca-database-corrupt'
])

function onlyOurErrors(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!isPeerguardError(err) || !OUR_CODES.has(err.code)) throw new Error(`unexpected error: ${String(err)}`)
  }
}

let ca: CertificateAuthority
let cert: IssuedCertificate
let crlDer: Uint8Array
let csrDer: Uint8Array
beforeAll(async () => {
  ca = await createCertificateAuthority({ name: 'Property CA' })
  const id = generateKeyPair()
  cert = await ca.issuePeer({ publicKey: id.publicKey, name: 'alice', groups: ['g1', 'g2'] })
  await ca.revoke(cert.serial, 'superseded')
  crlDer = (await ca.crl()).der
  csrDer = (await createCsr({ keyPair: id, name: 'alice' })).der
})

describe('PEM', () => {
  it('round-trips any bytes for every label, and finds blocks among other text', () => {
    const labels = ['CERTIFICATE', 'X509 CRL', 'CERTIFICATE REQUEST', 'PRIVATE KEY', 'PUBLIC KEY'] as const
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.constantFrom(...labels),
        fc.string(),
        (bytes, label, noise) => {
          const pem = pemEncode(bytes, label)
          expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true)
          expect(Buffer.from(pemDecode(pem, label))).toEqual(Buffer.from(bytes))
          const clean = noise.replace(/-/g, '')
          expect(pemDecodeAll(`${clean}\n${pem}${clean}\n${pem}`, label)).toHaveLength(2)
        }
      )
    )
  })

  it('throws only pem-malformed on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        onlyOurErrors(() => pemDecodeAll(`-----BEGIN CERTIFICATE-----\n${text}\n-----END CERTIFICATE-----\n`, 'CERTIFICATE'))
        onlyOurErrors(() => pemDecodeAll(text, 'CERTIFICATE'))
      })
    )
  })
})

describe('certificate, CRL and CSR parsers', () => {
  it('parse what the CA made, in agreement with node:crypto', () => {
    const p = parseCertificate(cert.pem)
    const node = new X509Certificate(cert.der)
    expect(p.subject.text).toBe('CN=alice, OU=g1, OU=g2')
    expect(p.notBefore).toBe(new Date(node.validFrom).getTime())
    expect(node.serialNumber.toLowerCase()).toContain(p.serial)
    const crl = parseCrl(crlDer)
    expect(crl.revoked.get(cert.serial)?.reason).toBe('superseded')
    expect(crl.number).toBe('01')
    expect(parseCsr(csrDer).subject.commonName).toBe('alice')
  })

  it('throw only typed errors on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        onlyOurErrors(() => parseCertificate(bytes))
        onlyOurErrors(() => parseCrl(bytes))
        onlyOurErrors(() => parseCsr(bytes))
      }),
      { numRuns: 500 }
    )
  })

  it('throw only typed errors on mutated and truncated real objects', () => {
    const mutate = (der: Uint8Array) =>
      fc
        .tuple(fc.nat({ max: der.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: der.length }))
        .map(([i, v, cut]) => {
          const out = Uint8Array.from(der)
          out[i] = v
          return out.subarray(0, Math.max(cut, 1))
        })
    fc.assert(
      fc.property(mutate(cert.der), (bytes) => onlyOurErrors(() => parseCertificate(bytes))),
      { numRuns: 1000 }
    )
    fc.assert(
      fc.property(mutate(crlDer), (bytes) => onlyOurErrors(() => parseCrl(bytes))),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(mutate(csrDer), (bytes) => onlyOurErrors(() => parseCsr(bytes))),
      { numRuns: 500 }
    )
  })

  it('a single changed byte inside the signed part never parses to the same fields silently passing node', () => {
    // Differential: whenever our parser accepts a mutated certificate, OpenSSL parses it too.
    fc.assert(
      fc.property(fc.nat({ max: cert.der.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const out = Uint8Array.from(cert.der)
        out[i] = v
        let ours: boolean
        try {
          parseCertificate(out)
          ours = true
        } catch {
          ours = false
        }
        if (ours) expect(() => new X509Certificate(out)).not.toThrow()
      }),
      { numRuns: 1000 }
    )
  })
})

describe('serials and the CA database', () => {
  it('normalizeSerial accepts hex with colons and leading zeros, and is idempotent', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.boolean(), (bytes, colons) => {
        const hex = Buffer.from(bytes).toString('hex')
        const text = colons ? (hex.match(/../g) as string[]).join(':').toUpperCase() : hex
        const n = normalizeSerial(text)
        expect(normalizeSerial(n)).toBe(n)
        expect(n.length % 2).toBe(0)
        expect(BigInt(`0x${n}`)).toBe(BigInt(`0x${hex}`))
      })
    )
    expect(() => normalizeSerial('xyz')).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => normalizeSerial(5 as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })

  it('parseDatabase throws only ca-database-corrupt on arbitrary JSON', () => {
    fc.assert(fc.property(fc.json(), (text) => onlyOurErrors(() => parseDatabase(text))))
    fc.assert(fc.property(fc.string(), (text) => onlyOurErrors(() => parseDatabase(text))))
  })
})
