import { type KeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import { bitStringBytes, contents, DerError, DerReader, oidKey, smallInteger, TAG } from './der.js'
import { CsrBadSignatureError, CsrMalformedError } from './errors.js'
import { OID, type ParsedName, type ParsedPublicKey, readName, readPublicKeyInfo, readSignatureAlgorithm } from './fields.js'
import { webSigningKey } from './keys.js'
import { assertName } from './names.js'
import { peerUri } from './peer-uri.js'
import { pemEncode, toDer } from './pem.js'
import { publicKeyObject, verifySignature } from './signature.js'
import { x509 } from './x509.js'

/** A PKCS#10 request (RFC 2986) whose self-signature has been checked. */
export interface ParsedCsr {
  readonly der: Uint8Array
  readonly subject: ParsedName
  readonly publicKey: ParsedPublicKey
  /** URIs of a subjectAltName in the extensionRequest attribute (RFC 2985 §5.4.2). */
  readonly uris: readonly string[]
}

/**
 * Parse a CSR (PEM or DER) and verify its self-signature. Throws CsrMalformedError for bad
 * encoding and CsrBadSignatureError when the signature does not verify with the CSR's own key.
 */
export function parseCsr(input: Uint8Array | string): ParsedCsr {
  let der: Uint8Array
  try {
    der = toDer('csr', input, 'CERTIFICATE REQUEST')
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err
    throw new CsrMalformedError(`malformed certificate request: ${(err as Error).message}`, { cause: err })
  }
  let parsed: ParsedCsr & {
    info: Uint8Array
    signature: Uint8Array
    algorithm: ReturnType<typeof readSignatureAlgorithm>['algorithm']
  }
  try {
    const outer = new DerReader(der)
    const reqTlv = outer.read(TAG.SEQUENCE)
    outer.end()
    const req = DerReader.inside(der, reqTlv)
    const infoTlv = req.read(TAG.SEQUENCE)
    const { algorithm } = readSignatureAlgorithm(der, req.read(TAG.SEQUENCE))
    const signature = bitStringBytes(der, req.read(TAG.BIT_STRING))
    req.end()
    const info = DerReader.inside(der, infoTlv)
    if (smallInteger(der, info.read(TAG.INTEGER)) !== 0) throw new DerError('CSR version must be v1 (0)')
    const subject = readName(der, info.read(TAG.SEQUENCE))
    const publicKey = readPublicKeyInfo(der, info.read(TAG.SEQUENCE))
    const uris: string[] = []
    const attrs = info.optional(0xa0)
    info.end()
    if (attrs !== undefined) {
      const list = DerReader.inside(der, attrs)
      while (!list.done) {
        const attr = DerReader.inside(der, list.read(TAG.SEQUENCE))
        const type = oidKey(der, attr.read(TAG.OID))
        const values = DerReader.inside(der, attr.read(TAG.SET))
        attr.end()
        if (type !== OID.extensionRequest) continue
        const exts = DerReader.inside(der, values.read(TAG.SEQUENCE))
        while (!exts.done) {
          const ext = DerReader.inside(der, exts.read(TAG.SEQUENCE))
          const extType = oidKey(der, ext.read(TAG.OID))
          ext.optional(TAG.BOOLEAN)
          const value = ext.read(TAG.OCTET_STRING)
          if (extType !== OID.subjectAltName) continue
          const names = DerReader.inside(der, new DerReader(der, value.contentStart, value.end).read(TAG.SEQUENCE))
          while (!names.done) {
            const gn = names.read()
            if (gn.tag === 0x86) uris.push(Buffer.from(contents(der, gn)).toString('latin1'))
          }
        }
      }
    }
    parsed = { der, subject, publicKey, uris, info: der.subarray(infoTlv.start, infoTlv.end), signature, algorithm }
  } catch (err) {
    if (err instanceof DerError) throw new CsrMalformedError(`malformed certificate request: ${err.message}`, { cause: err })
    throw err
  }
  if (parsed.publicKey.keyType === undefined) {
    throw new CsrMalformedError('certificate request: the key is neither Ed25519 nor P-256')
  }
  const ok = verifySignature(
    parsed.algorithm,
    parsed.info,
    parsed.signature,
    publicKeyObject(parsed.publicKey),
    parsed.publicKey.keyType
  )
  if (!ok) {
    throw new CsrBadSignatureError(
      'certificate request: its self-signature does not verify (damaged, or made without the private key)',
      {
        details: { hint: 'make a new request with `peerguard cert request`' }
      }
    )
  }
  return { der: parsed.der, subject: parsed.subject, publicKey: parsed.publicKey, uris: parsed.uris }
}

export interface CreateCsrOptions {
  /** The peer's identity key pair; the secret key signs the request and never leaves the peer. */
  keyPair: KeyPair
  /** The name (CN) the peer asks for. */
  name: string
}

/** Make a CSR for a peer identity: CN = name, SAN URI = its peer ID, signed with its own key. */
export async function createCsr(options: CreateCsrOptions): Promise<{ der: Uint8Array; pem: string }> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const kp = options.keyPair
  if (kp === null || typeof kp !== 'object') throw new InvalidArgumentError('keyPair: expected { publicKey, secretKey }')
  assertBytes('keyPair.publicKey', kp.publicKey, 32)
  assertBytes('keyPair.secretKey', kp.secretKey, 64)
  assertName('name', options.name)
  const peerId = peerIdFromPublicKey(kp.publicKey).toString()
  const seed = kp.secretKey.slice(0, 32)
  try {
    const entry = { type: 'ed25519' as const, secret: seed, publicKey: kp.publicKey }
    const privateKey = await webSigningKey(entry)
    const publicKey = await globalThis.crypto.subtle.importKey('raw', kp.publicKey, { name: 'Ed25519' }, true, ['verify'])
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ CN: [options.name] }],
      keys: { privateKey, publicKey },
      signingAlgorithm: { name: 'Ed25519' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: peerUri(peerId) }])]
    })
    const der = new Uint8Array(csr.rawData)
    // The secret key must belong to the public key: a CSR that does not verify is refused by any CA.
    parseCsr(der)
    return { der, pem: pemEncode(der, 'CERTIFICATE REQUEST') }
  } finally {
    seed.fill(0)
  }
}
