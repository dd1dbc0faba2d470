import { afterEach, describe, expect, it } from '@jest/globals'
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { openDecisionLog, verifyDecisionLog, verifyDecisionLogFile, type DecisionRecord } from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { descriptorsUnder, openToCrash } from './crash-log.js'

const alice = generateKeyPair()
const mallory = generateKeyPair()

// every log a test opens is closed or crashed by it: no descriptor is left to the garbage collector (DEP0137)
afterEach(() => expect(descriptorsUnder(join(tmpdir(), 'pg-log-'))).toEqual([]))

function op(i: number, allowed = i % 3 !== 0): DecisionRecord {
  return {
    kind: 'operation',
    allowed,
    code: allowed ? 'allow' : 'deny-rule',
    reason: allowed ? 'staff may read' : 'guests may not write',
    peer: { peerId: 'BOB', name: 'bob', groups: ['guest'] },
    action: allowed ? 'read' : 'write',
    verb: allowed ? 'read' : 'write',
    resource: `share:docs/file-${i}.txt`,
    ...(allowed ? { rule: { id: 'staff-read' } } : {})
  }
}

async function makeLog(n: number, every = 4): Promise<{ dir: string; path: string; text: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-log-'))
  const path = join(dir, 'decisions.jsonl')
  const log = await openDecisionLog({ path, identity: alice, checkpointEvery: every, checkpointIntervalMs: 0 })
  await log.append({
    kind: 'connection',
    event: 'accepted',
    code: 'allow',
    reason: 'certificate verified',
    peer: { peerId: 'BOB' },
    mode: 'hardened'
  })
  for (let i = 0; i < n; i++) await log.append(op(i))
  await log.close()
  return { dir, path, text: await readFile(path, 'utf8') }
}

const lines = (text: string): string[] => text.split('\n').slice(0, -1)
const join_ = (ls: string[]): string => `${ls.join('\n')}\n`

