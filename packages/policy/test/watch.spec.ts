import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { PeerguardError } from '@peerguard/interface'
import { createPolicyGate, type Policy, PolicyParseError, PolicyUnknownGroupError, watchPolicy } from '@peerguard/policy'

const policyText = (who: string) => `version: 1
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
rules:
  - id: docs
    allow: [read]
    peers: [${who}]
    resources: ["share:docs/**"]
`
const staff = { peerId: 'p1', groups: ['staff'] }
const guest = { peerId: 'p2', groups: ['guests'] }
const ask = (w: { decide: Policy['decide'] }, peer: typeof staff) =>
  w.decide({ peer, action: 'get', resource: 'share:docs/a' }).allowed

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-policy-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
})

function waitFor<T>(register: (resolve: (v: T) => void) => void, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for the watcher')), ms)
    register((v) => {
      clearTimeout(t)
      resolve(v)
    })
  })
}

describe('watchPolicy', () => {
  it('hot-reloads a valid edit and swaps it in', async () => {
    const file = join(dir, 'p.yaml')
    writeFileSync(file, policyText('staff'))
    let onReload: (p: Policy) => void = () => undefined
    const w = watchPolicy(file, { debounceMs: 10, onReload: (p) => onReload(p) })
    try {
      expect(ask(w, staff)).toBe(true)
      expect(ask(w, guest)).toBe(false)
      const reloaded = waitFor<Policy>((r) => (onReload = r))
      writeFileSync(file, policyText('guests'))
      const p = await reloaded
      expect(w.policy).toBe(p)
      expect(ask(w, staff)).toBe(false)
      expect(ask(w, guest)).toBe(true)
    } finally {
      w.close()
    }
  })

  it('an invalid edit keeps the old policy in force and reports the error (never fails open)', async () => {
    const file = join(dir, 'p.yaml')
    writeFileSync(file, policyText('staff'))
    let onError: (e: PeerguardError) => void = () => undefined
    const w = watchPolicy(file, { debounceMs: 10, onError: (e) => onError(e) })
    try {
      const before = w.policy
      const failed = waitFor<PeerguardError>((r) => (onError = r))
      writeFileSync(file, policyText('stafff'))
      const err = await failed
      expect(err).toBeInstanceOf(PolicyUnknownGroupError)
      expect(err.message).toContain(file)
      expect(w.policy).toBe(before)
      expect(ask(w, staff)).toBe(true)
      // Half-written YAML, reloaded by hand.
      writeFileSync(file, 'version: 1\nrules:\n  - id: [\n')
      const parse = waitFor<PeerguardError>((r) => (onError = r))
      expect(await w.reload()).toBe(false)
      expect(await parse).toBeInstanceOf(PolicyParseError)
      expect(w.policy).toBe(before)
      // A deleted file keeps the old policy too.
      rmSync(file)
      expect(await w.reload()).toBe(false)
      expect(ask(w, staff)).toBe(true)
    } finally {
      w.close()
    }
  })

  it('follows editors that replace the file by rename, and a gate sees the new policy', async () => {
    const file = join(dir, 'p.yaml')
    writeFileSync(file, policyText('staff'))
    let onReload: (p: Policy) => void = () => undefined
    const w = watchPolicy(file, { debounceMs: 10, onReload: (p) => onReload(p) })
    const gate = createPolicyGate(w)
    try {
      expect(gate.check(guest, 'get', 'share:docs/a').allowed).toBe(false)
      const reloaded = waitFor<Policy>((r) => (onReload = r))
      writeFileSync(join(dir, '.p.yaml.tmp'), policyText('guests'))
      renameSync(join(dir, '.p.yaml.tmp'), file)
      await reloaded
      expect(gate.check(guest, 'get', 'share:docs/a').allowed).toBe(true)
    } finally {
      w.close()
    }
  })

  it('refuses to start on an invalid file', () => {
    const file = join(dir, 'p.yaml')
    writeFileSync(file, 'version: 1\nrules: nope\n')
    expect(() => watchPolicy(file)).toThrow(expect.objectContaining({ code: 'policy-invalid' }) as unknown as Error)
    expect(() => watchPolicy('')).toThrow(expect.objectContaining({ code: 'invalid-argument' }) as unknown as Error)
  })
})
