import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { peerIdFromLibp2p, peerIdFromPublicKey, peerIdFromString } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { canonicalPeerId, diffPolicies, loadPolicy, type PolicyLoadError, type PolicyPeer } from '@peerguard/policy'

/** Policies that say what admins mean: peer IDs, exceptions to a deny, test peers as certificates present them. */

const key = (seed: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 0xff)
const ALICE = peerIdFromPublicKey(key(1))
const BOB = peerIdFromPublicKey(key(2))

function loadError(text: string): PolicyLoadError {
  try {
    loadPolicy({ text, file: 'm.yaml' })
  } catch (err) {
    if (isPeerguardError(err)) return err as PolicyLoadError
    throw err
  }
  throw new Error('expected the policy to be refused')
}

describe('peer IDs: checked and canonicalised, both text forms', () => {
  it('agrees with @peerguard/identity on random keys, in both forms and in lax spellings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        let id: ReturnType<typeof peerIdFromPublicKey>
        try {
          id = peerIdFromPublicKey(bytes)
        } catch {
          return // not a curve point: identity refuses to make an ID of it
        }
        const text = id.toString()
        expect(canonicalPeerId(text)).toEqual({ id: text })
        expect(canonicalPeerId(id.toLibp2p())).toEqual({ id: text })
        expect(canonicalPeerId(text.toLowerCase().replace(/-/g, ''))).toEqual({ id: text })
        expect(peerIdFromLibp2p(id.toLibp2p()).toString()).toBe(text)
      }),
      { numRuns: 300 }
    )
  })

  it('refuses what identity refuses: one changed character is caught by the check characters', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
    fc.assert(
      fc.property(fc.nat(55), fc.nat(31), (pos, sub) => {
        const clean = ALICE.toString().replace(/-/g, '')
        const ch = alphabet[sub] as string
        if (clean[pos] === ch) return
        const typo = clean.slice(0, pos) + ch + clean.slice(pos + 1)
        let identityOk = true
        try {
          peerIdFromString(typo)
        } catch {
          identityOk = false
        }
        expect('id' in canonicalPeerId(typo)).toBe(identityOk)
      }),
      { numRuns: 500 }
    )
    for (const bad of ['pg1-alice', '', 'x'.repeat(200), `${ALICE.toString()}!`, '12D3KooWnotbase58l0O', 'ABCDEFG-ABCDEFG']) {
      expect(canonicalPeerId(bad)).toEqual({ expected: expect.stringContaining('a peer ID') })
    }
  })

  it('a policy may write either form; decisions compare the canonical form', () => {
    const p = loadPolicy(`version: 1
peers:
  alice: { id: ${ALICE.toLibp2p()} }
rules:
  - allow: [get]
    peers: [alice, "id:${BOB.toString().toLowerCase()}"]
    resources: ["share:docs"]
`)
    expect(p.decide({ peer: { peerId: ALICE.toString() }, action: 'get', resource: 'share:docs/a' }).allowed).toBe(true)
    expect(p.decide({ peer: { peerId: BOB.toString() }, action: 'get', resource: 'share:docs/a' }).allowed).toBe(true)
    expect(p.model.peers.get('alice')?.id).toBe(ALICE.toString())
  })

  it('a bad ID is a located policy-bad-peer-id error, in peers:, in id: tokens and in tests', () => {
    const inPeers = loadError('version: 1\npeers:\n  a: { id: NOT-AN-ID }\nrules: []\n')
    expect(inPeers.code).toBe('policy-bad-peer-id')
    expect(inPeers.message).toMatch(/^m\.yaml:3:\d+: bad peer ID "NOT-AN-ID"/)
    const inToken = loadError('version: 1\nrules:\n  - allow: [get]\n    peers: ["id:nope"]\n    resources: ["share:x"]\n')
    expect(inToken.code).toBe('policy-bad-peer-id')
    expect(inToken.message).toMatch(/^m\.yaml:4:\d+: /)
    const inTest = loadError('version: 1\nrules: []\ntests:\n  - peer: { id: nope }\n    can: ["get share:x"]\n')
    expect(inTest.code).toBe('policy-bad-peer-id')
    expect(inTest.message).toMatch(/^m\.yaml:4:\d+: /)
  })
})

