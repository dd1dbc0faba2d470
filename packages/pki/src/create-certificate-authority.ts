import { randomBytes } from 'node:crypto'
import { assertInteger, InvalidArgumentError, systemClock } from '@peerguard/interface'
import { canonicalSerialHex, floorSeconds, keyIdentifier, serialContentHex } from './ca-encoding.js'
import { BACKDATE_MS, type CreateCertificateAuthorityOptions, DEFAULT_ROOT_DAYS, SERIAL_BYTES } from './ca-options.js'
import { memoryCaStore } from './ca-store.js'
import { CertificateAuthority } from './certificate-authority.js'
import { parseCertificate } from './certificate.js'
import { checkCrlUrls } from './distribution-points.js'
import { assertKeyType, entrySpki, generateCaKey, webSigningAlgorithm, webSigningKey } from './keys.js'
import { assertName, checkDays } from './names.js'
import { x509 } from './x509.js'

/** Create a new root CA with a fresh key. */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<CertificateAuthority> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  assertName('name', options.name)
  const keyType = options.keyType ?? 'ed25519'
  assertKeyType('keyType', keyType)
  const days = checkDays('days', options.days, DEFAULT_ROOT_DAYS, 36500)
  const pathLen = options.pathLen ?? 1
  assertInteger('pathLen', pathLen, 0, 8)
  const crlUrls =
    options.crlDistributionPoints === undefined ? undefined : checkCrlUrls('crlDistributionPoints', options.crlDistributionPoints)
  const clock = options.clock ?? systemClock
  const keyEntry = generateCaKey(keyType, options.name)
  const spki = entrySpki(keyEntry)
  const ski = keyIdentifier(spki)
  const now = floorSeconds(clock.now())
  const signingKey = await webSigningKey(keyEntry)
  const created = await x509.X509CertificateGenerator.create({
    serialNumber: serialContentHex(canonicalSerialHex(`01${randomBytes(SERIAL_BYTES).toString('hex')}`)),
    subject: [{ CN: [options.name] }],
    issuer: [{ CN: [options.name] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * 86_400_000),
    publicKey: Uint8Array.from(spki),
    signingKey,
    signingAlgorithm: webSigningAlgorithm(keyType),
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLen, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(ski)
    ]
  })
  const parsed = parseCertificate(new Uint8Array(created.rawData))
  const ca = CertificateAuthority._create(parsed, keyEntry, [], clock, options.store ?? memoryCaStore())
  if (crlUrls !== undefined && crlUrls.length > 0) await ca.setCrlDistributionPoints(crlUrls)
  return ca
}
