import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { generateKeyPair } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import {
  createCertificateAuthority,
  createCsr,
  createTrustStore,
  parseCertificate,
  subjectAltNamesOf,
  verifyPeerChain
} from '@peerguard/pki'
import { checkDnsNames, checkIpAddresses } from '../src/subject-alt-names.js'

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
// pki cannot use @peerguard/test-utils (a dev cycle); under PEERGUARD_REQUIRE_ALL=1 a missing openssl fails like needs() does
const itOpenssl = hasOpenssl || process.env.PEERGUARD_REQUIRE_ALL === '1' ? it : it.skip
if (!hasOpenssl) console.warn('subject-alt-names.spec: openssl not installed; the openssl x509 -text test is skipped')

describe('peer certificates with DNS and IP SANs', () => {
  it('carries them after the peer URI, keeps them on renew, and still verifies as the peer', async () => {
    const ca = await createCertificateAuthority({ name: 'SAN CA' })
    const kp = generateKeyPair()
    const issued = await ca.issuePeer({
      publicKey: kp.publicKey,
      name: 'nas',
      dnsNames: ['LocalHost', 'nas.lan'],
      ipAddresses: ['127.0.0.1', '0:0::1']
    })
    expect(issued.dnsNames).toEqual(['localhost', 'nas.lan'])
    expect(issued.ipAddresses).toEqual(['127.0.0.1', '::1'])
    expect(subjectAltNamesOf(issued.der)).toEqual({ dnsNames: ['localhost', 'nas.lan'], ipAddresses: ['127.0.0.1', '::1'] })
    expect(parseCertificate(issued.der).dnsNames).toEqual(['localhost', 'nas.lan'])
    const trust = createTrustStore({ roots: [ca.certificate], requireCrl: false })
    const verified = await verifyPeerChain(issued.chain, { trust })
    expect(verified.peerId).toBe(issued.peerId)

    const renewed = await ca.renew(issued.der)
    expect(renewed.serial).not.toBe(issued.serial)
    expect(subjectAltNamesOf(renewed.der)).toEqual(subjectAltNamesOf(issued.der))
    expect(renewed.ipAddresses).toEqual(['127.0.0.1', '::1'])

    const plain = await ca.issuePeer({ publicKey: kp.publicKey, name: 'plain' })
    expect(subjectAltNamesOf(plain.der)).toEqual({ dnsNames: [], ipAddresses: [] })
    expect((await ca.renew(plain.der)).dnsNames).toEqual([])
  })

  it('signCsr takes SANs from the operator options only', async () => {
    const ca = await createCertificateAuthority({ name: 'SAN CA' })
    const kp = generateKeyPair()
    const csr = await createCsr({ keyPair: kp, name: 'printer' })
    const issued = await ca.signCsr(csr.der, { dnsNames: ['printer.lan'], ipAddresses: ['10.0.0.7'] })
    expect(subjectAltNamesOf(issued.der)).toEqual({ dnsNames: ['printer.lan'], ipAddresses: ['10.0.0.7'] })
    const none = await ca.signCsr(csr.der)
    expect(subjectAltNamesOf(none.der)).toEqual({ dnsNames: [], ipAddresses: [] })
  })

  it('refuses bad names and addresses with invalid-argument and exact messages', async () => {
    const ca = await createCertificateAuthority({ name: 'SAN CA' })
    const publicKey = generateKeyPair().publicKey
    const cases: [Record<string, unknown>, string][] = [
      [{ dnsNames: 'localhost' }, 'dnsNames: expected an array of strings, got string'],
      [{ dnsNames: [7] }, 'dnsNames[0]: expected string, got number'],
      [{ dnsNames: ['*.lan'] }, 'dnsNames[0]: "*.lan" is a wildcard; name each host instead'],
      [{ dnsNames: ['a..b'] }, 'dnsNames[0]: "a..b" is not a host name'],
      [{ dnsNames: ['-a.lan'] }, 'dnsNames[0]: "-a.lan" is not a host name'],
      [{ dnsNames: ['10.0.0.1'] }, 'dnsNames[0]: "10.0.0.1" is an IP address; give it as an IP address'],
      [{ dnsNames: ['a.lan', 'A.lan'] }, 'dnsNames: "a.lan" appears twice'],
      [{ ipAddresses: ['localhost'] }, 'ipAddresses[0]: "localhost" is not an IPv4 or IPv6 address'],
      [{ ipAddresses: ['fe80::1%eth0'] }, 'ipAddresses[0]: "fe80::1%eth0" is not an IPv4 or IPv6 address'],
      [{ ipAddresses: ['10.0.0.1:80'] }, 'ipAddresses[0]: "10.0.0.1:80" is not an IPv4 or IPv6 address'],
      [{ ipAddresses: ['::1', '0::1'] }, 'ipAddresses: "::1" appears twice'],
      [
        {
          dnsNames: Array.from({ length: 20 }, (_, i) => `h${i}.lan`),
          ipAddresses: Array.from({ length: 20 }, (_, i) => `10.0.0.${i}`)
        },
        'dnsNames, ipAddresses: at most 32 together, got 40'
      ]
    ]
    for (const [extra, message] of cases) {
      const err = await ca.issuePeer({ publicKey, name: 'x', ...extra }).catch((e: unknown) => e)
      expect(isPeerguardError(err) && err.code).toBe('invalid-argument')
      expect((err as Error).message).toContain(message)
    }
    expect(await ca.list()).toEqual([])
  })

  it('property: checkers return normalised lists or throw only invalid-argument', () => {
    const onlyOurs = (f: () => unknown): void => {
      try {
        f()
      } catch (err) {
        expect(isPeerguardError(err) && err.code).toBe('invalid-argument')
      }
    }
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.domain(), fc.string(), fc.ipV4(), fc.ipV6())), (names) => {
        onlyOurs(() => {
          const out = checkDnsNames('d', names)
          for (const n of out) expect(n).toBe(n.toLowerCase())
        })
        onlyOurs(() => {
          const out = checkIpAddresses('i', names)
          // Normalised: checking again changes nothing.
          expect(checkIpAddresses('i', out)).toEqual(out)
        })
      })
    )
    fc.assert(
      fc.property(fc.uniqueArray(fc.ipV4(), { maxLength: 8 }), (ips) => {
        expect(checkIpAddresses('i', ips)).toEqual(ips)
      })
    )
  })

  itOpenssl('openssl x509 -text shows the DNS and IP SANs', async () => {
    const ca = await createCertificateAuthority({ name: 'SAN CA' })
    const issued = await ca.issuePeer({
      publicKey: generateKeyPair().publicKey,
      name: 'nas',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1']
    })
    const dir = await mkdtemp(join(tmpdir(), 'pg-san-'))
    try {
      await writeFile(join(dir, 'nas.pem'), issued.pem)
      const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'nas.pem')], { encoding: 'utf8' })
      expect(text).toMatch(/URI:peerguard:\/\/peer\/[^,\s]+, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/)
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    }
  })
})
