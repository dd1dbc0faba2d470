/**
 * A decision log that cannot be laundered (issue 11 item 5): the node re-opens a log only when it
 * matches its signed head and every entry after the last checkpoint is its own; otherwise it
 * refuses with a specific code. Real files, real keys.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  createCheckpointShipper,
  type DecisionRecord,
  openDecisionLog,
  verifyDecisionLog,
  verifyDecisionLogFile
} from '@peerguard/decision-log'
import { parseHead, type SignedHead } from '@peerguard/decision-log/format'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { descriptorsUnder, openToCrash } from './crash-log.js'

const alice = generateKeyPair()
const mallory = generateKeyPair()
const ALICE = peerIdFromPublicKey(alice.publicKey).toString()

function op(i: number): DecisionRecord {
  return {
    kind: 'operation',
    allowed: true,
    code: 'allow',
    reason: 'staff may read',
    peer: { peerId: 'BOB', name: 'bob' },
    action: 'read',
    verb: 'get',
    resource: `share:docs/file-${i}.txt`
  }
}

const lines = (text: string): string[] => text.split('\n').slice(0, -1)
const joinLines = (ls: string[]): string => `${ls.join('\n')}\n`

/** A log of `n` operations with a checkpoint every `every`, closed (final checkpoint + head). */
async function makeLog(n: number, every = 4): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-launder-'))
  const path = join(dir, 'decisions.jsonl')
  const log = await openDecisionLog({ path, identity: alice, checkpointEvery: every, checkpointIntervalMs: 0 })
  for (let i = 0; i < n; i++) await log.append(op(i))
  await log.close()
  return { dir, path }
}

