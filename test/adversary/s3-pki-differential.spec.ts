/**
 * Attacker's review round 3: a CA of our own crafts certificates and CRLs the peerguard CA would
 * never issue, and `verifyPeerChainSync` must refuse every one that real OpenSSL
 * (`openssl verify -x509_strict -purpose sslclient -crl_check_all`) refuses. Where peerguard is
 * stricter (a byte-exact name match, a CRL without nextUpdate), the case says so; the one
 * direction that may never happen is peerguard accepting what OpenSSL refuses.
 */
import 'reflect-metadata'
import { spawnSync } from 'node:child_process'
import { webcrypto } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import * as x509 from '@peculiar/x509'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { createTrustStore, verifyPeerChainSync } from '@peerguard/pki'
import { needs } from '@peerguard/test-utils'

const wc = webcrypto
const DAY = 86_400_000
/** A fixed "now", whole seconds, so OpenSSL's -attime and our clock agree exactly. */
const NOW = Date.UTC(2031, 4, 6, 12, 0, 0)
const ED = { name: 'Ed25519' } as const

type Key = webcrypto.CryptoKeyPair
interface Ca {
  name: string
  key: Key
  der: Uint8Array
}

async function newKey(): Promise<Key> {
  return (await wc.subtle.generateKey(ED, true, ['sign', 'verify'])) as Key
}

async function skiOf(key: Key): Promise<x509.SubjectKeyIdentifierExtension> {
  return x509.SubjectKeyIdentifierExtension.create(key.publicKey, false, wc)
}

async function akiOf(key: Key): Promise<x509.AuthorityKeyIdentifierExtension> {
  return x509.AuthorityKeyIdentifierExtension.create(key.publicKey, false, wc)
}

interface CertOptions {
  subject: string
  issuer: Ca | { name: string; key: Key }
  key: Key | Uint8Array
  ca?: boolean
  pathLen?: number
  keyUsage?: number
  eku?: string[]
  uris?: string[]
  notBefore?: number
  notAfter?: number
  serial?: string
  extra?: x509.Extension[]
  aki?: boolean
  /** The issuer name as written into the certificate, when not the issuer's own name text. */
  issuerName?: x509.Name
}

const CA_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2'
const EKU_SERVER = '1.3.6.1.5.5.7.3.1'

async function cert(o: CertOptions): Promise<Uint8Array> {
  const extensions: x509.Extension[] = []
  if (o.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(o.ca, o.pathLen, true))
  if (o.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(o.keyUsage, true))
  if (o.eku !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku))
  if (o.uris !== undefined)
    extensions.push(new x509.SubjectAlternativeNameExtension(o.uris.map((u) => ({ type: 'url' as const, value: u }))))
  if (!(o.key instanceof Uint8Array)) extensions.push(await skiOf(o.key))
  if (o.aki !== false) extensions.push(await akiOf(o.issuer.key))
  extensions.push(...(o.extra ?? []))
  const c = await x509.X509CertificateGenerator.create(
    {
      serialNumber: o.serial ?? '0a0b0c',
      subject: o.subject,
      issuer: o.issuerName ?? o.issuer.name,
      notBefore: new Date(o.notBefore ?? NOW - DAY),
      notAfter: new Date(o.notAfter ?? NOW + 30 * DAY),
      publicKey: o.key instanceof Uint8Array ? Uint8Array.from(o.key) : o.key.publicKey,
      signingKey: o.issuer.key.privateKey,
      signingAlgorithm: ED,
      extensions
    },
    wc
  )
  return new Uint8Array(c.rawData)
}

async function caCert(name: string, issuer: Ca | undefined, extra: Partial<CertOptions> = {}): Promise<Ca> {
  const key = await newKey()
  const der = await cert({ subject: name, issuer: issuer ?? { name, key }, key, ca: true, keyUsage: CA_USAGE, ...extra })
  return { name, key, der }
}

interface CrlOptions {
  revoked?: string[]
  thisUpdate?: number
  nextUpdate?: number | null
  extra?: x509.Extension[]
  name?: string
}

async function crl(issuer: Ca, o: CrlOptions = {}): Promise<Uint8Array> {
  const c = await x509.X509CrlGenerator.create(
    {
      issuer: o.name ?? issuer.name,
      thisUpdate: new Date(o.thisUpdate ?? NOW - DAY),
      ...(o.nextUpdate === null ? {} : { nextUpdate: new Date(o.nextUpdate ?? NOW + 7 * DAY) }),
      entries: (o.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: new Date(NOW - 2 * DAY) })),
      signingKey: issuer.key.privateKey,
      signingAlgorithm: ED,
      extensions: [
        await akiOf(issuer.key),
        new x509.Extension('2.5.29.20', false, Uint8Array.from([2, 1, 1])),
        ...(o.extra ?? [])
      ]
    },
    wc
  )
  return new Uint8Array(c.rawData)
}

