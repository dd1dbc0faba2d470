/**
 * The signed bundle (SPEC.md §3): the workspace's CRLs and policy, versioned and signed by the
 * workspace root CA key. `signBundle` makes one on the admin's side; `verifyBundle` checks a
 * received one against the root (layout, workspace, signature, version, content) and throws the
 * first failure as a BundleError with its stable code.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto'
import { keyPairFromSeed, sign as edSign } from '@peerguard/identity'
import { equalBytes, InvalidArgumentError, isPeerguardError } from '@peerguard/interface'
import { type CaKeyEntry, createTrustStore, parseCertificate } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'
import { BundleError } from './errors.js'
import { WireReader, WireWriter } from './wire.js'
import { WORKSPACE_ID_LENGTH, workspaceIdOf } from './workspace-id.js'

export const BUNDLE_MAGIC = Buffer.from('PGWB', 'latin1')
export const BUNDLE_FORMAT = 1
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024
export const MAX_BUNDLE_CRLS = 16
export const MAX_BUNDLE_CRL_BYTES = 1024 * 1024
export const MAX_BUNDLE_POLICY_BYTES = 1024 * 1024
const MAX_SIGNATURE = 256
const SIGNING_CONTEXT = Buffer.from('peerguard-workspace-bundle-v1\0', 'latin1')

/** What a bundle carries. `policy` undefined: the bundle leaves the policy as it is. */
export interface BundleContent {
  readonly version: number
  readonly issuedAtMs: number
  readonly crls: readonly Uint8Array[]
  readonly policy?: string
}

/** A parsed bundle with its bytes and workspace ID (not yet verified). */
export interface Bundle extends BundleContent {
  readonly workspaceId: Uint8Array
  readonly signed: Uint8Array
  readonly signature: Uint8Array
  readonly bytes: Uint8Array
}

const malformed = (message: string): BundleError => new BundleError('workspace-bundle-malformed', message)

function checkContent(c: BundleContent): void {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError('bundle: expected an object')
  if (!Number.isSafeInteger(c.version) || c.version < 1)
    throw new InvalidArgumentError('bundle.version: expected a positive safe integer')
  if (!Number.isSafeInteger(c.issuedAtMs) || c.issuedAtMs < 0)
    throw new InvalidArgumentError('bundle.issuedAtMs: expected a non-negative safe integer')
  if (!Array.isArray(c.crls) || c.crls.length > MAX_BUNDLE_CRLS)
    throw new InvalidArgumentError(`bundle.crls: expected at most ${MAX_BUNDLE_CRLS} CRLs`)
  for (const crl of c.crls)
    if (!(crl instanceof Uint8Array) || crl.length < 1 || crl.length > MAX_BUNDLE_CRL_BYTES)
      throw new InvalidArgumentError(`bundle.crls: each CRL must be 1..${MAX_BUNDLE_CRL_BYTES} bytes of DER`)
  if (c.policy !== undefined && (typeof c.policy !== 'string' || Buffer.byteLength(c.policy) > MAX_BUNDLE_POLICY_BYTES))
    throw new InvalidArgumentError(`bundle.policy: expected text of at most ${MAX_BUNDLE_POLICY_BYTES} bytes`)
}

function encodeSigned(workspaceId: Uint8Array, c: BundleContent): Uint8Array {
  const w = new WireWriter().bytes(BUNDLE_MAGIC).u8(BUNDLE_FORMAT).bytes(workspaceId).u64(c.version).u64(c.issuedAtMs)
  w.u8(c.crls.length)
  for (const crl of c.crls) w.u32(crl.length).bytes(crl)
  const policy = Buffer.from(c.policy ?? '', 'utf8')
  w.u32(policy.length).bytes(policy)
  return w.finish()
}

function rootKeyType(rootDer: Uint8Array): 'ed25519' | 'p256' {
  const t = parseCertificate(rootDer).publicKey.keyType
  if (t === undefined) throw new InvalidArgumentError('root: its key is neither Ed25519 nor ECDSA P-256')
  return t
}

/** Sign `content` with the root CA's key (`ca.keyEntry` of @peerguard/pki's CertificateAuthority). */
export function signBundle(content: BundleContent, ca: { certificate: Uint8Array; keyEntry: CaKeyEntry }): Uint8Array {
  checkContent(content)
  const type = rootKeyType(ca.certificate)
  if (ca.keyEntry?.type !== type) throw new InvalidArgumentError('keyEntry: not the key type of the root certificate')
  const signed = encodeSigned(workspaceIdOf(ca.certificate), content)
  const message = Buffer.concat([SIGNING_CONTEXT, signed])
  let signature: Uint8Array
  if (type === 'ed25519') {
    const kp = keyPairFromSeed(ca.keyEntry.secret)
    signature = edSign(message, kp.secretKey)
    kp.secretKey.fill(0)
  } else {
    const key = createPrivateKey({ key: Buffer.from(ca.keyEntry.secret), format: 'der', type: 'pkcs8' })
    signature = new Uint8Array(cryptoSign('sha256', message, { key, dsaEncoding: 'der' }))
  }
  const out = new WireWriter().bytes(signed).u16(signature.length).bytes(signature).finish()
  if (!verifySignature(out.subarray(0, signed.length), signature, ca.certificate))
    throw new InvalidArgumentError('keyEntry: the key does not belong to the root certificate')
  if (out.length > MAX_BUNDLE_BYTES) throw new InvalidArgumentError(`bundle: more than ${MAX_BUNDLE_BYTES} bytes`)
  return out
}

