import { generateKeyPair, type KeyPair } from '@peerguard/identity'
import type { Clock } from '@peerguard/interface'
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createTrustStore,
  type IssuedCertificate,
  type TrustStore
} from '@peerguard/pki'

/** A test peer: identity key pair, its certificate and the chain it presents. */
export interface TestPeer {
  readonly name: string
  readonly identity: KeyPair
  readonly peerId: string
  readonly certificate: IssuedCertificate
  /** What the peer presents in a handshake: leaf first (DER). */
  readonly chain: Uint8Array[]
  readonly groups: string[]
}

export interface TestPki {
  readonly ca: CertificateAuthority
  /** Trust store with the CA's root (and its current CRL). */
  readonly trust: TrustStore
  readonly peers: Record<string, TestPeer>
  /** Issue another peer (fresh identity unless one is given). */
  issue(name: string, options?: { groups?: string[]; days?: number; identity?: KeyPair }): Promise<TestPeer>
  /** A trust store rebuilt with the CA's current CRL (after `ca.revoke`). */
  trustWithCrl(): Promise<TrustStore>
}

export interface MakeTestPkiOptions {
  /** CA name. Default 'Test LAN CA'. */
  caName?: string
  /** Peers to issue: names, or names with groups. Default alice (family) and bob (friends). */
  peers?: Array<string | { name: string; groups?: string[] }>
  clock?: Clock
}

/** A LAN CA with issued test peers, built with @peerguard/pki's own API. */
export async function makeTestPki(options: MakeTestPkiOptions = {}): Promise<TestPki> {
  const clock = options.clock
  const ca = await createCertificateAuthority({
    name: options.caName ?? 'Test LAN CA',
    ...(clock === undefined ? {} : { clock })
  })
  const issue = async (name: string, o: { groups?: string[]; days?: number; identity?: KeyPair } = {}): Promise<TestPeer> => {
    const identity = o.identity ?? generateKeyPair()
    const groups = o.groups ?? []
    const certificate = await ca.issuePeer({
      publicKey: identity.publicKey,
      name,
      groups,
      ...(o.days === undefined ? {} : { days: o.days })
    })
    return { name, identity, peerId: certificate.peerId, certificate, chain: certificate.chain, groups }
  }
  const peers: Record<string, TestPeer> = {}
  for (const p of options.peers ?? [
    { name: 'alice', groups: ['family'] },
    { name: 'bob', groups: ['friends'] }
  ]) {
    const spec = typeof p === 'string' ? { name: p } : p
    peers[spec.name] = await issue(spec.name, spec.groups === undefined ? {} : { groups: spec.groups })
  }
  const trustWithCrl = async (): Promise<TrustStore> =>
    createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der], ...(clock === undefined ? {} : { clock }) })
  return {
    ca,
    // Revocation is required by default: the fixture's store holds the CA's first CRL.
    trust: await trustWithCrl(),
    peers,
    issue,
    trustWithCrl
  }
}
