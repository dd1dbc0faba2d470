import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { type CertificateAuthority, createCertificateAuthority, pemDecode, pemEncode } from '@peerguard/pki'
import { CsrBadSignatureError, CsrInvalidError } from '@peerguard/pki/errors'

/**
 * Differential tests against OpenSSL 3 (/usr/bin/openssl), a verifier no one here wrote:
 * `openssl verify` and `peerguard cert verify` (the built binary) must agree, case by case.
 */
const ROOT = join(import.meta.dirname, '..')
const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js')
const OPENSSL = '/usr/bin/openssl'
const DAY = 86_400_000

function newest(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

function openssl(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(OPENSSL, args, { cwd: dir, encoding: 'utf8' })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

function peerguard(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

let dir: string
beforeAll(async () => {
  const sources = Math.max(...['cli', 'pki', 'identity', 'interface'].map((p) => newest(join(ROOT, 'packages', p, 'src'))))
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < sources) {
    // tsc -b emits even when another package has type errors; judge by the binary, not the exit code.
    try {
      execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: ROOT, stdio: 'pipe' })
    } catch (err) {
      if (!existsSync(BIN)) throw err
    }
  }
  dir = await mkdtemp(join(tmpdir(), 'pki-openssl-'))
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

async function write(name: string, text: string): Promise<string> {
  await writeFile(join(dir, name), text)
  return name
}

/** Both verifiers on one case; returns [openssl ok, peerguard exit code, peerguard reason]. */
async function both(opts: { leaf: string; ca: string; untrusted?: string; crl?: string; at?: number }) {
  const o = ['verify', '-CAfile', opts.ca]
  if (opts.untrusted !== undefined) o.push('-untrusted', opts.untrusted)
  if (opts.crl !== undefined) o.push(opts.untrusted !== undefined ? '-crl_check_all' : '-crl_check', '-CRLfile', opts.crl)
  if (opts.at !== undefined) o.push('-attime', String(Math.floor(opts.at / 1000)))
  o.push(opts.leaf)
  const ossl = openssl(o)
  const p = ['cert', 'verify', opts.leaf, '--trust', opts.ca, '--clock-skew', '0', '--json']
  if (opts.untrusted !== undefined) p.push('--chain', opts.untrusted)
  // openssl checks revocation only with -crl_check; peerguard always does unless told not to.
  if (opts.crl !== undefined) p.push('--crl', opts.crl)
  else p.push('--allow-missing-crl')
  if (opts.at !== undefined) p.push('--at', new Date(opts.at).toISOString())
  const pg = peerguard(p)
  const json = JSON.parse(pg.stdout) as { valid: boolean; error?: { code: string } }
  return { openssl: ossl.code === 0, opensslOut: ossl.out, peerguard: pg.code, valid: json.valid, reason: json.error?.code }
}

async function issue(ca: CertificateAuthority, name: string, days?: number): Promise<{ file: string; serial: string }> {
  const c = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name, ...(days === undefined ? {} : { days }) })
  return { file: await write(`${name}.pem`, c.chainPem), serial: c.serial }
}