describe('decision log: writing and verifying', () => {
  it('an untouched log verifies with the pinned key, every entry signed', async () => {
    const { dir, path, text } = await makeLog(10)
    const report = await verifyDecisionLogFile(path, { key: peerIdFromPublicKey(alice.publicKey).toString() })
    expect(report.ok).toBe(true)
    expect(report.entries).toBe(lines(text).length)
    expect(report.checkpoints).toBeGreaterThanOrEqual(3)
    expect(report.unsignedTail).toBe(0)
    expect(report.firstBad).toBeUndefined()
    expect(report.signer).toBe(peerIdFromPublicKey(alice.publicKey).toString())
    // each line is standalone JSON with the chain fields
    const first = JSON.parse(lines(text)[0] as string)
    expect(first).toMatchObject({ v: 1, seq: 0, kind: 'connection', event: 'accepted', prev: '0'.repeat(64) })
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/)
    await rm(dir, { recursive: true })
  })

  it('finds an edited entry and names it', async () => {
    const { dir, text } = await makeLog(10)
    const ls = lines(text)
    ls[3] = (ls[3] as string)
      .replace('"allowed":false', '"allowed":true')
      .replace('"allowed":true,"code":"allow"', '"allowed":false,"code":"allow"')
    ls[3] = (ls[3] as string).replace('file-2', 'file-X')
    const report = verifyDecisionLog(join_(ls))
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ code: 'log-entry-hash-mismatch', line: 4 })
    expect(report.entries).toBe(3)
    await rm(dir, { recursive: true })
  })

  it('finds an edit whose hash was recomputed: the chain breaks at the next entry', async () => {
    const { dir, text } = await makeLog(10)
    const { sealEntryForTest } = await helpers()
    const ls = lines(text)
    const f = JSON.parse(ls[2] as string)
    delete f.hash
    f.reason = 'forged'
    ls[2] = sealEntryForTest(f)
    const report = verifyDecisionLog(join_(ls))
    expect(report.firstBad).toMatchObject({ code: 'log-chain-broken', line: 4 })
    await rm(dir, { recursive: true })
  })

  it('finds a rewritten suffix (chain recomputed) at the next checkpoint signature', async () => {
    const { dir, text } = await makeLog(10)
    const { sealEntryForTest } = await helpers()
    const ls = lines(text)
    let prev = JSON.parse(ls[0] as string).hash as string
    let firstCheckpoint = -1
    for (let i = 1; i < ls.length; i++) {
      const f = JSON.parse(ls[i] as string)
      delete f.hash
      if (i === 1) f.reason = 'forged'
      if (f.kind === 'checkpoint') {
        if (firstCheckpoint === -1) firstCheckpoint = i
        f.head = prev
      }
      f.prev = prev
      ls[i] = sealEntryForTest(f)
      prev = JSON.parse(ls[i] as string).hash
    }
    const report = verifyDecisionLog(join_(ls))
    expect(report.firstBad).toMatchObject({ code: 'log-checkpoint-invalid', line: firstCheckpoint + 1 })
    await rm(dir, { recursive: true })
  })

  it('finds deleted, reordered and inserted entries', async () => {
    const { dir, text } = await makeLog(10)
    const ls = lines(text)
    const deleted = [...ls]
    deleted.splice(5, 1)
    expect(verifyDecisionLog(join_(deleted)).firstBad).toMatchObject({ code: 'log-sequence-broken', line: 6 })
    const swapped = [...ls]
    ;[swapped[2], swapped[3]] = [swapped[3] as string, swapped[2] as string]
    expect(verifyDecisionLog(join_(swapped)).firstBad).toMatchObject({ code: 'log-sequence-broken', line: 3 })
    const inserted = [...ls]
    inserted.splice(4, 0, ls[1] as string)
    expect(verifyDecisionLog(join_(inserted)).firstBad).toMatchObject({ code: 'log-sequence-broken', line: 5 })
    await rm(dir, { recursive: true })
  })

  it('reports a torn tail and verifies everything before it', async () => {
    const { dir, text } = await makeLog(10)
    const cut = text.slice(0, text.length - 20)
    const report = verifyDecisionLog(cut)
    expect(report.ok).toBe(false)
    expect(report.tornTail).toBeDefined()
    expect(report.firstBad).toBeUndefined()
    expect(report.entries).toBe(lines(text).length - 1)
    await rm(dir, { recursive: true })
  })

  it('finds truncation after the last checkpoint with the saved head file, and counts unsigned entries', async () => {
    const { dir, path, text } = await makeLog(10)
    const ls = lines(text)
    // cut the final checkpoint and the entries before it back to the previous checkpoint
    const lastCp = ls.findLastIndex((l, i) => i < ls.length - 1 && JSON.parse(l).kind === 'checkpoint')
    await writeFile(path, join_(ls.slice(0, lastCp + 1)))
    const report = await verifyDecisionLogFile(path, { key: alice.publicKey })
    expect(report.ok).toBe(false)
    expect(report.firstBad?.code).toBe('log-truncated')
    // without the head file, whole entries after a checkpoint are reported as an unsigned tail
    const tail = verifyDecisionLog(join_(ls.slice(0, lastCp + 3)))
    expect(tail.ok).toBe(true)
    expect(tail.unsignedTail).toBe(2)
    expect(tail.warnings.join(' ')).toMatch(/not signed/)
    await rm(dir, { recursive: true })
  })

  it('rejects checkpoints from another key when the key is pinned', async () => {
    const { dir, text } = await makeLog(6)
    // signed throughout by another key: a wrong signer, not tampering
    expect(verifyDecisionLog(text, { key: mallory.publicKey }).firstBad?.code).toBe('log-wrong-signer')
    expect(verifyDecisionLog(text).warnings.join(' ')).toMatch(/not pinned/)
    await rm(dir, { recursive: true })
  })

  it('reopening after a crash mid-write cuts the torn tail and records the recovery', async () => {
    const { dir, path } = await makeLog(5)
    // the node appends two more entries and crashes (no close, no checkpoint) in the middle of the second
    const crashed = await openToCrash({ path, identity: alice, checkpointIntervalMs: 0 })
    await crashed.log.append(op(50))
    await crashed.log.append(op(51))
    await crashed.crash()
    const text = await readFile(path, 'utf8')
    await truncate(path, Buffer.byteLength(text) - 7)
    const log = await openDecisionLog({ path, identity: alice, checkpointIntervalMs: 0 })
    await log.append(op(100))
    await log.close()
    const report = await verifyDecisionLogFile(path, { key: alice.publicKey })
    expect(report.ok).toBe(true)
    const kinds = lines(await readFile(path, 'utf8')).map((l) => JSON.parse(l).kind)
    expect(kinds).toContain('recovery')
    await rm(dir, { recursive: true })
  })

  it('refuses to append to a tampered log, and to a log signed by another key', async () => {
    const { dir, path, text } = await makeLog(5)
    await expect(openDecisionLog({ path, identity: mallory })).rejects.toMatchObject({ code: 'log-wrong-signer' })
    await writeFile(path, text.replace('file-1', 'file-9'))
    await expect(openDecisionLog({ path, identity: alice })).rejects.toMatchObject({ code: 'log-entry-hash-mismatch' })
    await rm(dir, { recursive: true })
  })

  it('concurrent appends keep the chain in call order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-log-'))
    const path = join(dir, 'd.jsonl')
    const log = await openDecisionLog({ path, identity: alice, checkpointEvery: 16, checkpointIntervalMs: 0 })
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(op(i))))
    await log.close()
    const seqs = results.map((r) => r.seq)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    const report = await verifyDecisionLogFile(path, { key: alice.publicKey })
    expect(report.ok).toBe(true)
    expect(report.entries).toBeGreaterThan(100)
    await rm(dir, { recursive: true })
  })

  it('checks its arguments', async () => {
    const bad = [
      () => verifyDecisionLog(42 as unknown as string),
      () => verifyDecisionLog('', { key: 'not-a-peer-id' }),
      () => verifyDecisionLog('', { key: new Uint8Array(3) })
    ]
    for (const f of bad) {
      let err: unknown
      try {
        f()
      } catch (e) {
        err = e
      }
      expect(isPeerguardError(err)).toBe(true)
    }
    await expect(openDecisionLog({ path: '', identity: alice })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(
      openDecisionLog({ path: '/tmp/x', identity: { publicKey: new Uint8Array(1), secretKey: new Uint8Array(64) } })
    ).rejects.toMatchObject({ code: 'invalid-argument' })
    const dir = await mkdtemp(join(tmpdir(), 'pg-log-'))
    const log = await openDecisionLog({ path: join(dir, 'l'), identity: alice, checkpointIntervalMs: 0 })
    expect(() => log.append({ kind: 'nope' } as unknown as DecisionRecord)).toThrow(/record.kind/)
    expect(() => log.append({ ...op(1), seq: 5 } as unknown as DecisionRecord)).toThrow(/reserved/)
    // a record whose line would exceed the verifier's limit is refused before the chain moves on
    const huge = { ...op(1), resource: '\u0001'.repeat(8192), reason: '\u0002'.repeat(4096) } as DecisionRecord
    expect(() => log.append(huge)).toThrow(/more than 65536/)
    await log.append(op(2))
    await log.close()
    await expect(log.append(op(1))).rejects.toMatchObject({ code: 'aborted' })
    await expect(verifyDecisionLogFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'not-found' })
    await rm(dir, { recursive: true })
  })

  it('property: any single-byte change or line drop is found or reported, never silently accepted', async () => {
    const { dir, text } = await makeLog(12)
    const bytes = Buffer.from(text)
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (pos, delta) => {
        const copy = Buffer.from(bytes)
        copy[pos] = ((copy[pos] as number) + delta) % 256
        const r = verifyDecisionLog(copy, { key: alice.publicKey })
        return r.ok === false
      }),
      { numRuns: 300 }
    )
    fc.assert(
      fc.property(fc.nat(lines(text).length - 2), (i) => {
        const ls = lines(text)
        ls.splice(i, 1)
        return verifyDecisionLog(join_(ls), { key: alice.publicKey }).ok === false
      })
    )
    // garbage never throws
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (g) => typeof verifyDecisionLog(g).ok === 'boolean'))
    await rm(dir, { recursive: true })
  })
  it('property: any record round-trips — appended, verified, read back field for field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-log-'))
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            allowed: fc.boolean(),
            code: fc.string({ minLength: 1, maxLength: 40 }),
            reason: fc.string({ maxLength: 200, unit: 'binary' }),
            resource: fc.string({ maxLength: 100, unit: 'grapheme' }),
            name: fc.string({ maxLength: 30, unit: 'binary' })
          }),
          { minLength: 1, maxLength: 12 }
        ),
        async (records) => {
          const path = join(dir, `p-${n++}.jsonl`)
          const log = await openDecisionLog({ path, identity: alice, checkpointEvery: 5, checkpointIntervalMs: 0 })
          for (const r of records) {
            await log.append({
              kind: 'operation',
              allowed: r.allowed,
              code: r.code,
              reason: r.reason,
              action: 'read',
              verb: 'get',
              resource: r.resource,
              peer: { name: r.name }
            })
          }
          await log.close()
          const text = await readFile(path, 'utf8')
          const report = verifyDecisionLog(text, { key: alice.publicKey })
          expect(report.ok).toBe(true)
          const ops = lines(text)
            .map((l) => JSON.parse(l))
            .filter((e) => e.kind === 'operation')
          expect(
            ops.map((e) => ({ allowed: e.allowed, code: e.code, reason: e.reason, resource: e.resource, name: e.peer.name }))
          ).toEqual(records)
        }
      ),
      { numRuns: 40 }
    )
    await rm(dir, { recursive: true })
  })
})

async function helpers(): Promise<{ sealEntryForTest: (f: Record<string, unknown>) => string }> {
  const { createHash } = await import('node:crypto')
  return {
    sealEntryForTest(f) {
      const body = JSON.stringify(f)
      return `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
    }
  }
}
