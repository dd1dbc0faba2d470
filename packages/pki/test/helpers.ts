import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { type KeyPair, peerIdFromPublicKey } from '@peerguard/identity'

/** Test-only: craft certificates the CA would never issue, with @peculiar/x509 and an explicit provider. */
export const wc = webcrypto

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

export async function webKeyOf(keyPair: KeyPair): Promise<webcrypto.CryptoKey> {
  return wc.subtle.importKey(
    'pkcs8',
    Buffer.concat([PKCS8_ED25519, keyPair.secretKey.subarray(0, 32)]),
    { name: 'Ed25519' },
    false,
    ['sign']
  )
}

export function spkiOf(publicKey: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey])
}

export interface CraftOptions {
  subject: string
  issuer: string
  subjectKey: Uint8Array // SPKI
  signer: webcrypto.CryptoKey
  signingAlgorithm?: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams
  notBefore?: Date
  notAfter?: Date
  ca?: boolean
  pathLen?: number
  keyUsage?: number
  eku?: string[]
  uris?: string[]
  extraExtensions?: x509.Extension[]
  serial?: string
}

export async function craft(o: CraftOptions): Promise<Uint8Array> {
  const extensions: x509.Extension[] = []
  if (o.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(o.ca, o.pathLen, true))
  if (o.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(o.keyUsage, true))
  if (o.eku !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku))
  if (o.uris !== undefined)
    extensions.push(new x509.SubjectAlternativeNameExtension(o.uris.map((u) => ({ type: 'url' as const, value: u }))))
  extensions.push(...(o.extraExtensions ?? []))
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: o.serial ?? '0a0b0c',
      subject: o.subject,
      issuer: o.issuer,
      notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
      notAfter: o.notAfter ?? new Date(Date.now() + 86_400_000),
      publicKey: Uint8Array.from(o.subjectKey),
      signingKey: o.signer,
      signingAlgorithm: o.signingAlgorithm ?? { name: 'Ed25519' },
      extensions
    },
    wc
  )
  return new Uint8Array(cert.rawData)
}

export function peerUriOf(keyPair: KeyPair): string {
  return `peerguard://peer/${peerIdFromPublicKey(keyPair.publicKey).toString()}`
}

export { x509 }

/** A clock tests move by hand. */
export function manualClock(start = Date.now()): { now(): number; set(ms: number): void; advance(ms: number): void } {
  let t = start
  return {
    now: () => t,
    set: (ms) => {
      t = ms
    },
    advance: (ms) => {
      t += ms
    }
  }
}

export const DAY = 86_400_000