function pem(der: Uint8Array, label: string): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

interface Case {
  chain: Uint8Array[]
  roots: Uint8Array[]
  crls: Uint8Array[]
  at?: number
}

let dir: string
let n = 0

/** OpenSSL's verdict: 'ok' or its error line (`error 24 at 1 depth lookup: invalid CA certificate`). */
function openssl(c: Case): string {
  const d = join(dir, String(n++))
  const write = (name: string, text: string): string => {
    writeFileSync(`${d}-${name}`, text)
    return `${d}-${name}`
  }
  const args = ['verify', '-x509_strict', '-purpose', 'sslclient', '-attime', String((c.at ?? NOW) / 1000)]
  args.push('-CAfile', write('roots.pem', c.roots.map((r) => pem(r, 'CERTIFICATE')).join('')))
  if (c.chain.length > 1)
    args.push(
      '-untrusted',
      write(
        'chain.pem',
        c.chain
          .slice(1)
          .map((r) => pem(r, 'CERTIFICATE'))
          .join('')
      )
    )
  if (c.crls.length > 0)
    args.push('-crl_check_all', '-CRLfile', write('crls.pem', c.crls.map((r) => pem(r, 'X509 CRL')).join('')))
  args.push(write('leaf.pem', pem(c.chain[0] as Uint8Array, 'CERTIFICATE')))
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  if (r.status === 0) return 'ok'
  return (`${r.stdout}${r.stderr}`.match(/error \d+ at \d+ depth lookup: [^\n]*/) ?? [`exit ${r.status}`])[0]
}

/** peerguard's verdict: 'ok' or the error code. */
function peerguard(c: Case): string {
  try {
    const trust = createTrustStore({ roots: c.roots, crls: c.crls, clock: { now: () => c.at ?? NOW }, clockSkewMs: 0 })
    verifyPeerChainSync(c.chain, { trust, purpose: 'clientAuth', cache: false })
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded ${(err as Error).name}`
  }
}

let root: Ca
let leafKey: Uint8Array
let uri: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's3-pki-'))
  root = await caCert('CN=S3 Root', undefined)
  leafKey = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), generateKeyPair().publicKey])
  const pk = leafKey.subarray(12)
  uri = `peerguard://peer/${peerIdFromPublicKey(pk).toString()}`
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }))

function leafOf(issuer: Ca, extra: Partial<CertOptions> = {}): Promise<Uint8Array> {
  return cert({
    subject: 'CN=alice, OU=staff',
    issuer,
    key: leafKey,
    keyUsage: x509.KeyUsageFlags.digitalSignature,
    eku: ['1.3.6.1.5.5.7.3.2'],
    uris: [uri],
    serial: '1234',
    ...extra
  })
}

const E = (oid: string, critical: boolean, hex: string): x509.Extension =>
  new x509.Extension(oid, critical, Buffer.from(hex, 'hex'))

/** nameConstraints permitting only URIs under .example.com (RFC 5280 §4.2.1.10). */
function permittedUriHost(host: string): string {
  const h = Buffer.from(host).toString('hex')
  const hex = (k: number): string => k.toString(16).padStart(2, '0')
  const subtree = `30${hex(2 + host.length)}86${hex(host.length)}${h}`
  return `30${hex(subtree.length / 2 + 2)}a0${hex(subtree.length / 2)}${subtree}`
}

/** A CA below the root with its own current CRL, and a case for a peer below it. */
async function below(extra: Partial<CertOptions>, leafExtra: Partial<CertOptions> = {}): Promise<Case> {
  const ca = await caCert(`CN=S3 CA ${n++}`, root, extra)
  return { roots: [root.der], crls: [await crl(root), await crl(ca)], chain: [await leafOf(ca, leafExtra), ca.der] }
}

/** A peer straight under the root, the root's CRL given by `rootCrl`. */
async function direct(leafExtra: Partial<CertOptions> = {}, rootCrl?: CrlOptions): Promise<Case> {
  return { roots: [root.der], crls: [await crl(root, rootCrl)], chain: [await leafOf(root, leafExtra)] }
}

interface Row {
  name: string
  build: () => Promise<Case>
  /** peerguard's verdict: 'ok' or the error code. */
  peerguard: string
  openssl: 'ok' | 'refused'
  /** Why peerguard may accept what OpenSSL refuses here (never a security property). */
  why?: string
}

