import { describe, expect, it } from '@jest/globals'
import { diffPolicies, loadPolicy } from '@peerguard/policy'

const HEAD = `version: 1
peers:
  alice: { id: XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO }
  bob: { id: L2EZBYM-QJAY6EE-IEGS5WE-EIPLHKB-TILVGSM-7C6PCFF-DM3HFZY-JU34TQC }
  carol: { id: F6C6BNJ-KE2EJJG-N5HG6U2-ENKC5IW-LFW6KBI-G3QH4UV-4KDORCJ-ZJ3GLQU }
groups:
  staff: [alice, bob]
  guests: [carol]
`

describe('lint', () => {
  it('reports an allow shadowed by a deny, naming both', () => {
    const p = loadPolicy(`${HEAD}rules:
  - id: staff-reports
    allow: [read]
    peers: [alice]
    resources: ["share:docs/reports/**"]
  - id: no-docs
    deny: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: guests-public
    allow: [read]
    peers: [guests]
    resources: ["share:public"]
`)
    const findings = p.lint()
    expect(findings).toContainEqual(
      expect.objectContaining({
        code: 'policy-lint-shadowed',
        severity: 'error',
        subject: 'staff-reports',
        source: { line: 10, column: 5 }
      })
    )
    expect(findings.find((f) => f.code === 'policy-lint-shadowed')?.message).toContain('no-docs')
    expect(findings.some((f) => f.subject === 'guests-public')).toBe(false)
  })

  it('a conditional deny does not shadow (it may not apply)', () => {
    const p = loadPolicy(`${HEAD}rules:
  - allow: [read]
    peers: [staff, guests]
    resources: ["share:docs/**"]
  - deny: [read]
    peers: ["*"]
    resources: ["share:docs/**"]
    when: { time: "20:00-06:00" }
`)
    expect(p.lint().filter((f) => f.severity === 'error')).toEqual([])
  })

  it('unreachable rules, duplicates, unused groups and peers, overlaps', () => {
    const p = loadPolicy(`version: 1
peers:
  alice: { id: XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO }
  ghost: { id: P6GGV4S-5AVGGFY-ZNKG4SO-V4ELW2M-7MV5CXL-OWNFXJB-JPXIORC-TJQJQAA }
groups:
  empty: []
  also-empty: [empty]
  staff: [alice]
  unused: [alice]
rules:
  - id: nobody
    allow: [read]
    peers: [also-empty]
    resources: ["share:x"]
  - id: a
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: a-again
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: d
    deny: [write]
    peers: ["*"]
    resources: ["share:docs/**"]
`)
    const codes = p.lint().map((f) => `${f.code} ${f.subject}`)
    expect(codes).toEqual(
      expect.arrayContaining([
        'policy-lint-unreachable nobody',
        'policy-lint-duplicate a-again',
        'policy-lint-overlap a',
        'policy-lint-unused-group unused',
        'policy-lint-unused-peer ghost'
      ])
    )
    expect(codes).not.toContain('policy-lint-unused-group empty')
  })
})

describe('diff: semantic, not textual', () => {
  const v1 = loadPolicy(`${HEAD}rules:
  - id: staff-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: guests-public
    allow: [read]
    peers: [guests]
    resources: ["share:public"]
`)

  it('reordering rules, renaming ids and regrouping peers changes nothing', () => {
    const v2 = loadPolicy(`${HEAD.replace('staff: [alice, bob]', 'team: [alice]\n  staff: [team, bob]')}rules:
  - id: public
    allow: [list, get]
    peers: [carol]
    resources: ["share:public/**", "share:public"]
  - id: docs
    allow: [write, read]
    peers: [staff]
    resources: ["share:docs/**"]
`)
    expect(diffPolicies(v1, v2).changes).toEqual([])
  })

  it('lists the (peer, action, resource) decisions that change', () => {
    const v2 = loadPolicy(`${HEAD}rules:
  - id: staff-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: docs-read-only-for-bob
    deny: [write]
    peers: [bob]
    resources: ["share:docs/**"]
  - id: guests-public
    allow: [read]
    peers: [guests]
    resources: ["share:public"]
`)
    const { changes, checked } = diffPolicies(v1, v2)
    expect(checked).toBeGreaterThan(50)
    expect(changes.length).toBeGreaterThan(0)
    expect(
      changes.every(
        (c) => c.peer === 'bob' && ['put', 'delete', 'rename', 'print'].includes(c.action) && c.resource.startsWith('share:docs')
      )
    ).toBe(true)
    expect(changes[0]).toMatchObject({
      before: { code: 'allow', rule: 'staff-docs' },
      after: { code: 'deny-rule', rule: 'docs-read-only-for-bob' }
    })
  })

  it('sees changes that only show under a rule condition', () => {
    const base = `version: 1\nrules:\n  - id: r\n    allow: [get]\n    peers: ["*"]\n    resources: ["service:printer"]\n    when: { networks: ["10.0.0.0/8"] }\n`
    const changes = diffPolicies(loadPolicy(base), loadPolicy(base.replace('10.0.0.0/8', '10.1.0.0/16'))).changes
    expect(
      changes.some((c) => c.context.address === '10.0.0.0' && c.before.code === 'allow' && c.after.code === 'deny-default')
    ).toBe(true)
  })
})

