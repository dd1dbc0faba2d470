import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LanCa, makeLanCa, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
  everyone: [staff, guests]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: everyone-reads-public
    allow: [read]
    peers: [everyone]
    resources: ["share:office/public/**"]
`

/** In-process (run-cli.ts): the program the binary runs, output captured. */
function peerguard(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: dir })
}

let dir: string
let root: string
let lan: LanCa

async function serve(args: string[]): Promise<Spawned & { addr: string }> {
  const s = await spawnAndWait(process.execPath, [BIN, 'share', 'serve', ...args], {
    cwd: dir,
    readyLine: / on (127\.0\.0\.1:\d+)/
  })
  return { ...s, addr: s.match[1] as string }
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-share-'))
  root = join(dir, 'office')
  await mkdir(join(root, 'public'), { recursive: true })
  await writeFile(join(root, 'public', 'notice.txt'), 'hello\n')
  // revocation is required: every hardened command gets the CA's CRL (--trust FILE --crl FILE)
  lan = await makeLanCa({
    dir,
    name: 'CLI Test CA',
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['guests'] }
    ]
  })
  await writeFile(join(dir, 'office.yaml'), POLICY)
}, 180000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

const creds = (who: 'alice' | 'bob'): string[] => lan.creds(who)

describe('peerguard share (black box)', () => {
  it('serves hardened: ls/get/put/mv/rm with policy checks, and the log verifies after SIGTERM', async () => {
    const log = join(dir, 'decisions.jsonl')
    const s = await serve([
      root,
      ...creds('alice'),
      '--policy',
      join(dir, 'office.yaml'),
      '--listen',
      '127.0.0.1:0',
      '--log',
      log
    ])
    try {
      const ls = await peerguard('share', 'ls', s.addr, 'public', ...creds('bob'))
      expect(ls.code).toBe(0)
      expect(ls.stdout).toMatch(/notice\.txt/)
      const get = await peerguard('share', 'get', s.addr, 'public/notice.txt', join(dir, 'got.txt'), ...creds('bob'))
      expect(get.code).toBe(0)
      expect(await readFile(join(dir, 'got.txt'), 'utf8')).toBe('hello\n')
      await writeFile(join(dir, 'up.txt'), 'uploaded\n')
      const denied = await peerguard('share', 'put', s.addr, join(dir, 'up.txt'), 'public/up.txt', ...creds('bob'))
      expect(denied.code).toBe(1)
      expect(denied.stderr).toMatch(/peerguard: error: put share:office\/public\/up.txt/)
      const deniedJson = await peerguard('share', 'put', s.addr, join(dir, 'up.txt'), 'public/up.txt', ...creds('bob'), '--json')
      expect(JSON.parse(deniedJson.stdout.slice(0, deniedJson.stdout.lastIndexOf('}') + 1)).error.code).toBe('share-denied')
      expect(existsSync(join(root, 'public', 'up.txt'))).toBe(false)
      const put = await peerguard('share', 'put', s.addr, join(dir, 'up.txt'), 'public/up.txt', ...creds('alice'), '--json')
      expect(put.code).toBe(0)
      expect(JSON.parse(put.stdout)).toMatchObject({ path: 'public/up.txt', size: 9 })
      expect((await peerguard('share', 'mv', s.addr, 'public/up.txt', 'public/moved.txt', ...creds('alice'))).code).toBe(0)
      expect((await peerguard('share', 'rm', s.addr, 'public/moved.txt', ...creds('alice'))).code).toBe(0)
      expect(existsSync(join(root, 'public', 'moved.txt'))).toBe(false)
      const outside = await peerguard('share', 'get', s.addr, '../office.yaml', join(dir, 'x'), ...creds('alice'))
      expect(outside.code).toBe(3)
      expect(outside.stderr).toMatch(/absolute paths are refused|".." is refused/)
      // no certificate: refused in the handshake
      const plainClient = await peerguard('share', 'ls', s.addr, 'public')
      expect(plainClient.code).not.toBe(0)
    } finally {
      s.proc.kill('SIGTERM')
    }
    expect(await s.exited).toBe(0)
    const v = await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('alice').cert)
    expect(v.stdout).toMatch(/OK: \d+ entries/)
    expect(v.code).toBe(0)
    const bad = await peerguard('audit', 'log', 'verify', log, '--key', lan.peer('bob').cert)
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/WRONG SIGNER/) // a wrong --key is not tampering (log-wrong-signer)
  })

  it('serves plain with --plain (and warns); refuses a hardened serve without a policy', async () => {
    const missing = await peerguard('share', 'serve', root, ...creds('alice'))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/needs --identity, --cert, --trust and --policy/)
    const s = await serve([root, '--plain', '--listen', '127.0.0.1:0'])
    try {
      const get = await peerguard('share', 'get', s.addr, 'public/notice.txt', join(dir, 'plain.txt'))
      expect(get.code).toBe(0)
      expect(get.stderr).toMatch(/warning: plain mode/)
      expect(await readFile(join(dir, 'plain.txt'), 'utf8')).toBe('hello\n')
    } finally {
      s.proc.kill('SIGTERM')
    }
    expect(await s.exited).toBe(0)
  })

  it('audit log verify: missing file, bad key, usage', async () => {
    expect((await peerguard('audit', 'log', 'verify', join(dir, 'nope.jsonl'))).code).toBe(3)
    expect((await peerguard('audit', 'log', 'verify', join(dir, 'nope.jsonl'), '--key', 'garbage')).code).toBe(2)
    expect((await peerguard('share', 'get', 'no-port', 'x')).code).toBe(2)
  })
})