for (const keyType of ['ed25519', 'p256'] as const) {
  describe(`openssl verify and peerguard cert verify agree (${keyType} CA)`, () => {
    let ca: CertificateAuthority
    let caFile: string
    beforeAll(async () => {
      ca = await createCertificateAuthority({ name: `Interop ${keyType} CA`, keyType })
      caFile = await write(`ca-${keyType}.pem`, ca.certificatePem)
    })

    it('valid', async () => {
      const leaf = await issue(ca, `valid-${keyType}`)
      const r = await both({ leaf: leaf.file, ca: caFile })
      expect(r).toMatchObject({ openssl: true, peerguard: 0, valid: true })
    })

    it('expired', async () => {
      const leaf = await issue(ca, `expired-${keyType}`, 1)
      const r = await both({ leaf: leaf.file, ca: caFile, at: Date.now() + 3 * DAY })
      expect(r.opensslOut).toContain('certificate has expired')
      expect(r).toMatchObject({ openssl: false, peerguard: 1, reason: 'cert-expired' })
    })

    it('not yet valid', async () => {
      const leaf = await issue(ca, `early-${keyType}`)
      const r = await both({ leaf: leaf.file, ca: caFile, at: Date.now() - DAY })
      expect(r).toMatchObject({ openssl: false, peerguard: 1, reason: 'cert-not-yet-valid' })
    })

    it('revoked (and a CRL that openssl crl -verify accepts)', async () => {
      const leaf = await issue(ca, `revoked-${keyType}`)
      const fine = await issue(ca, `fine-${keyType}`)
      await ca.revoke(leaf.serial, 'keyCompromise')
      const crl = await ca.crl()
      const crlFile = await write(`crl-${keyType}.pem`, crl.pem)
      const check = openssl(['crl', '-in', crlFile, '-CAfile', caFile, '-noout', '-text'])
      expect(check.out).toContain('verify OK')
      expect(check.out).toMatch(/X509v3 CRL Number:\s*\n\s*\d+/)
      expect(check.out).toContain(leaf.serial.toUpperCase())
      expect(check.out).toContain('Key Compromise')
      expect(await both({ leaf: leaf.file, ca: caFile, crl: crlFile })).toMatchObject({
        openssl: false,
        peerguard: 1,
        reason: 'cert-revoked'
      })
      expect(await both({ leaf: fine.file, ca: caFile, crl: crlFile })).toMatchObject({
        openssl: true,
        peerguard: 0,
        valid: true
      })
    })

    it('wrong CA (even with the same name)', async () => {
      const leaf = await issue(ca, `wrongca-${keyType}`)
      const twin = await createCertificateAuthority({ name: `Interop ${keyType} CA`, keyType })
      const other = await write(`twin-${keyType}.pem`, twin.certificatePem)
      const r = await both({ leaf: leaf.file, ca: other })
      expect(r).toMatchObject({ openssl: false, peerguard: 1, reason: 'cert-unknown-issuer' })
    })

    it('a CRL signed by the wrong key is refused by both', async () => {
      const leaf = await issue(ca, `forgedcrl-${keyType}`)
      const twin = await createCertificateAuthority({ name: `Interop ${keyType} CA`, keyType })
      const forged = await write(`forged-crl-${keyType}.pem`, (await twin.crl()).pem)
      const r = await both({ leaf: leaf.file, ca: caFile, crl: forged })
      expect(r.openssl).toBe(false)
      expect(r).toMatchObject({ peerguard: 1, reason: 'crl-bad-signature' })
    })

    it('intermediate chain, and its revocation at the root', async () => {
      const inter = await ca.issueIntermediate({ name: `Issuing ${keyType}` })
      const interFile = await write(`inter-${keyType}.pem`, inter.certificatePem)
      const c = await inter.issuePeer({ publicKey: generateKeyPair().publicKey, name: `chained-${keyType}` })
      const leafFile = await write(`chained-${keyType}.pem`, c.pem)
      expect(await both({ leaf: leafFile, ca: caFile, untrusted: interFile })).toMatchObject({
        openssl: true,
        peerguard: 0,
        valid: true
      })
      // the leaf alone (no intermediate) is unknown to both
      expect(await both({ leaf: leafFile, ca: caFile })).toMatchObject({
        openssl: false,
        peerguard: 1,
        reason: 'cert-unknown-issuer'
      })
      // with only the root's CRL, both refuse: the intermediate's revocation status is unknown
      const rootOnly = await write(`root-crl-${keyType}.pem`, (await ca.crl()).pem)
      const unknown = await both({ leaf: leafFile, ca: caFile, untrusted: interFile, crl: rootOnly })
      expect(unknown.opensslOut).toContain('unable to get certificate CRL')
      expect(unknown).toMatchObject({ openssl: false, peerguard: 1, reason: 'crl-missing' })
      // CRLs at both levels: valid for both
      const interCrl = (await inter.crl()).pem
      const bothCrls = await write(`both-crls-${keyType}.pem`, (await ca.crl()).pem + interCrl)
      expect(await both({ leaf: leafFile, ca: caFile, untrusted: interFile, crl: bothCrls })).toMatchObject({
        openssl: true,
        peerguard: 0,
        valid: true
      })
      // the intermediate revoked at the root
      await ca.revoke(inter.certificate, 'cACompromise')
      const crls = await write(`crls-${keyType}.pem`, (await ca.crl()).pem + interCrl)
      const r = await both({ leaf: leafFile, ca: caFile, untrusted: interFile, crl: crls })
      expect(r).toMatchObject({ openssl: false, peerguard: 1, reason: 'cert-revoked' })
    })

    it('openssl x509 -text shows the peer ID SAN and the usages', async () => {
      const id = generateKeyPair()
      const c = await ca.issuePeer({ publicKey: id.publicKey, name: 'shown', groups: ['family'] })
      const f = await write(`shown-${keyType}.pem`, c.pem)
      const text = openssl(['x509', '-in', f, '-noout', '-text']).out
      expect(text).toContain(`URI:peerguard://peer/${peerIdFromPublicKey(id.publicKey).toString()}`)
      expect(text).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature/)
      expect(text).toContain('TLS Web Client Authentication, TLS Web Server Authentication')
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s*\n\s*CA:FALSE/)
      expect(text).toContain('Subject: CN = shown, OU = family')
      const caText = openssl(['x509', '-in', caFile, '-noout', '-text']).out
      expect(caText).toMatch(/CA:TRUE, pathlen:1/)
      expect(caText).toMatch(/Certificate Sign, CRL Sign/)
      expect(openssl(['x509', '-in', f, '-noout', '-purpose']).out).toMatch(/SSL client : Yes[\s\S]*SSL server : Yes/)
    })
  })
}