describe('explain', () => {
  const p = loadPolicy(`${HEAD}rules:
  - id: staff-docs
    allow: [read]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: no-private
    deny: [read]
    peers: ["*"]
    resources: ["share:docs/private/**"]
  - id: small
    allow: [put]
    peers: [staff]
    resources: ["share:docs/**"]
    when: { max-size: 1KB }
`)

  it('lists every rule with why it matched or not, and marks the one that decided', () => {
    const e = p.explain({
      peer: { peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO' },
      action: 'get',
      resource: 'share:docs/private/x',
      context: {}
    })
    expect(e.decision.code).toBe('deny-rule')
    expect(e.rules.map((r) => r.id)).toEqual(['no-private', 'staff-docs', 'small'])
    const [deny, allow, small] = e.rules
    expect(deny).toMatchObject({ matched: true, decided: true })
    expect(allow).toMatchObject({ matched: true, decided: false })
    expect(small?.matched).toBe(false)
    expect(small?.why).toContain('action get not in put')
    expect(e.peer.groups).toEqual(['staff'])
  })

  it('explains failed conditions', () => {
    const e = p.explain({
      peer: { peerId: 'L2EZBYM-QJAY6EE-IEGS5WE-EIPLHKB-TILVGSM-7C6PCFF-DM3HFZY-JU34TQC' },
      action: 'put',
      resource: 'share:docs/a',
      context: { size: 5000 }
    })
    expect(e.decision.allowed).toBe(false)
    expect(e.rules.find((r) => r.id === 'small')?.why).toContain('size 5000 outside 0..1000 bytes')
  })
})

describe('tests block', () => {
  it('reports each failing assertion with the decision and the sample that failed', () => {
    const p = loadPolicy(`${HEAD}rules:
  - id: staff-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: guests-leak
    allow: [read]
    peers: [guests]
    resources: ["share:docs/public/**"]
tests:
  - name: guests never read docs
    peer: carol
    cannot: ["read share:docs/**"]
  - peer: alice
    can: ["write share:docs/a.txt"]
`)
    const report = p.test()
    expect(report).toMatchObject({ passed: false, total: 2, failed: 1 })
    const failed = report.results.find((r) => !r.passed)
    expect(failed).toMatchObject({ test: 'guests never read docs', expect: 'cannot', assertion: 'read share:docs/**' })
    expect(failed?.resource.startsWith('share:docs/public')).toBe(true)
    expect(failed?.decision?.rule?.id).toBe('guests-leak')
  })

  it('runs tests without a context time at a fixed reference time, whatever the clock says', () => {
    const text = `${HEAD}rules:
  - id: staff-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
  - id: no-deletes-at-night
    deny: [delete]
    peers: [staff]
    resources: ["share:docs/**"]
    when: { time: "21:00-07:00" }
tests:
  - peer: alice
    can: ["write share:docs/a.txt"]
  - peer: alice
    context: { time: "2025-06-01T23:15:00Z" }
    cannot: ["delete share:docs/a.txt"]
`
    for (const hour of [3, 12, 22]) {
      const clock = { now: () => Date.UTC(2026, 10, 25, hour, 30) }
      const p = loadPolicy(text, { clock })
      expect(p.test()).toMatchObject({ passed: true, total: 2, failed: 0 })
      // decide() itself still follows the clock: at night the delete is denied.
      const night = hour === 3 || hour === 22
      expect(
        p.decide({
          peer: { peerId: 'XHG7H2B-6THXFEN-KWQ4CAU-LT6FZHL-J3TGMAS-7IU4NQ7-J7P63R3-OJRL6QO' },
          action: 'delete',
          resource: 'share:docs/a.txt'
        }).allowed
      ).toBe(!night)
    }
  })
})
