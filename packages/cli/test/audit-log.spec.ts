/**
 * The decision log over real processes (issue 11 items 5 and 7): `peerguard share serve --log`
 * is stopped, its log tampered with on disk, and started again — it refuses with a specific code;
 * a crash (kill -9) plus a torn last line is repaired and the node starts; `audit log verify`
 * says WRONG SIGNER for a wrong --key and checks shipped checkpoints (--log-ship / --checkpoints).
 */
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LanCa, makeLanCa, type Spawned, SpawnExitedError, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-read
    allow: [read]
    peers: [staff]
    resources: ["share:office/**"]
`

let dir: string
let root: string
let lan: LanCa

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

// a trust folder: the root and its current CRL (hardened nodes require one: fail closed)
const creds = (who: 'alice' | 'bob'): string[] => lan.creds(who, { trust: 'dir' })

/** Start `share serve`; resolves once listening, rejects with a SpawnExitedError (code, output) if it refuses to start. */
async function serve(log: string, extra: string[] = []): Promise<Spawned & { addr: string }> {
  const args = ['share', 'serve', root, ...creds('alice'), '--policy', join(dir, 'office.yaml'), '--listen', '127.0.0.1:0']
  const s = await spawnAndWait(process.execPath, [BIN, ...args, '--log', log, ...extra], {
    cwd: dir,
    readyLine: / on (127\.0\.0\.1:\d+)/
  })
  return { ...s, addr: s.match[1] as string }
}

/** Serve, let bob list the share `n` times, stop with SIGTERM (a clean close: final checkpoint). */
async function session(log: string, n: number, extra: string[] = []): Promise<void> {
  const s = await serve(log, extra)
  expect(s.addr).toBeDefined()
  try {
    for (let i = 0; i < n; i++) {
      const r = await peerguard('share', 'ls', s.addr as string, '', ...creds('bob'))
      if (r.code !== 0) throw new Error(`share ls failed (${r.code}): ${r.stderr}`)
    }
  } finally {
    s.proc.kill('SIGTERM')
  }
  expect(await s.exited).toBe(0)
}

const lines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).split('\n').filter(Boolean)

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-log-'))
  root = join(dir, 'office')
  await mkdir(root)
  await writeFile(join(root, 'notice.txt'), 'hello\n')
  lan = await makeLanCa({
    dir,
    name: 'Log Test CA',
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['staff'] }
    ]
  })
  await writeFile(join(dir, 'office.yaml'), POLICY)
}, 180_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard decision log (black box)', () => {
  it('ships checkpoints, verifies them, and says WRONG SIGNER (not TAMPERED) for another key', async () => {
    const log = join(dir, 'a.jsonl')
    const shipped = join(dir, 'a.checkpoints')
    await session(log, 3, ['--log-ship', shipped])
    await session(log, 2, ['--log-ship', shipped])
    expect((await lines(shipped)).length).toBeGreaterThanOrEqual(2)
    const ok = await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('alice').cert, '--checkpoints', shipped)
    expect(ok.stdout).toMatch(/OK: \d+ entries, .*all \d+ shipped checkpoints present/)
    expect(ok.code).toBe(0)
    const wrong = await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('bob').cert)
    expect(wrong.code).toBe(1)
    expect(wrong.stdout).toMatch(/WRONG SIGNER/)
    expect(wrong.stdout).not.toMatch(/TAMPERED/)
    const json = JSON.parse((await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('bob').cert, '--json')).stdout)
    expect(json.firstBad.code).toBe('log-wrong-signer')
    // roll both log and head back consistently to the first session: only the shipped copy tells
    const first = (await lines(log)).findIndex((l) => JSON.parse(l).kind === 'checkpoint')
    const heads = (await lines(shipped)).map((l) => JSON.parse(l))
    const older = heads.find((h) => h.entries === first + 1)
    expect(older).toBeDefined()
    await writeFile(log, `${(await lines(log)).slice(0, first + 1).join('\n')}\n`)
    await writeFile(`${log}.head`, `${JSON.stringify(older)}\n`)
    expect((await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('alice').cert)).code).toBe(0)
    const caught = await peerguard(
      'audit',
      'log',
      'verify',
      log,
      '--key',
      lan.peer('alice').cert,
      '--checkpoints',
      shipped,
      '--json'
    )
    expect(caught.code).toBe(1)
    expect(JSON.parse(caught.stdout).firstBad.code).toBe('log-truncated')
  }, 180_000)

  it('a restart on a truncated, forged or head-less log is refused with a specific code', async () => {
    const log = join(dir, 'b.jsonl')
    await session(log, 3)
    await session(log, 3) // two sessions: two checkpoints
    const good = await lines(log)
    const goodHead = await readFile(`${log}.head`, 'utf8')
    const refusedWith = async (code: string): Promise<void> => {
      const refused = await serve(log).then(
        async (s) => {
          await s.stop()
          throw new Error(`started on a ${code} log: ${s.out()} ${s.err()}`)
        },
        (e: unknown) => e
      )
      expect(refused).toBeInstanceOf(SpawnExitedError)
      expect((refused as SpawnExitedError).code).toBe(1)
      expect((refused as SpawnExitedError).stderr).toMatch(/refusing to append/)
      expect((refused as SpawnExitedError).stderr).toContain(`(${code})`)
    }
    // truncation to an earlier checkpoint
    const cp = good.findIndex((l) => JSON.parse(l).kind === 'checkpoint')
    await writeFile(log, `${good.slice(0, cp + 1).join('\n')}\n`)
    await refusedWith('log-truncated')
    // an unsigned forged entry appended
    const last = JSON.parse(good[good.length - 1] as string)
    const { createHash } = await import('node:crypto')
    const body = JSON.stringify({
      v: 1,
      seq: last.seq + 1,
      ts: new Date().toISOString(),
      kind: 'operation',
      allowed: true,
      code: 'allow',
      reason: 'forged',
      action: 'read',
      verb: 'get',
      resource: 'share:office/salaries.csv',
      prev: last.hash
    })
    const forged = `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`
    await writeFile(log, `${[...good, forged].join('\n')}\n`)
    await refusedWith('log-tail-forged')
    // the head deleted
    await writeFile(log, `${good.join('\n')}\n`)
    await unlink(`${log}.head`)
    await refusedWith('log-head-missing')
    // restored: it starts again
    await writeFile(`${log}.head`, goodHead)
    await session(log, 1)
    expect((await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('alice').cert)).code).toBe(0)
  }, 180_000)

  it('kill -9 and a torn last line: the node starts, repairs the tail and records it; the log verifies', async () => {
    const log = join(dir, 'c.jsonl')
    await session(log, 2)
    const s = await serve(log)
    expect(s.addr).toBeDefined()
    for (let i = 0; i < 3; i++) expect((await peerguard('share', 'ls', s.addr as string, '', ...creds('bob'))).code).toBe(0)
    s.proc.kill('SIGKILL')
    await s.exited
    await copyFile(log, `${log}.before-tear`)
    await appendFile(log, '{"v":1,"seq":99,"ts":"2026-') // a write cut short by the crash
    const again = await serve(log)
    expect(again.addr).toBeDefined()
    expect((await peerguard('share', 'ls', again.addr as string, '', ...creds('bob'))).code).toBe(0)
    again.proc.kill('SIGTERM')
    expect(await again.exited).toBe(0)
    expect(again.err()).toMatch(/"level":"warn","event":"notice","msg":"decision log: cut off a torn last entry of 27 bytes/)
    const v = await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('alice').cert, '--json')
    expect(v.code).toBe(0)
    const kinds = (await lines(log)).map((l) => JSON.parse(l))
    expect(kinds.some((e) => e.kind === 'recovery' && e.code === 'log-torn-tail' && e.tornBytes === 27)).toBe(true)
  }, 180_000)
})