/** Read a bundle's layout (no signature or content check): `workspace-bundle-malformed` on any fault. */
export function parseBundle(bytes: Uint8Array): Bundle {
  if (!(bytes instanceof Uint8Array)) throw malformed('bundle: expected bytes')
  if (bytes.length > MAX_BUNDLE_BYTES) throw malformed(`bundle: more than ${MAX_BUNDLE_BYTES} bytes`)
  const r = new WireReader(bytes, malformed)
  if (!equalBytes(r.bytes(4, 'magic'), BUNDLE_MAGIC)) throw malformed('bundle: bad magic')
  const format = r.u8('format')
  if (format !== BUNDLE_FORMAT) throw malformed(`bundle: unknown format ${format}`)
  const workspaceId = r.bytes(WORKSPACE_ID_LENGTH, 'workspace ID')
  const version = r.u64('version')
  if (version < 1) throw malformed('bundle: version must be at least 1')
  const issuedAtMs = r.u64('issued-at')
  const count = r.u8('CRL count')
  if (count > MAX_BUNDLE_CRLS) throw malformed(`bundle: more than ${MAX_BUNDLE_CRLS} CRLs`)
  const crls: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const len = r.u32('CRL length')
    if (len < 1 || len > MAX_BUNDLE_CRL_BYTES) throw malformed(`bundle: CRL length must be 1..${MAX_BUNDLE_CRL_BYTES}`)
    crls.push(r.bytes(len, 'CRL'))
  }
  const policyLength = r.u32('policy length')
  if (policyLength > MAX_BUNDLE_POLICY_BYTES) throw malformed(`bundle: policy longer than ${MAX_BUNDLE_POLICY_BYTES} bytes`)
  const policy = policyLength === 0 ? undefined : r.utf8(policyLength, 'policy')
  const signedLength = r.offset
  const sigLength = r.u16('signature length')
  if (sigLength < 1 || sigLength > MAX_SIGNATURE) throw malformed(`bundle: signature length must be 1..${MAX_SIGNATURE}`)
  const signature = r.bytes(sigLength, 'signature')
  r.end('bundle')
  return {
    workspaceId,
    version,
    issuedAtMs,
    crls,
    ...(policy === undefined ? {} : { policy }),
    signed: bytes.subarray(0, signedLength),
    signature,
    bytes
  }
}

function verifySignature(signed: Uint8Array, signature: Uint8Array, rootDer: Uint8Array): boolean {
  const root = parseCertificate(rootDer)
  const key = createPublicKey({ key: Buffer.from(root.publicKey.spki), format: 'der', type: 'spki' })
  const message = Buffer.concat([SIGNING_CONTEXT, signed])
  try {
    return root.publicKey.keyType === 'ed25519'
      ? cryptoVerify(null, message, key, signature)
      : cryptoVerify('sha256', message, { key, dsaEncoding: 'der' }, signature)
  } catch {
    return false
  }
}

/**
 * Check a received bundle against the workspace root and the version held (SPEC.md §3):
 * malformed → other workspace → signature → stale → content (every CRL signed by the root, the
 * policy compiles). Returns the parsed bundle.
 */
export function verifyBundle(bytes: Uint8Array, options: { root: Uint8Array; heldVersion: number }): Bundle {
  const bundle = parseBundle(bytes)
  if (!equalBytes(bundle.workspaceId, workspaceIdOf(options.root)))
    throw new BundleError('workspace-bundle-workspace', 'bundle: for another workspace')
  if (!verifySignature(bundle.signed, bundle.signature, options.root))
    throw new BundleError('workspace-bundle-signature', 'bundle: the signature does not verify with the workspace root key')
  if (bundle.version <= options.heldVersion)
    throw new BundleError(
      'workspace-bundle-stale',
      `bundle: version ${bundle.version} is not newer than the version held (${options.heldVersion})`,
      { details: { version: bundle.version, held: options.heldVersion } }
    )
  const probe = createTrustStore({ roots: [options.root], requireCrl: false })
  for (const [i, crl] of bundle.crls.entries()) {
    try {
      probe.addCrl(crl)
    } catch (err) {
      const code = isPeerguardError(err) ? err.code : 'internal'
      throw new BundleError('workspace-bundle-content', `bundle: CRL ${i + 1} does not load (${code})`, { cause: err })
    }
  }
  if (bundle.policy !== undefined) {
    try {
      loadPolicy({ text: bundle.policy, file: 'bundle policy' })
    } catch (err) {
      const code = isPeerguardError(err) ? err.code : 'internal'
      throw new BundleError('workspace-bundle-content', `bundle: the policy does not load (${code})`, { cause: err })
    }
  }
  return bundle
}