/** An entry sealed like the writer does, but without the node's MAC (what an attacker can make). */
function forge(prevLine: string, fields: Record<string, unknown>): string {
  const prev = JSON.parse(prevLine) as { seq: number; hash: string }
  const body = JSON.stringify({ v: 1, seq: prev.seq + 1, ts: new Date().toISOString(), ...fields, prev: prev.hash })
  return `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
}

const reopen = (path: string) => openDecisionLog({ path, identity: alice, checkpointIntervalMs: 0 })

// every log a test opens is closed or crashed by it: no descriptor is left to the garbage collector (DEP0137)
afterEach(() => expect(descriptorsUnder(join(tmpdir(), 'pg-launder-'))).toEqual([]))

describe('decision log: not launderable', () => {
  it('a new log starts with a signed genesis head; each checkpoint replaces it with a signed head', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-launder-'))
    const path = join(dir, 'd.jsonl')
    const log = await openDecisionLog({ path, identity: alice, checkpointEvery: 3, checkpointIntervalMs: 0 })
    const genesis = parseHead(await readFile(`${path}.head`, 'utf8'))
    expect(genesis).toMatchObject({ ok: true, head: { entries: 0, signer: ALICE } })
    for (let i = 0; i < 5; i++) await log.append(op(i))
    await log.close()
    const head = parseHead(await readFile(`${path}.head`, 'utf8'))
    expect(head.ok).toBe(true)
    const ls = lines(await readFile(path, 'utf8'))
    expect(head.ok && head.head.entries).toBe(ls.length)
    expect(head.ok && head.head.hash).toBe(JSON.parse(ls[ls.length - 1] as string).hash)
    // the head's signature is over its own domain: a checkpoint signature does not verify as a head
    const cp = JSON.parse(ls[ls.length - 1] as string)
    const fake = JSON.stringify({ v: 1, entries: ls.length, hash: cp.hash, signer: ALICE, sig: cp.sig })
    expect(parseHead(fake)).toMatchObject({ ok: false, code: 'log-head-invalid' })
    await rm(dir, { recursive: true })
  })

  it('truncation to an earlier checkpoint + restart is refused (log-truncated) and verify is not OK', async () => {
    const { dir, path } = await makeLog(10)
    const ls = lines(await readFile(path, 'utf8'))
    const earlier = ls.findIndex((l) => JSON.parse(l).kind === 'checkpoint')
    await writeFile(path, joinLines(ls.slice(0, earlier + 1)))
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-truncated' })
    const report = await verifyDecisionLogFile(path, { key: ALICE })
    expect(report.ok).toBe(false)
    expect(report.firstBad?.code).toBe('log-truncated')
    // the refusal changed nothing: the evidence is still there
    expect(lines(await readFile(path, 'utf8'))).toHaveLength(earlier + 1)
    await rm(dir, { recursive: true })
  })

  it('appended unsigned forged entries + restart are refused (log-tail-forged), at the first forged line', async () => {
    const { dir, path } = await makeLog(6)
    const ls = lines(await readFile(path, 'utf8'))
    const f1 = forge(ls[ls.length - 1] as string, {
      kind: 'operation',
      allowed: true,
      code: 'allow',
      reason: 'x',
      action: 'read',
      verb: 'get',
      resource: 'share:docs/secret'
    })
    const f2 = forge(f1, {
      kind: 'operation',
      allowed: true,
      code: 'allow',
      reason: 'y',
      action: 'read',
      verb: 'get',
      resource: 'share:docs/secret2'
    })
    await writeFile(path, joinLines([...ls, f1, f2]))
    const err = await reopen(path).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'log-tail-forged', details: { line: ls.length + 1, entries: 2 } })
    await rm(dir, { recursive: true })
  })

  it('a forged entry copied between genuine unsigned entries is found too (the MAC binds the content)', async () => {
    const { dir, path } = await makeLog(4)
    // the node writes two more entries and dies before its next checkpoint
    const crashed = await openToCrash({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0 })
    await crashed.log.append(op(50))
    await crashed.log.append(op(51))
    await crashed.crash()
    const ls = lines(await readFile(path, 'utf8'))
    // an attacker replaces the last one by a different entry at the same position, keeping its MAC
    const last = JSON.parse(ls[ls.length - 1] as string)
    const edited = (ls[ls.length - 1] as string).replace('file-51', 'file-99')
    const body = edited.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}')
    ls[ls.length - 1] = `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
    expect(last.mac).toMatch(/^[0-9a-f]{64}$/)
    await writeFile(path, joinLines(ls))
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-tail-forged', details: { line: ls.length } })
    await rm(dir, { recursive: true })
  })

  it("the node's own unsigned entries after a crash are adopted, and the log verifies afterwards", async () => {
    const { dir, path } = await makeLog(4)
    const crashed = await openToCrash({ path, identity: alice, checkpointEvery: 100, checkpointIntervalMs: 0 })
    for (let i = 0; i < 3; i++) await crashed.log.append(op(100 + i))
    await crashed.crash()
    const before = lines(await readFile(path, 'utf8')).length
    const log = await reopen(path)
    expect(log.entries).toBe(before)
    await log.append(op(200))
    await log.close()
    const report = await verifyDecisionLogFile(path, { key: ALICE })
    expect(report).toMatchObject({ ok: true, unsignedTail: 0 })
    await rm(dir, { recursive: true })
  })

  it('a deleted head is log-head-missing; an edited or unsigned head is log-head-invalid', async () => {
    const { dir, path } = await makeLog(8)
    const headText = await readFile(`${path}.head`, 'utf8')
    await unlink(`${path}.head`)
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-head-missing' })
    // rewritten to vouch for fewer entries (to hide a truncation): the signature no longer verifies
    const h = JSON.parse(headText)
    const ls = lines(await readFile(path, 'utf8'))
    await writeFile(`${path}.head`, JSON.stringify({ ...h, entries: 5, hash: JSON.parse(ls[4] as string).hash }))
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-head-invalid' })
    expect((await verifyDecisionLogFile(path, { key: ALICE })).firstBad?.code).toBe('log-head-invalid')
    // the unsigned head of an older peerguard
    await writeFile(`${path}.head`, JSON.stringify({ seq: h.entries - 1, hash: h.hash, count: h.entries - 1, signer: ALICE }))
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-head-invalid' })
    // a head signed by another node
    await writeFile(`${path}.head`, headText.replace(ALICE, peerIdFromPublicKey(mallory.publicKey).toString()))
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-head-invalid' })
    await rm(dir, { recursive: true })
  })

  it('a deleted log whose head remains is log-truncated', async () => {
    const { dir, path } = await makeLog(3)
    await unlink(path)
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-truncated' })
    await writeFile(path, '')
    await expect(reopen(path)).rejects.toMatchObject({ code: 'log-truncated' })
    await rm(dir, { recursive: true })
  })

  it('a wrong key is a wrong signer, not tampering; mixed signers are tampering', async () => {
    const { dir, path } = await makeLog(8)
    const wrong = await verifyDecisionLogFile(path, { key: mallory.publicKey })
    expect(wrong.ok).toBe(false)
    expect(wrong.firstBad?.code).toBe('log-wrong-signer')
    expect(wrong.firstBad?.message).toContain(ALICE)
    expect(wrong.entries).toBe(lines(await readFile(path, 'utf8')).length)
    await expect(openDecisionLog({ path, identity: mallory, checkpointIntervalMs: 0 })).rejects.toMatchObject({
      code: 'log-wrong-signer'
    })
    // mallory appends her own checkpoint-signed entries to alice's log: tampering at her checkpoint
    const mixed = await mkdtemp(join(tmpdir(), 'pg-launder-'))
    const ls = lines(await readFile(path, 'utf8'))
    const { sign } = await import('@peerguard/identity')
    const last = JSON.parse(ls[ls.length - 1] as string)
    const msg = new TextEncoder().encode(`peerguard decision log checkpoint v1\n${ls.length}\n${last.hash}`)
    const cp = forge(ls[ls.length - 1] as string, {
      kind: 'checkpoint',
      count: ls.length,
      head: last.hash,
      signer: peerIdFromPublicKey(mallory.publicKey).toString(),
      sig: Buffer.from(sign(msg, mallory.secretKey)).toString('base64')
    })
    const report = verifyDecisionLog(joinLines([...ls, cp]), { key: ALICE })
    expect(report.firstBad?.code).toBe('log-signer-mismatch')
    await rm(mixed, { recursive: true })
    await rm(dir, { recursive: true })
  })

  it('shipped checkpoints catch a consistent roll-back of log and head that the box alone cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-launder-'))
    const path = join(dir, 'd.jsonl')
    const shipped = join(dir, 'elsewhere.checkpoints')
    const heads: SignedHead[] = []
    const ship = createCheckpointShipper({ file: shipped })
    const log = await openDecisionLog({
      path,
      identity: alice,
      checkpointEvery: 3,
      checkpointIntervalMs: 0,
      onCheckpoint: async (head, line) => {
        heads.push(head)
        await ship(head, line)
      }
    })
    let oldHead = ''
    let oldLog = ''
    for (let i = 0; i < 9; i++) {
      await log.append(op(i))
      if (i === 3) {
        await log.checkpoint()
        oldHead = await readFile(`${path}.head`, 'utf8')
        oldLog = await readFile(path, 'utf8')
      }
    }
    await log.close()
    expect(heads.length).toBeGreaterThanOrEqual(4)
    expect(lines(await readFile(shipped, 'utf8'))).toHaveLength(heads.length)
    const ok = await verifyDecisionLogFile(path, { key: ALICE, checkpoints: await readFile(shipped, 'utf8') })
    expect(ok).toMatchObject({ ok: true, shippedChecked: heads.length })
    // the attacker rolls back both log and head to a consistent earlier state
    await writeFile(path, oldLog)
    await writeFile(`${path}.head`, oldHead)
    const local = await verifyDecisionLogFile(path, { key: ALICE })
    expect(local.ok).toBe(true) // undetectable on the box: the documented limit
    const log2 = await reopen(path)
    await log2.close()
    const withShipped = await verifyDecisionLogFile(path, { key: ALICE, checkpoints: await readFile(shipped, 'utf8') })
    expect(withShipped.ok).toBe(false)
    expect(['log-truncated', 'log-chain-broken']).toContain(withShipped.firstBad?.code)
    // cut to before its first checkpoint and checked with the wrong key, the shipped heads still
    // judge the log (they are not set aside as junk: the log names no signer of its own yet)
    const before = lines(oldLog)
    const firstCheckpoint = before.findIndex((l) => (JSON.parse(l) as { kind?: string }).kind === 'checkpoint')
    expect(firstCheckpoint).toBeGreaterThan(0)
    await writeFile(path, `${before.slice(0, firstCheckpoint).join('\n')}\n`)
    await rm(`${path}.head`, { force: true })
    const wrongKey = await verifyDecisionLogFile(path, { key: mallory.publicKey, checkpoints: await readFile(shipped, 'utf8') })
    expect(wrongKey.ok).toBe(false)
    expect(['log-wrong-signer', 'log-truncated']).toContain(wrongKey.firstBad?.code)
    // a syslog line with its prefix parses the same
    const line = lines(await readFile(shipped, 'utf8'))[0] as string
    expect(parseHead(`Dec  6 15:15:11 host peerguard-log[123]: ${line}`).ok).toBe(true)
    await rm(dir, { recursive: true })
  })

  it('leftover temporary head files of a killed writer are swept at open', async () => {
    const { dir, path } = await makeLog(2)
    const leftover = join(dir, '.decisions.jsonl.head.0123456789ab.tmp')
    const unrelated = join(dir, '.other.head.0123456789ab.tmp')
    await writeFile(leftover, 'partial')
    await writeFile(unrelated, 'not ours')
    const log = await reopen(path)
    expect(log.notes.join(' ')).toContain(leftover)
    await log.close()
    const names = await readdir(dir)
    expect(names).not.toContain('.decisions.jsonl.head.0123456789ab.tmp')
    expect(names).toContain('.other.head.0123456789ab.tmp')
    await rm(dir, { recursive: true })
  })

  it('property: a head parser never throws and accepts only what the node signed', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseHead(s)
        return r.ok === false && r.code === 'log-head-invalid'
      })
    )
    fc.assert(
      fc.property(fc.nat(60), fc.integer({ min: 1, max: 255 }), (pos, delta) => {
        const good = JSON.stringify({ v: 1, entries: 3, hash: 'a'.repeat(64), signer: ALICE, sig: 'x' })
        const b = Buffer.from(good)
        b[pos % b.length] = ((b[pos % b.length] as number) + delta) % 256
        return parseHead(b.toString('latin1')).ok === false
      })
    )
  })
})
