/**
 * `peerguard audit log show` over a log a real share server wrote (issue 12): one row per
 * operation with its outcome (mkdir as mkdir, a rename as one row with both paths, a failed
 * `write --mode create` as failed, a denied read as denied), bytes and SHA-256 of what was
 * written; filters return exactly the expected rows as table, CSV and JSON; an edited line marks
 * the rows from there on TAMPERED. A missing log folder is a typed `log-folder-missing`.
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { connectShare, createShareServer } from '@peerguard/share'
import { runCli } from './run-cli.js'

jest.setTimeout(120_000)

interface Row {
  line: number
  op: string
  outcome: string
  code: string
  resource: string
  to?: string
  bytes?: number
  sha256?: string
  integrity: string
  peerId?: string
}

let dir: string
let log: string
const key = generateKeyPair()
const signer = peerIdFromPublicKey(key.publicKey).toString()
const hello = Buffer.from('hello world\n')

async function show(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; rows: Row[] }> {
  const r = await runCli(['audit', 'log', 'show', ...args], { cwd: dir })
  let rows: Row[] = []
  if (args.includes('json')) rows = (JSON.parse(r.stdout) as { rows: Row[] }).rows
  return { ...r, rows }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-logshow-'))
  const root = join(dir, 'office')
  await mkdir(join(root, 'secret'), { recursive: true })
  await writeFile(join(root, 'secret', 's.txt'), 'top secret')
  await writeFile(join(root, 'existing.txt'), 'old')
  log = join(dir, 'decisions.jsonl')
  const decisionLog = await openDecisionLog({ path: log, identity: key })
  const server = createShareServer({
    root,
    shareName: 'office',
    log: decisionLog,
    // every operation is allowed except reading below secret/
    authorize: (_peer, req) =>
      req.verb === 'get' && req.path.startsWith('secret/')
        ? { allowed: false, code: 'deny-rule', reason: 'secret', matchedGroups: [], rule: { id: 'no-secrets' } }
        : { allowed: true, code: 'allow', reason: 'test', matchedGroups: [], rule: { id: 'all' } }
  })
  const { port } = await server.listen()
  const client = await connectShare({ host: '127.0.0.1', port })
  try {
    await client.mkdir('docs')
    await client.write('docs/a.txt', hello)
    await client.rename('docs/a.txt', 'docs/b.txt')
    await expect(client.read('secret/s.txt', () => {})).rejects.toMatchObject({ code: 'share-denied' })
    await expect(client.write('existing.txt', hello, { mode: 'create' })).rejects.toMatchObject({ code: 'share-already-exists' })
  } finally {
    await client.close()
    await server.close()
    await decisionLog.close()
  }
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('audit log show', () => {
  it('one row per operation: outcome, bytes, SHA-256, both paths of a rename; all signed', async () => {
    const r = await show('decisions.jsonl', '--key', signer, '--format', 'json', '--resource', 'office/**')
    expect(r.code).toBe(0)
    const ops = r.rows.map((x) => [x.op, x.outcome, x.code, x.resource, x.to ?? ''])
    expect(ops).toEqual([
      ['mkdir', 'ok', 'ok', 'share:office/docs', ''],
      ['write', 'ok', 'ok', 'share:office/docs/a.txt', ''],
      ['rename', 'ok', 'ok', 'share:office/docs/a.txt', 'share:office/docs/b.txt'],
      ['read', 'denied', 'deny-rule', 'share:office/secret/s.txt', ''],
      ['write', 'failed', 'share-already-exists', 'share:office/existing.txt', '']
    ])
    const write = r.rows[1] as Row
    expect(write.bytes).toBe(hello.length)
    expect(write.sha256).toBe(createHash('sha256').update(hello).digest('hex'))
    expect(r.rows.every((x) => x.integrity === 'signed')).toBe(true)
    expect(r.rows.some((x) => x.outcome === 'allowed')).toBe(false)
  })

  it('filters return exactly the expected rows', async () => {
    const ops = async (...f: string[]): Promise<string[]> =>
      (await show('decisions.jsonl', '--format', 'json', ...f)).rows.map((x) => `${x.op}:${x.outcome}`)
    expect(await ops('--action', 'mkdir')).toEqual(['mkdir:ok'])
    expect(await ops('--outcome', 'denied', '--resource', 'office/**')).toEqual(['read:denied'])
    expect(await ops('--outcome', 'failed')).toEqual(['write:failed'])
    expect(await ops('--resource', 'office/docs/*')).toEqual(['write:ok', 'rename:ok'])
    expect(await ops('--resource', 'share:office/docs/b.txt')).toEqual(['rename:ok'])
    expect(await ops('--action', 'connect')).toEqual(['connect:ok'])
    expect(await ops('--since', '2999-01-01')).toEqual([])
    expect((await ops('--since', '1d', '--resource', 'office/**')).length).toBe(5)
    const peerId = (await show('decisions.jsonl', '--format', 'json', '--action', 'mkdir')).rows[0]?.peerId as string
    expect((await ops('--peer', peerId, '--resource', 'office/**')).length).toBe(5)
    expect(await ops('--peer', 'nobody')).toEqual([])
  })

  it('table and CSV carry the same rows', async () => {
    const table = await show('decisions.jsonl', '--outcome', 'failed')
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^LINE\s+TS\s+PEER\s+OP\s+RESOURCE\s+TO\s+OUTCOME\s+CODE/)
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/write\s+share:office\/existing\.txt\s+failed\s+share-already-exists\s+signed$/)
    const csv = await show('decisions.jsonl', '--format', 'csv', '--action', 'rename')
    const [header, row, ...rest] = csv.stdout.trimEnd().split('\r\n')
    expect(header).toBe('line,ts,peer,op,resource,to,outcome,code,bytes,sha256,policy,integrity')
    expect(rest).toEqual([])
    expect(row).toMatch(/,rename,share:office\/docs\/a\.txt,share:office\/docs\/b\.txt,ok,ok,,,,signed$/)
  })

  it('an edited line marks the rows from there on TAMPERED, and exits 1', async () => {
    const text = await readFile(log, 'utf8')
    const forged = text.replace(`"bytes":${hello.length}`, '"bytes":1')
    expect(forged).not.toBe(text)
    await writeFile(join(dir, 'forged.jsonl'), forged)
    const r = await show('forged.jsonl', '--key', signer, '--format', 'json', '--resource', 'office/**')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/TAMPERED from line \d+ \(log-entry-hash-mismatch\)/)
    const integrity = r.rows.map((x) => `${x.op}:${x.integrity}`)
    // before the edit the chain holds (the checkpoint after it no longer vouches: unsigned); the
    // write's decision is shown (allowed), its edited outcome entry is TAMPERED
    expect(integrity).toEqual([
      'mkdir:unsigned',
      'write:unsigned',
      'write:tampered',
      'rename:tampered',
      'read:tampered',
      'write:tampered'
    ])
    expect(r.rows[1]?.outcome).toBe('allowed')
    const table = await show('forged.jsonl', '--action', 'write')
    expect(table.code).toBe(1)
    expect(table.stdout).toMatch(/TAMPERED/)
  })

  it('bad filters are typed errors with exact messages', async () => {
    const since = await show('decisions.jsonl', '--since', 'yesterday')
    expect(since.code).toBe(2)
    expect(since.stderr).toContain(
      '--since: expected a duration (30s, 15m, 12h, 1d, 2w) or an ISO 8601 date or time, got "yesterday"'
    )
    const outcome = await show('decisions.jsonl', '--outcome', 'maybe')
    expect(outcome.stderr).toContain('--outcome: expected ok, denied or failed, got "maybe"')
    const format = await show('decisions.jsonl', '--format', 'xml')
    expect(format.stderr).toContain('--format: expected table, csv or json, got "xml"')
    const missing = await show('nope.jsonl')
    expect(missing.code).toBe(3)
  })

  it('a missing log folder is log-folder-missing, not a bare ENOENT', async () => {
    await expect(openDecisionLog({ path: join(dir, 'no', 'such', 'decisions.jsonl'), identity: key })).rejects.toMatchObject({
      code: 'log-folder-missing'
    })
  })
})
