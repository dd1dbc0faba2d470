import { describe, expect, it } from '@jest/globals'
import { InvalidArgumentError, type PeerInfo } from '@peerguard/interface'
import { createPolicyGate, loadPolicy, type PolicyPeer } from '@peerguard/policy'

const alice: PolicyPeer = {
  peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO',
  name: 'alice.lan',
  groups: []
}
const bob: PolicyPeer = {
  peerId: 'L2EZBYM-QJAY6EE-IEGS5WE-EIPLHKB-TILVGSM-7C6PCFF-DM3HFZY-JU34TQC',
  name: 'bob.lan',
  groups: ['staff']
}
const eve: PolicyPeer = { peerId: 'ZQTPDYC-KYNGI4Q-2DSPVLK-WL637H4-VEU6BNV-LRX7RXM-DL5VJ4A-UF34MQS', name: 'eve.lan', groups: [] }

const POLICY = `version: 1
peers:
  alice: { id: XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO }
  named-bob: { name: bob.lan }
  strict: { id: SI3KGJJ-MUZ3QTP-3AZZADX-XHXH6NJ-MBHNYXC-HOQV5NL-J5ZDEDT-RFN4ZQO, name: strict.lan }
groups:
  staff: [alice, "ou:staff"]
  admins: [staff]
resources:
  "share:secret": { require: [encrypted] }
rules:
  - id: allow-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: deny-private
    deny: [read]
    peers: ["*"]
    resources: ["share:docs/private/**"]
  - id: allow-private-again
    allow: [read]
    peers: [alice]
    resources: ["share:docs/private/**"]
  - id: list-only
    allow: [list]
    peers: [named-bob]
    resources: ["share:listing"]
  - id: whole-share
    allow: [get]
    peers: ["*"]
    resources: ["share:public"]
  - id: admin
    allow: [admin]
    peers: [admins]
    resources: ["share:docs"]
  - id: secret
    allow: [read]
    peers: [strict, "name:bob.lan"]
    resources: ["share:secret"]
`

const policy = loadPolicy(POLICY)
const decide = (peer: PolicyPeer, action: string, resource: string, context = {}) =>
  policy.decide({ peer, action, resource, context })

describe('decide: precedence', () => {
  it('default deny: nothing matches, nothing gets through', () => {
    const d = decide(eve, 'get', 'share:docs/a.txt')
    expect(d).toEqual({
      allowed: false,
      code: 'deny-default',
      reason: expect.stringContaining('default deny'),
      matchedGroups: []
    })
  })

  it('deny wins over an allow written before and after it', () => {
    const d = decide(alice, 'get', 'share:docs/private/plan.txt')
    expect(d.allowed).toBe(false)
    expect(d.code).toBe('deny-rule')
    expect(d.rule?.id).toBe('deny-private')
    expect(d.rule?.source?.line).toBe(16)
    expect(decide(alice, 'put', 'share:docs/private/plan.txt').allowed).toBe(true)
  })

  it('an allow names the deciding rule, its location and the matched groups', () => {
    const d = decide(alice, 'put', 'share:docs/a.txt')
    expect(d).toEqual({
      allowed: true,
      code: 'allow',
      rule: { id: 'allow-docs', source: { line: 12, column: 5 } },
      reason: 'allowed by rule "allow-docs" (peers: staff)',
      matchedGroups: ['staff']
    })
    expect(JSON.parse(JSON.stringify(d))).toEqual(d)
  })

  it('deny rules apply to hidden files too (globs match dot files)', () => {
    expect(decide(alice, 'get', 'share:docs/private/.ssh/id_ed25519').code).toBe('deny-rule')
    expect(decide(alice, 'get', 'share:docs/.git/config').allowed).toBe(true)
  })
})

describe('decide: verbs and classes', () => {
  it('read = list + get; write = put + delete + rename + print', () => {
    for (const v of ['list', 'get', 'read', 'put', 'delete', 'rename', 'print', 'write']) {
      expect(decide(alice, v, 'share:docs/a.txt').allowed).toBe(true)
    }
  })

  it('asking about a class needs every verb in it', () => {
    expect(decide(bob, 'list', 'share:listing').allowed).toBe(true)
    expect(decide(bob, 'get', 'share:listing').allowed).toBe(false)
    expect(decide(bob, 'read', 'share:listing').allowed).toBe(false)
  })

  it('admin is never implied by write', () => {
    expect(decide(bob, 'write', 'share:docs/a').allowed).toBe(true)
    expect(decide(bob, 'admin', 'share:docs/a').allowed).toBe(true)
    const onlyWrite = loadPolicy('version: 1\nrules:\n  - allow: [read, write]\n    peers: ["*"]\n    resources: ["share:x"]\n')
    expect(onlyWrite.decide({ peer: eve, action: 'admin', resource: 'share:x/a' }).allowed).toBe(false)
  })
})

