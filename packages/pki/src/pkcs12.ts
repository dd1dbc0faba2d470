import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto'
import forge from 'node-forge'
import type { KeyPair } from '@peerguard/identity'
import { assertBytes, assertString, InvalidArgumentError } from '@peerguard/interface'
import { parseCertificate } from './certificate.js'
import { Pkcs12UnsupportedKeyError } from './errors.js'

/**
 * PKCS#12 (RFC 7292) bundles, built with node-forge. This is the only module that imports
 * node-forge. forge's own `toPkcs12Asn1` takes RSA keys and RSA certificates only, so the bag
 * structure is assembled here from forge's ASN.1 builder, its PBES2 key encryption
 * (`encryptPrivateKeyInfo`, AES-256-CBC with PBKDF2-HMAC-SHA256) and its PKCS#12 MAC key
 * derivation with HMAC-SHA256 (RFC 7292 §5, Appendix B) — the same steps forge performs for RSA.
 */

/** Tools a bundle may be meant for. */
export type Pkcs12Target = 'openssl' | 'node' | 'windows' | 'macos' | 'java' | 'browser'

/**
 * Tools that refuse Ed25519 keys in PKCS#12 (Windows CNG/CryptoAPI import, macOS Keychain,
 * Java before 15, browser certificate import): give them a P-256 certificate instead.
 */
const NO_ED25519: ReadonlySet<Pkcs12Target> = new Set(['windows', 'macos', 'java', 'browser'])
const TARGETS: ReadonlySet<string> = new Set(['openssl', 'node', 'windows', 'macos', 'java', 'browser'])

/** PBKDF2 and MAC iterations: OpenSSL 3's default for `pkcs12 -export`. */
export const PKCS12_ITERATIONS = 2048

export interface ExportPkcs12Options {
  /** The private key of the leaf: an Ed25519 identity key pair, or PKCS#8 DER (P-256 or Ed25519). */
  key: KeyPair | Uint8Array
  /** The certificate chain, leaf first (DER). */
  chain: Uint8Array[]
  /** Encrypts the key and keys the integrity MAC. */
  passphrase: string
  /** The tool that will import the bundle. Default 'openssl'. */
  target?: Pkcs12Target
  /** friendlyName attribute. Default the leaf's CN. */
  friendlyName?: string
}

const { asn1, pki } = forge

function bin(bytes: Uint8Array): string {
  return forge.util.binary.raw.encode(bytes)
}

function octets(bytes: string): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes)
}

function oid(id: string): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes())
}

function seq(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items)
}

function explicit0(item: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [item])
}

/** PKCS#7 ContentInfo of type data around DER bytes. */
function dataContent(der: string): forge.asn1.Asn1 {
  return seq([oid(pki.oids.data as string), explicit0(octets(der))])
}

function attributes(localKeyId: string, friendlyName: string | undefined): forge.asn1.Asn1 {
  const attrs = [
    seq([oid(pki.oids.localKeyId as string), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [octets(localKeyId)])])
  ]
  if (friendlyName !== undefined) {
    attrs.push(
      seq([
        oid(pki.oids.friendlyName as string),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, friendlyName)
        ])
      ])
    )
  }
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, attrs)
}

/** PKCS#8 DER of the key option. */
function pkcs8Of(key: KeyPair | Uint8Array): Uint8Array {
  if (key instanceof Uint8Array) return key
  if (key === null || typeof key !== 'object') throw new InvalidArgumentError('key: expected a key pair or PKCS#8 DER')
  assertBytes('key.secretKey', key.secretKey, 64)
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex')
  return new Uint8Array(Buffer.concat([prefix, key.secretKey.subarray(0, 32)]))
}

