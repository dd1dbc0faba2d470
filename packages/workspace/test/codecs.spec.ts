import { describe, expect, it } from '@jest/globals'
import { generateKeyPair } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'
import fc from 'fast-check'
import {
  type Announcement,
  announceKeyOf,
  MAX_DATAGRAM,
  openAnnouncement,
  parseBundle,
  sealAnnouncement,
  signBundle,
  verifyBundle,
  workspaceIdOf
} from '../src/index.js'

const pki: TestPki = await makeTestPki()
const root = pki.ca.certificate
const workspaceId = workspaceIdOf(root)
const key = announceKeyOf(root)
const alice = pki.peers.alice
if (alice === undefined) throw new Error('fixture: alice')

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'))
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'))
const service = fc.record({
  kind: fc.constantFrom('share' as const, 'proxy' as const, 'swarm' as const),
  name: fc.string({ minLength: 1, maxLength: 16 }),
  port: fc.nat(65535)
})
const body = fc.record({
  timestampMs: fc.nat(),
  seq: fc.nat(),
  bundleVersion: fc.nat(),
  fetchPort: fc.nat(65535),
  addresses: fc.array(fc.oneof(ipv4, ipv6), { maxLength: 8 }),
  services: fc.array(service, { maxLength: 12 })
})

/** Only our own typed errors with a workspace code escape the parsers. */
function expectWorkspaceError(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    if (!isPeerguardError(err) || !err.code.startsWith('workspace-')) throw err
    return err.code
  }
  throw new Error('expected a workspace error')
}

describe('announcement codec', () => {
  it('round-trips every well-formed body, within the datagram limit', () => {
    fc.assert(
      fc.property(body, (b) => {
        const datagram = sealAnnouncement(b, { identity: alice.identity, workspaceId, key })
        expect(datagram.length).toBeLessThanOrEqual(MAX_DATAGRAM)
        const opened: Announcement = openAnnouncement(datagram, { workspaceId, key })
        expect(opened).toEqual({ ...b, publicKey: alice.identity.publicKey })
      }),
      { numRuns: 200 }
    )
  })

  it('refuses garbage, truncation and bit flips with workspace-announce-* codes only', () => {
    const good = sealAnnouncement(
      { timestampMs: 1, seq: 1, bundleVersion: 3, fetchPort: 4000, addresses: ['10.0.0.1'], services: [] },
      { identity: alice.identity, workspaceId, key }
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (junk) => {
        expect(expectWorkspaceError(() => openAnnouncement(junk, { workspaceId, key }))).toMatch(/^workspace-announce-/)
      })
    )
    fc.assert(
      fc.property(fc.nat(good.length - 1), (cut) => {
        expect(expectWorkspaceError(() => openAnnouncement(good.subarray(0, cut), { workspaceId, key }))).toMatch(
          /^workspace-announce-(malformed|decrypt)$/
        )
      })
    )
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = Uint8Array.from(good)
        bad[at] = (bad[at] as number) ^ mask
        expect(expectWorkspaceError(() => openAnnouncement(bad, { workspaceId, key }))).toMatch(/^workspace-announce-/)
      })
    )
  })

  it('names each failure: other workspace, wrong key, forged signature', async () => {
    const b = { timestampMs: 1, seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services: [] }
    const other = await makeTestPki({ caName: 'Other CA', peers: [] })
    const otherId = workspaceIdOf(other.ca.certificate)
    const foreign = sealAnnouncement(b, { identity: alice.identity, workspaceId: otherId, key })
    expect(expectWorkspaceError(() => openAnnouncement(foreign, { workspaceId, key }))).toBe('workspace-announce-other-workspace')
    // right workspace ID, but sealed by someone without the root's key
    const outsider = sealAnnouncement(b, { identity: alice.identity, workspaceId, key: announceKeyOf(other.ca.certificate) })
    expect(expectWorkspaceError(() => openAnnouncement(outsider, { workspaceId, key }))).toBe('workspace-announce-decrypt')
    // the body claims alice's key but is signed by mallory: re-seal a signed body with a swapped key
    const mallory = generateKeyPair()
    const forged = sealAnnouncement(b, {
      identity: { publicKey: alice.identity.publicKey, secretKey: mallory.secretKey },
      workspaceId,
      key
    })
    expect(expectWorkspaceError(() => openAnnouncement(forged, { workspaceId, key }))).toBe('workspace-announce-signature')
  })

  it('refuses a body that does not fit one datagram', () => {
    const services = Array.from({ length: 32 }, (_, i) => ({ kind: 'share' as const, name: `${'x'.repeat(60)}${i}`, port: 1 }))
    expect(() =>
      sealAnnouncement(
        { timestampMs: 1, seq: 1, bundleVersion: 0, fetchPort: 0, addresses: [], services },
        { identity: alice.identity, workspaceId, key }
      )
    ).toThrow(/1200-byte datagram limit/)
  })
})

describe('bundle codec', () => {
  const ca = pki.ca
  it('round-trips and verifies against the root', async () => {
    const crl = (await ca.crl()).der
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.nat(),
        fc.option(fc.constant('version: 1\nrules: []\n'), { nil: undefined }),
        async (version, issuedAtMs, policy) => {
          const bytes = signBundle({ version, issuedAtMs, crls: [crl], ...(policy === undefined ? {} : { policy }) }, ca)
          const b = verifyBundle(bytes, { root, heldVersion: version - 1 })
          expect({ version: b.version, issuedAtMs: b.issuedAtMs, policy: b.policy }).toEqual({ version, issuedAtMs, policy })
          expect(b.crls.map((c) => Buffer.from(c).toString('hex'))).toEqual([Buffer.from(crl).toString('hex')])
        }
      ),
      { numRuns: 20 }
    )
  })

  it('refuses garbage, truncation and bit flips with workspace-bundle-* codes only', async () => {
    const good = signBundle({ version: 2, issuedAtMs: 5, crls: [(await ca.crl()).der] }, ca)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (junk) => {
        expect(expectWorkspaceError(() => verifyBundle(junk, { root, heldVersion: 0 }))).toMatch(/^workspace-bundle-/)
      })
    )
    fc.assert(
      fc.property(fc.nat(good.length - 1), (cut) => {
        expect(expectWorkspaceError(() => parseBundle(good.subarray(0, cut)))).toBe('workspace-bundle-malformed')
      })
    )
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = Uint8Array.from(good)
        bad[at] = (bad[at] as number) ^ mask
        expect(expectWorkspaceError(() => verifyBundle(bad, { root, heldVersion: 0 }))).toMatch(/^workspace-bundle-/)
      })
    )
  })
})