describe('CSRs made by openssl req with an Ed25519 key', () => {
  it('a valid CSR is signed; its CN and key are kept; a SAN naming another peer is refused', async () => {
    const ca = await createCertificateAuthority({ name: 'CSR CA' })
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'dave.key'])
    const pub = execFileSync(OPENSSL, ['pkey', '-in', 'dave.key', '-pubout', '-outform', 'DER'], { cwd: dir })
    const peerId = peerIdFromPublicKey(new Uint8Array(pub.subarray(pub.length - 32))).toString()
    expect(
      openssl([
        'req',
        '-new',
        '-key',
        'dave.key',
        '-subj',
        '/CN=dave',
        '-addext',
        `subjectAltName=URI:peerguard://peer/${peerId}`,
        '-out',
        'dave.csr'
      ]).code
    ).toBe(0)
    const issued = await ca.signCsr(await readFile(join(dir, 'dave.csr'), 'utf8'), { name: 'dave', groups: ['guests'] })
    expect(issued.peerId).toBe(peerId)
    expect(issued.name).toBe('dave')
    // and openssl agrees the certificate is good
    await write('csr-ca.pem', ca.certificatePem)
    await write('dave.pem', issued.pem)
    expect(openssl(['verify', '-CAfile', 'csr-ca.pem', 'dave.pem']).code).toBe(0)
    // operator approved another name
    await expect(ca.signCsr(await readFile(join(dir, 'dave.csr'), 'utf8'), { name: 'root' })).rejects.toThrow(CsrInvalidError)
    // SAN names somebody else's peer ID
    const other = peerIdFromPublicKey(generateKeyPair().publicKey).toString()
    openssl([
      'req',
      '-new',
      '-key',
      'dave.key',
      '-subj',
      '/CN=dave',
      '-addext',
      `subjectAltName=URI:peerguard://peer/${other}`,
      '-out',
      'liar.csr'
    ])
    await expect(ca.signCsr(await readFile(join(dir, 'liar.csr'), 'utf8'))).rejects.toMatchObject({ code: 'csr-invalid' })
  })

  it('a CSR with a broken self-signature is refused with csr-bad-signature', async () => {
    const ca = await createCertificateAuthority({ name: 'CSR CA' })
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'erin.key'])
    openssl(['req', '-new', '-key', 'erin.key', '-subj', '/CN=erin', '-out', 'erin.csr'])
    const der = pemDecode(await readFile(join(dir, 'erin.csr'), 'utf8'), 'CERTIFICATE REQUEST')
    const broken = Uint8Array.from(der)
    broken[broken.length - 1] = (broken[broken.length - 1] as number) ^ 0x01
    const brokenPem = pemEncode(broken, 'CERTIFICATE REQUEST')
    await write('broken.csr', brokenPem)
    // openssl agrees it is broken
    expect(openssl(['req', '-in', 'broken.csr', '-verify', '-noout']).out).toMatch(/verify failure|did not match/i)
    await expect(ca.signCsr(brokenPem, { name: 'erin' })).rejects.toThrow(CsrBadSignatureError)
    // and through the CLI: exit 3, the code printed, nothing changes in the CA directory
    expect(peerguard(['ca', 'init', '--dir', 'csr-ca', '--name', 'CSR CA']).code).toBe(0)
    const before = await readFile(join(dir, 'csr-ca', 'ca.db.json'), 'utf8')
    const r = peerguard(['ca', 'issue', '--ca', 'csr-ca', '--csr', 'broken.csr', '--name', 'erin', '--out', 'erin.pem', '--json'])
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'csr-bad-signature' } })
    expect(r.stderr).toContain('self-signature does not verify')
    expect(await readFile(join(dir, 'csr-ca', 'ca.db.json'), 'utf8')).toBe(before)
    expect(existsSync(join(dir, 'erin.pem'))).toBe(false)
    // the unbroken CSR goes through the CLI
    const ok = peerguard(['ca', 'issue', '--ca', 'csr-ca', '--csr', 'erin.csr', '--out', 'erin.pem', '--json'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'erin' })
  })
})