describe('decide: resources', () => {
  it('a share pattern without / names the whole share, and nothing else', () => {
    expect(decide(eve, 'get', 'share:public').allowed).toBe(true)
    expect(decide(eve, 'get', 'share:public/a/b/c.txt').allowed).toBe(true)
    expect(decide(eve, 'get', 'share:publicity/a.txt').allowed).toBe(false)
    expect(decide(eve, 'get', 'swarm:public').allowed).toBe(false)
  })

  it('paths that are not normalised are refused, not matched', () => {
    for (const r of ['share:public/../docs/a', 'share:public//a', 'share:public/./a', 'share:/public/a', 'share:public\\a']) {
      expect(decide(eve, 'get', r).code).toBe('deny-invalid-resource')
    }
  })

  it('require: encrypted denies a plain or unknown channel', () => {
    expect(decide(bob, 'get', 'share:secret/a', { encrypted: true }).allowed).toBe(true)
    expect(decide(bob, 'get', 'share:secret/a', { encrypted: false }).code).toBe('deny-requirement')
    expect(decide(bob, 'get', 'share:secret/a').code).toBe('deny-requirement')
    expect(policy.requirements('share:secret/a')).toEqual({ encrypted: true, rules: ['require:share:secret'] })
    expect(policy.requirements('share:docs/a').encrypted).toBe(false)
  })
})