const ROWS: Row[] = [
  { name: 'a valid peer under the root', build: () => direct(), peerguard: 'ok', openssl: 'ok' },
  { name: 'a valid peer under an intermediate', build: () => below({}), peerguard: 'ok', openssl: 'ok' },
  // basicConstraints, pathLen
  {
    name: 'a leaf used as a CA',
    build: () => below({ ca: undefined, keyUsage: x509.KeyUsageFlags.digitalSignature | CA_USAGE, eku: [EKU_CLIENT] }),
    peerguard: 'cert-not-a-ca',
    openssl: 'refused'
  },
  {
    name: 'an intermediate without basicConstraints',
    build: () => below({ ca: undefined }),
    peerguard: 'cert-not-a-ca',
    openssl: 'refused'
  },
  {
    name: 'an intermediate below a pathLen 0 root',
    build: async () => {
      const r = await caCert('CN=S3 pathLen 0 root', undefined, { pathLen: 0 })
      const i = await caCert('CN=S3 under pathLen 0', r)
      return { roots: [r.der], crls: [await crl(r), await crl(i)], chain: [await leafOf(i), i.der] }
    },
    peerguard: 'cert-path-too-long',
    openssl: 'refused'
  },
  {
    name: 'an intermediate below a pathLen 0 intermediate',
    build: async () => {
      const i0 = await caCert('CN=S3 i0', root, { pathLen: 0 })
      const i1 = await caCert('CN=S3 i1', i0)
      return {
        roots: [root.der],
        crls: [await crl(root), await crl(i0), await crl(i1)],
        chain: [await leafOf(i1), i1.der, i0.der]
      }
    },
    peerguard: 'cert-path-too-long',
    openssl: 'refused'
  },
  { name: 'a peer right below a pathLen 0 intermediate', build: () => below({ pathLen: 0 }), peerguard: 'ok', openssl: 'ok' },
  // keyUsage, extendedKeyUsage
  {
    name: 'an intermediate without keyCertSign',
    build: () => below({ keyUsage: x509.KeyUsageFlags.cRLSign }),
    peerguard: 'cert-wrong-usage',
    openssl: 'refused'
  },
  {
    name: 'a leaf with keyEncipherment only',
    build: () => direct({ keyUsage: x509.KeyUsageFlags.keyEncipherment }),
    peerguard: 'cert-wrong-usage',
    openssl: 'refused'
  },
  {
    name: 'a serverAuth-only leaf as a client',
    build: () => direct({ eku: [EKU_SERVER] }),
    peerguard: 'cert-wrong-usage',
    openssl: 'refused'
  },
  {
    name: 'a codeSigning leaf',
    build: () => direct({ eku: ['1.3.6.1.5.5.7.3.3'] }),
    peerguard: 'cert-wrong-usage',
    openssl: 'refused'
  },
  {
    name: 'an intermediate limited to serverAuth',
    build: () => below({ eku: [EKU_SERVER] }),
    peerguard: 'cert-wrong-usage',
    openssl: 'refused'
  },
  // extensions
  {
    name: 'a leaf with an unknown critical extension',
    build: () => direct({ extra: [E('1.2.3.4', true, '0500')] }),
    peerguard: 'cert-unknown-critical-extension',
    openssl: 'refused'
  },
  {
    name: 'a leaf with an unknown non-critical extension',
    build: () => direct({ extra: [E('1.2.3.4', false, '0500')] }),
    peerguard: 'ok',
    openssl: 'ok'
  },
  {
    name: 'an intermediate with critical nameConstraints the peer is outside of',
    build: () => below({ extra: [E('2.5.29.30', true, permittedUriHost('.example.com'))] }),
    peerguard: 'cert-unknown-critical-extension',
    openssl: 'refused'
  },
  {
    // finding s3-1: peerguard accepted this chain (nameConstraints was ignored when non-critical)
    name: 'an intermediate with NON-critical nameConstraints the peer is outside of',
    build: () => below({ extra: [E('2.5.29.30', false, permittedUriHost('.example.com'))] }),
    peerguard: 'cert-unknown-critical-extension',
    openssl: 'refused'
  },
  {
    name: 'an intermediate with critical policyConstraints (peerguard stricter)',
    build: () => below({ extra: [E('2.5.29.36', true, '3003800100')] }),
    peerguard: 'cert-unknown-critical-extension',
    openssl: 'ok'
  },
  // validity
  {
    name: 'notBefore one second ahead',
    build: () => direct({ notBefore: NOW + 1000 }),
    peerguard: 'cert-not-yet-valid',
    openssl: 'refused'
  },
  { name: 'notBefore exactly now', build: () => direct({ notBefore: NOW }), peerguard: 'ok', openssl: 'ok' },
  {
    name: 'notAfter exactly now',
    build: () => direct({ notAfter: NOW }),
    peerguard: 'ok',
    openssl: 'refused',
    why: 'RFC 5280 §4.1.2.5: the validity period includes notAfter; OpenSSL ends it one second early'
  },
  {
    name: 'notAfter one second ago',
    build: () => direct({ notAfter: NOW - 1000 }),
    peerguard: 'cert-expired',
    openssl: 'refused'
  },
  {
    name: 'notAfter in 2050 (GeneralizedTime)',
    build: () => direct({ notAfter: Date.UTC(2050, 0, 1) }),
    peerguard: 'ok',
    openssl: 'ok'
  },
  {
    name: 'notAfter 2049-12-31T23:59:59Z (last UTCTime)',
    build: () => direct({ notAfter: Date.UTC(2049, 11, 31, 23, 59, 59) }),
    peerguard: 'ok',
    openssl: 'ok'
  },
  {
    name: 'notAfter before notBefore',
    build: () => direct({ notAfter: NOW - 2 * DAY }),
    peerguard: 'cert-expired',
    openssl: 'refused'
  },
  {
    name: 'an expired root',
    build: async () => {
      const r = await caCert('CN=S3 expired root', undefined, { notAfter: NOW - 1000 })
      return { roots: [r.der], crls: [await crl(r)], chain: [await leafOf(r)] }
    },
    peerguard: 'cert-expired',
    openssl: 'refused'
  },
  {
    name: 'an expired intermediate',
    build: () => below({ notAfter: NOW - 1000 }),
    peerguard: 'cert-expired',
    openssl: 'refused'
  },
  {
    name: 'a duplicate extension (two extKeyUsage)',
    build: () => direct({ extra: [new x509.ExtendedKeyUsageExtension([EKU_CLIENT])] }),
    peerguard: 'cert-malformed',
    openssl: 'refused'
  },
  {
    name: "the issuer's name as UTF8String, the root's as PrintableString (peerguard matches bytes, stricter)",
    build: () => direct({ issuerName: new x509.Name([{ '2.5.4.3': [{ utf8String: 'S3 Root' }] }]) }),
    peerguard: 'cert-unknown-issuer',
    openssl: 'ok'
  },
  // key identifiers, serials
  {
    name: "a leaf whose AKI is another key's",
    build: async () => direct({ aki: false, extra: [await akiOf(await newKey())] }),
    peerguard: 'cert-unknown-issuer',
    openssl: 'refused'
  },
  {
    name: 'a leaf without AKI',
    build: () => direct({ aki: false }),
    peerguard: 'ok',
    openssl: 'refused',
    why: 'only -x509_strict requires an AKI; the signature still binds the issuer'
  },
  { name: 'serial 0', build: () => direct({ serial: '00' }), peerguard: 'ok', openssl: 'ok' },
  {
    name: 'a 20-byte serial with the high bit set (21 octets)',
    build: () => direct({ serial: 'ff'.repeat(20) }),
    peerguard: 'ok',
    openssl: 'ok'
  },
  {
    name: 'a trust anchor that is not self-signed',
    build: async () => {
      const top = await caCert('CN=S3 top', undefined)
      const sub = await caCert('CN=S3 configured anchor', top)
      return { roots: [sub.der], crls: [await crl(sub)], chain: [await leafOf(sub)] }
    },
    peerguard: 'ok',
    openssl: 'refused',
    why: 'an anchor is trusted by configuration (RFC 5280 §6.1.1 (d)); OpenSSL needs -partial_chain for that'
  },
  {
    name: 'two CAs that issued each other (a loop)',
    build: async () => {
      const a = { name: 'CN=S3 loop A', key: await newKey(), der: new Uint8Array() as Uint8Array }
      const b = { name: 'CN=S3 loop B', key: await newKey(), der: new Uint8Array() as Uint8Array }
      a.der = await cert({ subject: a.name, issuer: b, key: a.key, ca: true, keyUsage: CA_USAGE })
      b.der = await cert({ subject: b.name, issuer: a, key: b.key, ca: true, keyUsage: CA_USAGE })
      return { roots: [root.der], crls: [await crl(root)], chain: [await leafOf(a), a.der, b.der] }
    },
    peerguard: 'cert-unknown-issuer',
    openssl: 'refused'
  },
  {
    name: 'eight intermediates (peerguard stops at 8 certificates before the root)',
    build: async () => {
      let top = root
      const inters: Ca[] = []
      const crls = [await crl(root)]
      for (let i = 0; i < 8; i++) {
        top = await caCert(`CN=S3 deep ${i}`, top)
        inters.unshift(top)
        crls.push(await crl(top))
      }
      return { roots: [root.der], crls, chain: [await leafOf(top), ...inters.map((c) => c.der)] }
    },
    peerguard: 'cert-path-too-long',
    openssl: 'ok'
  },
  // CRLs
  { name: 'a revoked peer', build: () => direct({}, { revoked: ['1234'] }), peerguard: 'cert-revoked', openssl: 'refused' },
  {
    name: 'a CRL entry with a non-minimal serial (00 12 34)',
    build: () => direct({}, { revoked: ['001234'] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  },
  {
    name: 'a revoked intermediate',
    build: async () => ({ ...(await below({ serial: '5151' })), crls: [await crl(root, { revoked: ['5151'] })] }),
    peerguard: 'cert-revoked',
    openssl: 'refused'
  },
  {
    name: "only another CA's CRL",
    build: async () => ({ ...(await direct()), crls: [await crl(await caCert('CN=S3 elsewhere', root))] }),
    peerguard: 'crl-missing',
    openssl: 'refused'
  },
  {
    name: 'an expired CRL',
    build: () => direct({}, { thisUpdate: NOW - 9 * DAY, nextUpdate: NOW - DAY }),
    peerguard: 'crl-stale',
    openssl: 'refused'
  },
  {
    name: 'a CRL without nextUpdate (peerguard stricter)',
    build: () => direct({}, { nextUpdate: null }),
    peerguard: 'crl-stale',
    openssl: 'ok'
  },
  {
    name: 'a CRL from the future',
    build: () => direct({}, { thisUpdate: NOW + DAY, nextUpdate: NOW + 3 * DAY }),
    peerguard: 'crl-stale',
    openssl: 'refused'
  },
  {
    name: 'a CRL whose signature is bad',
    build: async () => {
      const c = await direct()
      const signed = c.crls[0] as Uint8Array
      signed[signed.length - 3] = (signed[signed.length - 3] as number) ^ 1
      return c
    },
    peerguard: 'crl-bad-signature',
    openssl: 'refused'
  },
  {
    name: "a CRL under the root's name signed by an intermediate",
    build: async () => ({ ...(await direct()), crls: [await crl(await caCert('CN=S3 signer', root), { name: root.name })] }),
    peerguard: 'crl-bad-signature',
    openssl: 'refused'
  },
  {
    name: 'a delta CRL (critical deltaCRLIndicator)',
    build: () => direct({}, { extra: [E('2.5.29.27', true, '020101')] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  },
  {
    // finding s3-2: peerguard used a delta CRL as complete when the indicator was not marked critical
    name: 'a delta CRL with a NON-critical deltaCRLIndicator',
    build: () => direct({}, { extra: [E('2.5.29.27', false, '020101')] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  },
  {
    name: 'an indirect CRL (critical issuingDistributionPoint)',
    build: () => direct({}, { extra: [E('2.5.29.28', true, '30038401ff')] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  },
  {
    name: 'a CA-only CRL (critical issuingDistributionPoint) for a peer',
    build: () => direct({}, { extra: [E('2.5.29.28', true, '30038201ff')] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  },
  {
    // finding s3-2: a CRL that lists only CA certificates was read as complete for a peer
    name: 'a CA-only CRL with a NON-critical issuingDistributionPoint, for a peer',
    build: () => direct({}, { extra: [E('2.5.29.28', false, '30038201ff')] }),
    peerguard: 'crl-malformed',
    openssl: 'refused'
  }
]

const hasOpenssl = needs(['openssl'], 's3 differential: openssl verify')

hasOpenssl.describe('s3: crafted certificates, peerguard against openssl verify -x509_strict -crl_check_all', () => {
  for (const row of ROWS) {
    it(row.name, async () => {
      const c = await row.build()
      const verdict = { peerguard: peerguard(c), openssl: openssl(c) === 'ok' ? 'ok' : 'refused' }
      expect(verdict).toEqual({ peerguard: row.peerguard, openssl: row.openssl })
      // the one direction that must never happen, unless the row says why it is no security property
      if (verdict.peerguard === 'ok' && verdict.openssl !== 'ok') expect(row.why).toEqual(expect.any(String))
    }, 60_000)
  }
})
