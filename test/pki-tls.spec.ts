import { generateKeyPairSync } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { connect, createServer, type TLSSocket } from 'node:tls'
import { describe, expect, it } from '@jest/globals'
import { generateKeyPair, type KeyPair } from '@peerguard/identity'
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createTrustStore,
  type IssuedCertificate,
  p256KeyPem,
  type TrustStore,
  tlsCredentials,
  verifyTlsPeer
} from '@peerguard/pki'
import { CertificateRevokedError } from '@peerguard/pki/errors'

/**
 * Interop: node:tls (OpenSSL underneath) runs a TLS 1.3 mutual-auth handshake on loopback with
 * peerguard certificates, then each side checks the other with peerguard's verifier.
 */

interface Side {
  key: string
  issued: IssuedCertificate
}

interface Outcome {
  server: { peerId?: string; error?: string; protocol?: string | null; cipher?: string }
  client: { peerId?: string; error?: string; tlsError?: string; data: string }
}

async function handshake(ca: CertificateAuthority, server: Side, client: Side, trust: TrustStore): Promise<Outcome> {
  const roots = [ca.certificatePem]
  const outcome: Outcome = { server: {}, client: { data: '' } }
  const srv = createServer({ ...tlsCredentials({ key: server.key, certificate: server.issued, roots }) }, (socket: TLSSocket) => {
    outcome.server.protocol = socket.getProtocol()
    outcome.server.cipher = socket.getCipher().name
    verifyTlsPeer(socket, { trust, purpose: 'clientAuth' }).then(
      (peer) => {
        outcome.server.peerId = peer.peerId
        socket.end('hello from the server')
      },
      (err: { code?: string }) => {
        // Fail closed: no application data for a peer our verifier refuses.
        outcome.server.error = err.code
        socket.destroy()
      }
    )
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ...tlsCredentials({ key: client.key, certificate: client.issued, roots }),
        // Peers are named by peer ID, not host name: peerguard's verifier checks the binding.
        checkServerIdentity: () => undefined
      })
      socket.on('secureConnect', () => {
        verifyTlsPeer(socket, { trust, purpose: 'serverAuth', expectedPeerId: server.issued.peerId }).then(
          (peer) => {
            outcome.client.peerId = peer.peerId
          },
          (err: { code?: string }) => {
            outcome.client.error = err.code
            socket.destroy()
          }
        )
      })
      socket.on('data', (d: Buffer) => {
        outcome.client.data += d.toString()
      })
      socket.on('close', () => resolve())
      socket.on('error', (err: NodeJS.ErrnoException) => {
        outcome.client.tlsError = err.code ?? err.message
        resolve()
      })
      void reject
    })
  } finally {
    await new Promise((r) => srv.close(r))
  }
  return outcome
}

async function peerSide(ca: CertificateAuthority, name: string, identity: KeyPair = generateKeyPair()): Promise<Side> {
  const issued = await ca.issuePeer({ publicKey: identity.publicKey, name })
  const { identityKeyPem } = await import('@peerguard/pki')
  return { key: identityKeyPem(identity), issued }
}

async function p256Side(ca: CertificateAuthority, name: string): Promise<Side> {
  const identity = generateKeyPair()
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const issued = await ca.issuePeer({
    publicKey: identity.publicKey,
    name,
    subjectPublicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))
  })
  return { key: p256KeyPem(new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }))), issued }
}

describe('node:tls with peerguard certificates', () => {
  it('Ed25519 CA and Ed25519 identity keys: TLS 1.3 mutual auth, both sides learn the peer ID', async () => {
    const ca = await createCertificateAuthority({ name: 'TLS CA' })
    const alice = await peerSide(ca, 'alice')
    const bob = await peerSide(ca, 'bob')
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const out = await handshake(ca, alice, bob, trust)
    expect(out.server.protocol).toBe('TLSv1.3')
    expect(out.server.peerId).toBe(bob.issued.peerId)
    expect(out.client.peerId).toBe(alice.issued.peerId)
    expect(out.client.data).toBe('hello from the server')
  })

  it('P-256 CA and P-256 certificate keys (for tools without Ed25519)', async () => {
    const ca = await createCertificateAuthority({ name: 'TLS P-256 CA', keyType: 'p256' })
    const alice = await p256Side(ca, 'alice')
    const bob = await p256Side(ca, 'bob')
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const out = await handshake(ca, alice, bob, trust)
    expect(out.server.protocol).toBe('TLSv1.3')
    expect(out.server.peerId).toBe(bob.issued.peerId)
    expect(out.client.peerId).toBe(alice.issued.peerId)
    expect(out.client.data).toBe('hello from the server')
  })

  it('a P-256 CA issuing Ed25519 identity certificates also works', async () => {
    const ca = await createCertificateAuthority({ name: 'Mixed CA', keyType: 'p256' })
    const alice = await peerSide(ca, 'alice')
    const bob = await peerSide(ca, 'bob')
    const out = await handshake(ca, alice, bob, createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] }))
    expect(out.server.peerId).toBe(bob.issued.peerId)
    expect(out.client.data).toBe('hello from the server')
  })

  it('a revoked peer completes the TLS handshake (OpenSSL has no CRL) but peerguard refuses it before any data', async () => {
    const ca = await createCertificateAuthority({ name: 'TLS CA' })
    const alice = await peerSide(ca, 'alice')
    const mallory = await peerSide(ca, 'mallory')
    await ca.revoke(mallory.issued.serial, 'keyCompromise')
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const out = await handshake(ca, alice, mallory, trust)
    expect(out.server.error).toBe('cert-revoked')
    expect(out.server.peerId).toBeUndefined()
    expect(out.client.data).toBe('')
    expect(new CertificateRevokedError().code).toBe('cert-revoked')
  })

  it('a peer from another CA is refused by node:tls itself', async () => {
    const ca = await createCertificateAuthority({ name: 'TLS CA' })
    const rogue = await createCertificateAuthority({ name: 'Rogue CA' })
    const alice = await peerSide(ca, 'alice')
    const eve = await peerSide(rogue, 'eve')
    const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
    const out = await handshake(ca, alice, eve, trust)
    // The server never saw a secure connection: node:tls refused the client certificate.
    expect(out.server.protocol).toBeUndefined()
    expect(out.server.peerId).toBeUndefined()
    expect(out.client.data).toBe('')
  })
})