describe('decide: peers', () => {
  it('matches by peer ID, certificate name, certificate group (OU) and nested groups', () => {
    expect(decide(alice, 'admin', 'share:docs/x').allowed).toBe(true)
    expect(decide(bob, 'admin', 'share:docs/x').matchedGroups).toEqual(['admins'])
    expect(decide({ peerId: 'other', name: 'bob.lan' }, 'list', 'share:listing').allowed).toBe(true)
    expect(
      decide(
        { peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO', name: 'not-alice' },
        'get',
        'share:docs/a'
      ).allowed
    ).toBe(true)
  })

  it('a peer defined by ID and name needs both', () => {
    expect(
      decide(
        { peerId: 'SI3KGJJ-MUZ3QTP-3AZZADX-XHXH6NJ-MBHNYXC-HOQV5NL-J5ZDEDT-RFN4ZQO', name: 'strict.lan' },
        'get',
        'share:secret/a',
        { encrypted: true }
      ).allowed
    ).toBe(true)
    expect(
      decide(
        { peerId: 'SI3KGJJ-MUZ3QTP-3AZZADX-XHXH6NJ-MBHNYXC-HOQV5NL-J5ZDEDT-RFN4ZQO', name: 'other' },
        'get',
        'share:secret/a',
        { encrypted: true }
      ).allowed
    ).toBe(false)
    expect(
      decide(
        { peerId: '2FXOVH2-SECUGTQ-PVQZWTL-R7GC62Q-EFJLWN2-JKMFEMY-AXO63EH-TWHO4QG', name: 'strict.lan' },
        'get',
        'share:secret/a',
        { encrypted: true }
      ).allowed
    ).toBe(false)
  })

  it('accepts a PeerInfo from a channel as it is', () => {
    const info: PeerInfo = {
      peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO',
      publicKey: new Uint8Array(32),
      groups: [],
      address: '127.0.0.1:5000'
    }
    expect(policy.decide({ peer: info, action: 'get', resource: 'share:docs/a' }).allowed).toBe(true)
  })

  it('cached per peer, but a changed peer object is compiled afresh', () => {
    const p = { peerId: 'DLSSTGU-VIYJVYN-UQO2XIT-X3MTOF2-W5LLHPG-VXM2HWT-LQKL2EF-VAWK3A6', groups: ['staff'] }
    expect(decide(p, 'get', 'share:docs/a').allowed).toBe(true)
    expect(decide({ ...p, groups: [] }, 'get', 'share:docs/a').allowed).toBe(false)
  })
})

describe('decide: conditions', () => {
  const cond = loadPolicy(`version: 1
utc-offset: "+02:00"
rules:
  - id: small-uploads
    allow: [put]
    peers: ["*"]
    resources: ["share:in/**"]
    when: { max-size: 1MB }
  - id: office-hours
    allow: [get]
    peers: ["*"]
    resources: ["share:in/**"]
    when: { time: "08:00-18:00", days: [mon, tue, wed, thu, fri] }
  - id: night
    allow: [list]
    peers: ["*"]
    resources: ["share:in/**"]
    when: { time: "22:00-06:00" }
  - id: lan
    allow: [delete]
    peers: ["*"]
    resources: ["share:in/**"]
    when: { networks: ["192.168.1.0/24", "fd00::/8"] }
  - id: no-big
    deny: [rename]
    peers: ["*"]
    resources: ["share:in/**"]
    when: { min-size: 1GB }
  - id: rename-ok
    allow: [rename]
    peers: ["*"]
    resources: ["share:in/**"]
`)
  const d = (action: string, context: object) => cond.decide({ peer: eve, action, resource: 'share:in/f', context }).allowed
  // 2025-03-04 is a Tuesday.
  const at = (iso: string) => Date.parse(iso)

  it('sizes: an allow needs a known size within bounds', () => {
    expect(d('put', { size: 1_000_000 })).toBe(true)
    expect(d('put', { size: 1_000_001 })).toBe(false)
    expect(d('put', {})).toBe(false)
  })

  it('a deny with a condition applies when the fact is unknown (fail closed)', () => {
    expect(d('rename', { size: 10 })).toBe(true)
    expect(d('rename', { size: 2e9 })).toBe(false)
    expect(d('rename', {})).toBe(false)
  })

  it('time windows and weekdays, in the policy UTC offset', () => {
    expect(d('get', { time: at('2025-03-04T08:30:00+02:00') })).toBe(true)
    expect(d('get', { time: at('2025-03-04T07:59:00+02:00') })).toBe(false)
    expect(d('get', { time: at('2025-03-04T06:30:00Z') })).toBe(true)
    expect(d('get', { time: at('2025-03-04T18:00:00+02:00') })).toBe(false)
    expect(d('get', { time: at('2025-03-08T10:00:00+02:00') })).toBe(false)
    expect(d('get', { time: new Date('2025-03-07T10:00:00+02:00') })).toBe(true)
  })

  it('windows that wrap midnight', () => {
    expect(d('list', { time: at('2025-03-04T23:00:00+02:00') })).toBe(true)
    expect(d('list', { time: at('2025-03-04T05:59:00+02:00') })).toBe(true)
    expect(d('list', { time: at('2025-03-04T06:00:00+02:00') })).toBe(false)
    expect(d('list', { time: at('2025-03-04T12:00:00+02:00') })).toBe(false)
  })

  it('the clock is injected when a request has no time', () => {
    const p = loadPolicy(
      `version: 1\nrules:\n  - allow: [get]\n    peers: ["*"]\n    resources: ["share:x"]\n    when: { time: "08:00-09:00" }\n`,
      {
        clock: { now: () => Date.parse('2025-01-01T08:30:00Z') }
      }
    )
    expect(p.decide({ peer: eve, action: 'get', resource: 'share:x/a' }).allowed).toBe(true)
  })

  it('source networks: IPv4, IPv6, with ports, from the context or the peer', () => {
    expect(d('delete', { address: '192.168.1.77' })).toBe(true)
    expect(d('delete', { address: '192.168.1.77:445' })).toBe(true)
    expect(d('delete', { address: '192.168.2.1' })).toBe(false)
    expect(d('delete', { address: '[fd12::1]:445' })).toBe(true)
    expect(d('delete', { address: '::ffff:192.168.1.5' })).toBe(true)
    expect(d('delete', { address: 'fe80::1' })).toBe(false)
    expect(d('delete', { address: 'garbage' })).toBe(false)
    expect(d('delete', {})).toBe(false)
    expect(cond.decide({ peer: { ...eve, address: '192.168.1.3:9' }, action: 'delete', resource: 'share:in/f' }).allowed).toBe(
      true
    )
  })
})

describe('decide: argument checks', () => {
  it.each([
    [null],
    [{}],
    [{ peer: null, action: 'get', resource: 'share:a' }],
    [{ peer: { peerId: 1 }, action: 'get', resource: 'share:a' }],
    [{ peer: { peerId: 'a', groups: 'staff' }, action: 'get', resource: 'share:a' }],
    [{ peer: alice, action: 'steal', resource: 'share:a' }],
    [{ peer: alice, action: { toString: 1 }, resource: 'share:a' }],
    [{ peer: alice, action: Object.create(null), resource: 'share:a' }],
    [{ peer: alice, action: 'get', resource: 42 }],
    [{ peer: alice, action: 'get', resource: 'nfs:a' }],
    [{ peer: alice, action: 'get', resource: `share:${'a'.repeat(5000)}` }],
    [{ peer: alice, action: 'get', resource: 'share:a', context: { size: -1 } }],
    [{ peer: alice, action: 'get', resource: 'share:a', context: { time: 'noon' } }],
    [{ peer: alice, action: 'get', resource: 'share:a', context: 'x' }]
  ])('bad request #%# throws InvalidArgumentError', (request) => {
    expect(() => policy.decide(request as never)).toThrow(InvalidArgumentError)
  })
})

describe('createPolicyGate', () => {
  it('checks per operation and reports each decision', () => {
    const seen: string[] = []
    const gate = createPolicyGate(policy, { onDecision: (req, d) => seen.push(`${req.action} ${req.resource} ${d.code}`) })
    expect(gate.check(alice, 'get', 'share:docs/a').allowed).toBe(true)
    expect(gate.check(eve, 'put', 'share:docs/a').allowed).toBe(false)
    expect(gate.requiresEncryption('share:secret/x')).toBe(true)
    expect(seen).toEqual(['get share:docs/a allow', 'put share:docs/a deny-default'])
    expect(() => createPolicyGate({} as never)).toThrow(InvalidArgumentError)
  })
})