const EXCEPT = `version: 1
peers:
  hr-lead: { id: ${ALICE} }
groups:
  staff: ["ou:staff"]
  hr-admins: [hr-lead, "ou:hr-admins"]
rules:
  - id: staff-office
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: salaries-closed
    deny: [read, write]
    peers: [staff]
    except: [hr-admins]
    resources: ["share:office/hr/salaries/**"]
tests:
  - name: staff cannot read salaries
    peer: { groups: [staff] }
    cannot: ["read share:office/hr/salaries/2026.txt"]
  - name: an hr admin can, as its certificate presents it
    peer: { name: hr2.lan, groups: [staff, hr-admins] }
    can: ["read share:office/hr/salaries/2026.txt"]
  - name: the hr lead, named in the file, with the groups its certificate carries
    peer: { named: hr-lead, groups: [staff] }
    can: ["read share:office/hr/salaries/2026.txt"]
`

describe('except: on a rule', () => {
  const p = loadPolicy(EXCEPT)
  const staff: PolicyPeer = { peerId: BOB.toString(), groups: ['staff'] }
  const hrAdmin: PolicyPeer = { peerId: BOB.toString(), groups: ['staff', 'hr-admins'] }
  const lead: PolicyPeer = { peerId: ALICE.toString(), groups: ['staff'] }
  const req = (peer: PolicyPeer) => ({ peer, action: 'read', resource: 'share:office/hr/salaries/2026.txt' })

  it('the deny does not apply to excepted peers; decide, CASL, explain and decideTree agree', () => {
    for (const [peer, allowed] of [
      [staff, false],
      [hrAdmin, true],
      [lead, true]
    ] as const) {
      const d = p.decide(req(peer))
      expect(d.allowed).toBe(allowed)
      expect(p.decideWithCasl(req(peer))).toEqual(d)
      expect(p.explain(req(peer)).decision).toEqual(d)
      expect(p.decideTree({ ...req(peer), resource: 'share:office/hr' }).allowed).toBe(allowed)
    }
    const e = p.explain(req(hrAdmin)).rules.find((r) => r.id === 'salaries-closed')
    expect(e).toMatchObject({ matched: false })
    expect(e?.why).toContain('peer is excepted (except: hr-admins)')
  })

  it("the file's tests name peers as their certificates present them and run through decide()", () => {
    const report = p.test()
    expect(report).toMatchObject({ passed: true, failed: 0, total: 3 })
    expect(report.results.map((r) => r.peer)).toEqual(['ou:staff', 'name:hr2.lan', 'hr-lead'])
  })

  it('lint: a deny with exceptions does not shadow an allow; except names count as used', () => {
    const q = loadPolicy(`version: 1
groups:
  hr-admins: ["ou:hr-admins"]
rules:
  - id: a
    allow: [read]
    peers: ["*"]
    resources: ["share:docs/x/**"]
  - id: d
    deny: [read]
    peers: ["*"]
    except: [hr-admins]
    resources: ["share:docs/**"]
`)
    expect(q.lint().filter((f) => f.code === 'policy-lint-shadowed' || f.code === 'policy-lint-unused-group')).toEqual([])
  })

  it('diff sees what adding an exception changes', () => {
    const without = loadPolicy(EXCEPT.replace('    except: [hr-admins]\n', '').replace(/tests:[\s\S]*$/, ''))
    const changes = diffPolicies(without, loadPolicy(EXCEPT.replace(/tests:[\s\S]*$/, ''))).changes
    expect(changes.length).toBeGreaterThan(0)
    expect(changes.every((c) => c.before.code === 'deny-rule' && c.after.code === 'allow')).toBe(true)
    expect(new Set(changes.map((c) => c.peer))).toEqual(new Set(['ou:staff+hr-lead', 'ou:staff+ou:hr-admins']))
  })

  it('refuses * in except:, and unknown names there', () => {
    const base = 'version: 1\nrules:\n  - deny: [read]\n    peers: ["*"]\n    resources: ["share:x"]\n    except: '
    expect(loadError(`${base}["*"]\n`).message).toMatch(/m\.yaml:6:\d+: "\*" in except:/)
    expect(loadError(`${base}[nobody]\n`).code).toBe('policy-unknown-group')
  })
})

describe('test peers', () => {
  it('a test peer whose id or name differs from the named peer is refused, located', () => {
    const err = loadError(`version: 1
peers:
  alice: { id: ${ALICE}, name: alice.lan }
rules: []
tests:
  - peer: { named: alice, name: mallory.lan }
    cannot: ["get share:x"]
`)
    expect(err.code).toBe('policy-invalid')
    expect(err.message).toMatch(/^m\.yaml:6:\d+: test peer name "mallory\.lan" differs from peer "alice"/)
  })

  it('a peer known only by certificate name never matches an id: rule', () => {
    const p = loadPolicy(`version: 1
rules:
  - allow: [get]
    peers: ["id:${ALICE}"]
    resources: ["share:x"]
tests:
  - peer: { name: alice.lan }
    cannot: ["get share:x"]
`)
    expect(p.test().passed).toBe(true)
  })
})
