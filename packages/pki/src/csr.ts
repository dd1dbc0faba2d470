import { createHash, generateKeyPairSync, type webcrypto } from 'node:crypto'
import { type KeyPair, peerIdFromPublicKey, sign, verify } from '@peerguard/identity'
import { assertBytes, concatBytes, InvalidArgumentError } from '@peerguard/interface'
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
  /**
   * 'ed25519' (default): the request certifies the identity key itself. 'p256': a fresh P-256 key
   * is made here for tools without Ed25519; the request is signed with it and carries a binding
   * proof (see `bindingUri`) signed with the identity key, so the CA can check both keys are held.
   */
  keyType?: 'ed25519' | 'p256'
}

export interface CreatedCsr {
  der: Uint8Array
  pem: string
  /** With keyType 'p256': the new P-256 private key, PKCS#8 DER (keep it like a secret key). */
  p256Key?: Uint8Array
}

/**
 * The binding proof of a P-256 request: an Ed25519 signature by the identity key over
 * BINDING_CONTEXT ‖ SHA-256(P-256 SPKI DER), carried as a second URI SAN of the request
 * (`peerguard://binding/<base64url signature>`). It never goes into the issued certificate.
 */
export const BINDING_URI_PREFIX = 'peerguard://binding/'
const BINDING_CONTEXT = new TextEncoder().encode('peerguard p256 certificate key binding v1\0')

function bindingMessage(spki: Uint8Array): Uint8Array {
  return concatBytes(BINDING_CONTEXT, new Uint8Array(createHash('sha256').update(spki).digest()))
}

/** Check a P-256 request's binding proof against the identity key its peer ID names. */
export function verifyBinding(csr: ParsedCsr, identityKey: Uint8Array): boolean {
  const proofs = csr.uris.filter((u) => u.startsWith(BINDING_URI_PREFIX))
  if (proofs.length !== 1) return false
  const sig = Buffer.from((proofs[0] as string).slice(BINDING_URI_PREFIX.length), 'base64url')
  if (sig.length !== 64) return false
  return verify(new Uint8Array(sig), bindingMessage(csr.publicKey.spki), identityKey)
}

/** Make a CSR for a peer identity: CN = name, SAN URI = its peer ID, signed with its own key. */
export async function createCsr(options: CreateCsrOptions): Promise<CreatedCsr> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const kp = options.keyPair
  if (kp === null || typeof kp !== 'object') throw new InvalidArgumentError('keyPair: expected { publicKey, secretKey }')
  assertBytes('keyPair.publicKey', kp.publicKey, 32)
  assertBytes('keyPair.secretKey', kp.secretKey, 64)
  assertName('name', options.name)
  const keyType = options.keyType ?? 'ed25519'
  if (keyType !== 'ed25519' && keyType !== 'p256')
    throw new InvalidArgumentError(`keyType: expected 'ed25519' or 'p256', got ${JSON.stringify(keyType)}`)
  const peerId = peerIdFromPublicKey(kp.publicKey).toString()
  const seed = kp.secretKey.slice(0, 32)
  try {
    let keys: { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }
    let algorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams
    const uris = [peerUri(peerId)]
    let p256Key: Uint8Array | undefined
    if (keyType === 'ed25519') {
      const privateKey = await webSigningKey({ type: 'ed25519', secret: seed, publicKey: kp.publicKey })
      const publicKey = await globalThis.crypto.subtle.importKey('raw', kp.publicKey, { name: 'Ed25519' }, true, ['verify'])
      keys = { privateKey, publicKey }
      algorithm = { name: 'Ed25519' }
    } else {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      p256Key = new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' }))
      const spki = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }))
      const privateKey = await webSigningKey({ type: 'p256', secret: p256Key, publicKey: spki })
      const publicKey = await globalThis.crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'verify'
      ])
      keys = { privateKey, publicKey }
      algorithm = { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams
      const proof = sign(bindingMessage(spki), kp.secretKey)
      uris.push(BINDING_URI_PREFIX + Buffer.from(proof).toString('base64url'))
    }
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ CN: [options.name] }],
      keys,
      signingAlgorithm: algorithm,
      extensions: [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))]
    })
    const der = new Uint8Array(csr.rawData)
    // The secret key must belong to the public key: a CSR that does not verify is refused by any CA.
    parseCsr(der)
    return { der, pem: pemEncode(der, 'CERTIFICATE REQUEST'), ...(p256Key === undefined ? {} : { p256Key }) }
  } finally {
    seed.fill(0)
  }
}