/** Build a password-protected PKCS#12 bundle (DER) of a key and its certificate chain. */
export function exportPkcs12(options: ExportPkcs12Options): Uint8Array {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  assertString('passphrase', options.passphrase, { nonEmpty: true, maxLength: 1024 })
  const target = options.target ?? 'openssl'
  if (!TARGETS.has(target))
    throw new InvalidArgumentError(`target: expected one of ${[...TARGETS].join(', ')}, got ${JSON.stringify(target)}`)
  if (!Array.isArray(options.chain) || options.chain.length === 0)
    throw new InvalidArgumentError('chain: expected at least the leaf certificate (DER)')
  for (const [i, c] of options.chain.entries()) assertBytes(`chain[${i}]`, c)
  const leaf = parseCertificate(options.chain[0] as Uint8Array)
  const pkcs8 = pkcs8Of(options.key)
  let spki: Buffer
  try {
    spki = createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })).export({
      format: 'der',
      type: 'spki'
    })
  } catch (err) {
    throw new InvalidArgumentError('key: not a PKCS#8 private key', { cause: err })
  }
  if (!spki.equals(leaf.publicKey.spki)) throw new InvalidArgumentError('key: does not belong to the leaf certificate')
  if (leaf.publicKey.keyType === 'ed25519' && NO_ED25519.has(target)) {
    throw new Pkcs12UnsupportedKeyError(`${target} cannot import an Ed25519 key from a PKCS#12 bundle`, {
      details: {
        hint: 'give such tools a P-256 certificate: `peerguard cert request --key-type p256 --p256-key-out KEY` then `peerguard ca issue --csr` (API: issuePeer({ subjectPublicKey })); a CA for them: `peerguard ca init --key-type p256`'
      }
    })
  }
  const friendlyName = options.friendlyName ?? leaf.subject.commonName
  const localKeyId = forge.md.sha1.create().update(bin(leaf.der)).digest().getBytes()

  const certBags = options.chain.map((der, i) =>
    seq([
      oid(pki.oids.certBag as string),
      explicit0(seq([oid(pki.oids.x509Certificate as string), explicit0(octets(bin(der)))])),
      ...(i === 0 ? [attributes(localKeyId, friendlyName)] : [])
    ])
  )
  const keyInfo = asn1.fromDer(bin(pkcs8))
  // PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC (RFC 8018 §6.2). forge takes the password as bytes: UTF-8 it.
  const encryptedKey = pki.encryptPrivateKeyInfo(keyInfo, forge.util.encodeUtf8(options.passphrase), {
    algorithm: 'aes256',
    count: PKCS12_ITERATIONS,
    prfAlgorithm: 'sha256'
  } as never)
  const keyBag = seq([oid(pki.oids.pkcs8ShroudedKeyBag as string), explicit0(encryptedKey), attributes(localKeyId, friendlyName)])

  const safe = seq([dataContent(asn1.toDer(seq(certBags)).getBytes()), dataContent(asn1.toDer(seq([keyBag])).getBytes())])
  const safeDer = asn1.toDer(safe).getBytes()

  // MacData with HMAC-SHA256; the MAC key comes from the PKCS#12 KDF, ID 3 (RFC 7292 Appendix B.3).
  const salt = bin(randomBytes(16))
  const macKey = forge.pkcs12.generateKey(
    options.passphrase,
    new forge.util.ByteStringBuffer(salt),
    3,
    PKCS12_ITERATIONS,
    32,
    forge.md.sha256.create()
  )
  const hmac = forge.hmac.create()
  hmac.start(forge.md.sha256.create(), macKey.getBytes())
  hmac.update(safeDer)
  const macData = seq([
    seq([
      seq([oid(pki.oids.sha256 as string), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]),
      octets(hmac.digest().getBytes())
    ]),
    octets(salt),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(PKCS12_ITERATIONS).getBytes())
  ])
  const pfx = seq([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(3).getBytes()),
    dataContent(safeDer),
    macData
  ])
  return new Uint8Array(forge.util.binary.raw.decode(asn1.toDer(pfx).getBytes()))
}
