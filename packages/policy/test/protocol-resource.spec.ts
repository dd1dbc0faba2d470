import { describe, expect, it } from '@jest/globals'
import { loadPolicy } from '@peerguard/policy'
import fc from 'fast-check'

const POLICY = `
version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: echo-for-staff
    allow: [get]
    peers: [staff]
    resources: ["protocol:/app/echo/1.0.0"]
  - id: chat-any-version
    allow: [get]
    peers: [staff]
    resources: ["protocol:/app/chat/**"]
  - id: no-admin-protocols
    deny: [get]
    peers: [staff]
    resources: ["protocol:/app/admin/**"]
`

const staff = { peerId: 'PG-test', name: 'alice', groups: ['staff'] }
const guest = { peerId: 'PG-guest', name: 'guest', groups: ['guests'] }

describe('protocol: resources (libp2p protocol IDs)', () => {
  const policy = loadPolicy(POLICY)

  it('allows the named protocol and denies another one by default', () => {
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:/app/echo/1.0.0' })).toMatchObject({
      allowed: true,
      code: 'allow'
    })
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:/app/echo/2.0.0' })).toMatchObject({
      allowed: false,
      code: 'deny-default'
    })
    expect(policy.decide({ peer: guest, action: 'get', resource: 'protocol:/app/echo/1.0.0' }).allowed).toBe(false)
  })

  it('matches globs over the protocol path, and an explicit deny wins', () => {
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:/app/chat/2.1.0' }).allowed).toBe(true)
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:/app/admin/reset/1' })).toMatchObject({
      allowed: false,
      code: 'deny-rule'
    })
  })

  it('the leading / is optional: both spellings name the same protocol', () => {
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:app/echo/1.0.0' }).allowed).toBe(true)
  })

  it('refuses malformed protocol IDs with deny-invalid-resource', () => {
    for (const bad of ['protocol:', 'protocol:/', 'protocol://x', 'protocol:/a/../b', 'protocol:/a//b']) {
      expect(policy.decide({ peer: staff, action: 'get', resource: bad })).toMatchObject({ allowed: false })
    }
    expect(policy.decide({ peer: staff, action: 'get', resource: 'protocol:/a/../b' }).code).toBe('deny-invalid-resource')
  })

  it('a service: rule does not grant a protocol of the same name (kinds never mix)', () => {
    const p = loadPolicy(`
version: 1
groups: { staff: ["ou:staff"] }
rules:
  - { id: svc, allow: [get], peers: [staff], resources: ["service:app/echo/1.0.0"] }
`)
    expect(p.decide({ peer: staff, action: 'get', resource: 'protocol:/app/echo/1.0.0' }).allowed).toBe(false)
  })

  it('property: an allowed protocol ID is allowed exactly when it is under /app/chat/ or is the echo ID', () => {
    const segment = fc.stringMatching(/^[a-z0-9.-]{1,8}$/).filter((s) => s !== '.' && s !== '..')
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), (segs) => {
        const id = `/${segs.join('/')}`
        const d = policy.decide({ peer: staff, action: 'get', resource: `protocol:${id}` })
        const expected = id === '/app/echo/1.0.0' || (id.startsWith('/app/chat/') && id.length > '/app/chat/'.length)
        expect(d.allowed).toBe(expected)
      })
    )
  })
})
