import { createPrivateKey } from 'node:crypto'
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import type { KeyPair } from '@peerguard/identity'
import { assertBytes, InvalidArgumentError } from '@peerguard/interface'
import type { IssuedCertificate } from './ca-options.js'
import { CertificateUnknownIssuerError } from './errors.js'
import { entryPrivateKey } from './keys.js'
import type { TrustStore } from './trust-store.js'
import { type Purpose, type VerifiedPeer, verifyPeerChain } from './verify.js'

/**
 * Glue for node:tls. A peer certificate certifies the peer's Ed25519 identity key, so that key is
 * also the TLS key (TLS 1.3 signature scheme ed25519, RFC 8446 §4.2.3): export it as PKCS#8.
 */

/** PKCS#8 PEM of an Ed25519 identity secret key (64 bytes, seed ‖ public key), for `tls` `key`. */
export function identityKeyPem(keyPair: KeyPair): string {
  if (keyPair === null || typeof keyPair !== 'object')
    throw new InvalidArgumentError('keyPair: expected { publicKey, secretKey }')
  assertBytes('keyPair.secretKey', keyPair.secretKey, 64)
  const seed = keyPair.secretKey.slice(0, 32)
  try {
    const key = entryPrivateKey({ type: 'ed25519', secret: seed, publicKey: keyPair.secretKey.subarray(32) })
    return key.export({ format: 'pem', type: 'pkcs8' }).toString()
  } finally {
    seed.fill(0)
  }
}

/** PKCS#8 PEM of a P-256 private key given as PKCS#8 DER (the `subjectPublicKey` option's key). */
export function p256KeyPem(pkcs8: Uint8Array): string {
  assertBytes('pkcs8', pkcs8)
  let key: ReturnType<typeof createPrivateKey>
  try {
    key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } catch (err) {
    throw new InvalidArgumentError('pkcs8: not a PKCS#8 DER private key', { cause: err })
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new InvalidArgumentError('pkcs8: not a P-256 private key')
  }
  return key.export({ format: 'pem', type: 'pkcs8' }).toString()
}

export interface TlsCredentialsOptions {
  /** The TLS private key: an Ed25519 identity key pair, or a PKCS#8 PEM string. */
  key: KeyPair | string
  /** The peer's certificate as issued (its chain is presented). */
  certificate: IssuedCertificate
  /** The trusted root(s), PEM, for node:tls's own path check. */
  roots: string[]
}

/** `key`, `cert`, `ca` options for tls.createServer / tls.connect, TLS 1.3 only, mutual auth. */
export function tlsCredentials(options: TlsCredentialsOptions): {
  key: string
  cert: string
  ca: string[]
  minVersion: 'TLSv1.3'
  requestCert: true
  rejectUnauthorized: true
} {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const key = typeof options.key === 'string' ? options.key : identityKeyPem(options.key)
  if (!Array.isArray(options.roots) || options.roots.some((r) => typeof r !== 'string'))
    throw new InvalidArgumentError('roots: expected PEM strings')
  return {
    key,
    cert: options.certificate.chainPem,
    ca: options.roots,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true
  }
}

/** The chain a TLS peer presented, leaf first, as DER. Empty when it presented none. */
export function peerChainOf(socket: TLSSocket): Uint8Array[] {
  if (
    socket === null ||
    typeof socket !== 'object' ||
    typeof (socket as { getPeerCertificate?: unknown }).getPeerCertificate !== 'function'
  ) {
    throw new InvalidArgumentError('socket: expected a tls.TLSSocket')
  }
  const first = socket.getPeerCertificate(true) as DetailedPeerCertificate | Record<string, never>
  const chain: Uint8Array[] = []
  let c = first as DetailedPeerCertificate | undefined
  const seen = new Set<string>()
  while (c !== undefined && c.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256)
    chain.push(new Uint8Array(c.raw))
    c = c.issuerCertificate
  }
  return chain
}

/**
 * Verify the peer at the other end of a TLS socket with peerguard's verifier (revocation, peer
 * binding, usages), after node:tls's own checks. Throws the verifier's errors; an empty chain is
 * cert-unknown-issuer.
 */
export async function verifyTlsPeer(
  socket: TLSSocket,
  options: { trust: TrustStore; purpose?: Purpose; expectedPeerId?: string }
): Promise<VerifiedPeer> {
  const chain = peerChainOf(socket)
  if (chain.length === 0) {
    throw new CertificateUnknownIssuerError('the TLS peer presented no certificate')
  }
  return verifyPeerChain(chain, options)
}
