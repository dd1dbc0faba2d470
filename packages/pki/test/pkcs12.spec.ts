import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSecureContext } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import { createCertificateAuthority, exportPkcs12 } from '@peerguard/pki'
import { Pkcs12UnsupportedKeyError } from '@peerguard/pki/errors'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pki-p12-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

function opensslInfo(file: string, pass: string): { code: number | null; out: string } {
  const r = spawnSync('/usr/bin/openssl', ['pkcs12', '-in', file, '-passin', `pass:${pass}`, '-nodes', '-info'], {
    encoding: 'utf8'
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('exportPkcs12', () => {
  it('an Ed25519 identity bundle opens in openssl pkcs12 and node:tls (pfx)', async () => {
    const ca = await createCertificateAuthority({ name: 'P12 CA' })
    const id = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: id.publicKey, name: 'alice' })
    const p12 = exportPkcs12({ key: id, chain: [cert.der, ca.certificate], passphrase: 'bundle pass' })
    const file = join(dir, 'alice.p12')
    await writeFile(file, p12)
    const info = opensslInfo(file, 'bundle pass')
    expect(info.code).toBe(0)
    expect(info.out).toContain('MAC: sha256')
    expect(info.out).toContain('PBES2, PBKDF2, AES-256-CBC')
    expect(info.out).toContain('subject=CN = alice')
    expect(info.out).toContain('-----BEGIN PRIVATE KEY-----')
    expect(() => createSecureContext({ pfx: Buffer.from(p12), passphrase: 'bundle pass' })).not.toThrow()
    expect(opensslInfo(file, 'wrong').code).not.toBe(0)
  })

  it('a P-256 certificate key bundles for every target', async () => {
    const ca = await createCertificateAuthority({ name: 'P12 CA', keyType: 'p256' })
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const cert = await ca.issuePeer({
      publicKey: generateKeyPair().publicKey,
      name: 'printer',
      subjectPublicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))
    })
    const key = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }))
    for (const target of ['openssl', 'windows', 'macos', 'java', 'browser'] as const) {
      const p12 = exportPkcs12({ key, chain: cert.chain, passphrase: 'pw', target })
      const file = join(dir, `printer-${target}.p12`)
      await writeFile(file, p12)
      expect(opensslInfo(file, 'pw').code).toBe(0)
    }
  })

  it('refuses Ed25519 for tools that cannot take it, naming the P-256 option', async () => {
    const ca = await createCertificateAuthority({ name: 'P12 CA' })
    const id = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: id.publicKey, name: 'alice' })
    const err = (() => {
      try {
        exportPkcs12({ key: id, chain: [cert.der], passphrase: 'pw', target: 'windows' })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(Pkcs12UnsupportedKeyError)
    expect((err as Pkcs12UnsupportedKeyError).message).toContain('cannot import an Ed25519 key')
    expect(JSON.stringify((err as Pkcs12UnsupportedKeyError).details)).toContain('p256')
  })

  it('refuses a key that is not the leaf key, and bad arguments', async () => {
    const ca = await createCertificateAuthority({ name: 'P12 CA' })
    const cert = await ca.issuePeer({ publicKey: generateKeyPair().publicKey, name: 'alice' })
    const other = generateKeyPair()
    expect(() => exportPkcs12({ key: other, chain: [cert.der], passphrase: 'pw' })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => exportPkcs12({ key: other, chain: [], passphrase: 'pw' })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => exportPkcs12({ key: other, chain: [cert.der], passphrase: '' })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => exportPkcs12({ key: new Uint8Array(5), chain: [cert.der], passphrase: 'x' })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
    expect(() => exportPkcs12({ key: other, chain: [cert.der], passphrase: 'x', target: 'palm' as never })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
  })
})
