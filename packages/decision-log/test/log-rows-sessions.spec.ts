/**
 * Session outcomes in `decisionLogRows`: a proxied connection's acceptance and the outcome entry
 * naming it are ONE row (op `connect`, bytes, duration); a swarm session's admission and its
 * outcome likewise; a successful list with no outcome stays `allowed`; a tampered outcome never
 * hides the verified acceptance it names.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { decisionLogRows, openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'

const alice = { peerId: 'ALICE', name: 'alice' }
let dir: string
let text: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-rows-sessions-'))
  const path = join(dir, 'decisions.jsonl')
  const log = await openDecisionLog({ path, identity: await generateKeyPair() })
  const accepted = await log.append({
    kind: 'connection',
    event: 'accepted',
    code: 'allow',
    reason: 'allowed',
    peer: alice,
    mode: 'noise'
  })
  const admitted = await log.append({
    kind: 'operation',
    allowed: true,
    code: 'allow',
    reason: 'allowed',
    peer: alice,
    action: 'read',
    verb: 'fetch',
    resource: 'swarm:data',
    rule: { id: 'swarm-fetch' }
  })
  await log.append({
    kind: 'operation',
    allowed: true,
    code: 'allow',
    reason: 'allowed',
    peer: alice,
    action: 'read',
    verb: 'list',
    resource: 'share:docs/'
  })
  await log.append({
    kind: 'outcome',
    outcome: 'failed',
    code: 'deny-rule',
    reason: 'closed by a re-check: denied',
    peer: alice,
    op: 'fetch',
    resource: 'swarm:data',
    bytes: 65536,
    bytesIn: 120,
    bytesOut: 65600,
    durationMs: 900,
    decisions: [admitted.seq]
  })
  await log.append({
    kind: 'outcome',
    outcome: 'ok',
    code: 'ok',
    reason: 'connection closed',
    peer: alice,
    op: 'connect',
    resource: 'service:web',
    bytes: 300,
    bytesIn: 100,
    bytesOut: 200,
    durationMs: 1500,
    decisions: [accepted.seq]
  })
  await log.close()
  text = await readFile(path, 'utf8')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('decisionLogRows: sessions', () => {
  it('joins an acceptance or admission into the session outcome naming it; a listing stays allowed', () => {
    const { report, rows } = decisionLogRows(text)
    expect(report.ok).toBe(true)
    expect(rows.map((r) => [r.kind, r.op, r.outcome, r.code, r.resource, r.bytes, r.durationMs, r.rule])).toEqual([
      ['operation', 'list', 'allowed', 'allow', 'share:docs/', undefined, undefined, undefined],
      ['outcome', 'fetch', 'failed', 'deny-rule', 'swarm:data', 65536, 900, 'swarm-fetch'],
      ['outcome', 'connect', 'ok', 'ok', 'service:web', 300, 1500, undefined]
    ])
  })

  it('a tampered session outcome does not hide the verified acceptance it names', () => {
    const lines = text.split('\n')
    const last = lines.findLastIndex((l) => l.includes('"op":"connect"'))
    lines[last] = (lines[last] as string).replace('"bytes":300', '"bytes":3')
    const { rows } = decisionLogRows(lines.join('\n'))
    const connect = rows.filter((r) => r.op === 'connect')
    expect(connect.map((r) => [r.kind, r.outcome, r.integrity])).toEqual([
      ['connection', 'ok', 'unsigned'],
      ['outcome', 'ok', 'tampered']
    ])
  })
})

describe('decisionLogRows: an operation decided again', () => {
  async function rowsOf(outcome: 'ok' | 'failed'): Promise<Array<[string, string, string, string | undefined]>> {
    const path = join(dir, `redecided-${outcome}.jsonl`)
    const log = await openDecisionLog({ path, identity: await generateKeyPair() })
    const op = { peer: alice, action: 'write', verb: 'put', resource: 'share:docs/a.txt', op: 'write' }
    const first = await log.append({
      kind: 'operation',
      allowed: true,
      code: 'allow',
      reason: 'allowed',
      rule: { id: 'rw' },
      ...op
    })
    const again = await log.append({
      kind: 'operation',
      allowed: false,
      code: 'deny-rule',
      reason: 'denied',
      rule: { id: 'ro' },
      ...op
    })
    await log.append({
      kind: 'outcome',
      outcome,
      code: outcome === 'ok' ? 'ok' : 'share-denied',
      reason: outcome,
      peer: alice,
      op: 'write',
      resource: 'share:docs/a.txt',
      decisions: [first.seq, again.seq]
    })
    await log.close()
    return decisionLogRows(await readFile(path, 'utf8')).rows.map((r) => [r.kind, r.outcome, r.code, r.rule])
  }

  it('allowed, then refused: one failed row, described by the denial', async () => {
    expect(await rowsOf('failed')).toEqual([['outcome', 'failed', 'share-denied', 'ro']])
  })

  it('an ok outcome never hides a denial it names: the denial keeps its own row', async () => {
    expect(await rowsOf('ok')).toEqual([
      ['operation', 'denied', 'deny-rule', 'ro'],
      ['outcome', 'ok', 'ok', 'rw']
    ])
  })
})
