import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { generateKeyPair, saveIdentity } from '@peerguard/identity'
import { createCertificateAuthority } from '@peerguard/pki'
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
const files = { ca: '', crl: '', alice: { key: '', cert: '' }, bob: { key: '', cert: '' }, alicePeerId: '' }

async function serve(args: string[]): Promise<{ proc: ChildProcess; addr: string; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, [BIN, 'share', 'serve', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  let out = ''
  const addr = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = / on (127\.0\.0\.1:\d+)/.exec(out)
      if (m) resolve(m[1] as string)
    })
    proc.once('exit', () => reject(new Error(`server exited: ${out}`)))
  })
  return { proc, addr, exited }
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-share-'))
  root = join(dir, 'office')
  await mkdir(join(root, 'public'), { recursive: true })
  await writeFile(join(root, 'public', 'notice.txt'), 'hello\n')
  const ca = await createCertificateAuthority({ name: 'CLI Test CA' })
  files.ca = join(dir, 'ca.pem')
  await writeFile(files.ca, ca.certificatePem)
  // revocation is required: every hardened command gets the CA's CRL (--trust FILE --crl FILE)
  files.crl = join(dir, 'ca.crl')
  await writeFile(files.crl, (await ca.crl()).pem)
  for (const [name, groups] of [
    ['alice', ['staff']],
    ['bob', ['guests']]
  ] as const) {
    const kp = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: kp.publicKey, name, groups: [...groups] })
    files[name] = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.pem`) }
    await saveIdentity(files[name].key, kp)
    await writeFile(files[name].cert, cert.chainPem)
    if (name === 'alice') files.alicePeerId = cert.peerId
  }
  await writeFile(join(dir, 'office.yaml'), POLICY)
}, 180000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const creds = (who: 'alice' | 'bob') => [
  '--identity',
  files[who].key,
  '--cert',
  files[who].cert,
  '--trust',
  files.ca,
  '--crl',
  files.crl
]

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
    const v = await peerguard('audit', 'log', 'verify', log, '--key', files.alice.cert)
    expect(v.stdout).toMatch(/OK: \d+ entries/)
    expect(v.code).toBe(0)
    const bad = await peerguard('audit', 'log', 'verify', log, '--key', files.bob.cert)
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
