import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey as libp2pPeerIdFromPublicKey } from '@libp2p/peer-id'
import { loadKeystore, peerIdFromString } from '@peerguard/identity'
import { BIN, ensureCliBuilt, ROOT } from './built-cli.js'
import { type CliRun, runCli } from './run-cli.js'

// Some tests here start the built binary; under load a process takes seconds to start: no tight timeouts.
jest.setTimeout(180_000)

type Run = CliRun

/** In-process: the same program as the binary, output captured (run-cli.ts). */
function peerguard(args: string[], cwd: string): Promise<Run> {
  return runCli(args, { cwd })
}

/** Black-box: the built binary in its own process (help, version and usage below). */
function peerguardProcess(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

let dir: string
beforeAll(async () => {
  // Black-box: run the built binary. Build it when dist is missing or older than the sources.
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-id-'))
  await writeFile(join(dir, 'pass'), 'correct horse battery staple\n')
  await writeFile(join(dir, 'wrong'), 'not the passphrase\r\n')
  await writeFile(join(dir, 'empty'), '\nsecond line is not used\n')
}, 180000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard id new / show', () => {
  it('new then show --json give the same peer ID, and libp2pPeerId equals what @libp2p/peer-id derives', async () => {
    const created = await peerguard(
      ['id', 'new', '--out', 'alice.key', '--passphrase-file', 'pass', '--label', 'alice', '--json'],
      dir
    )
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    const made = JSON.parse(created.stdout) as Record<string, unknown>
    expect(made.file).toBe('alice.key')
    expect(made.encrypted).toBe(true)

    const shown = await peerguard(['id', 'show', 'alice.key', '--passphrase-file', 'pass', '--json'], dir)
    expect(shown.code).toBe(0)
    const info = JSON.parse(shown.stdout) as Record<string, string | boolean>
    expect(Object.keys(info).sort()).toEqual([
      'encrypted',
      'fingerprint',
      'label',
      'libp2pPeerId',
      'peerId',
      'publicKey',
      'shortId'
    ])
    expect(info.peerId).toBe(made.peerId)
    expect(info.peerId).toMatch(/^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/)
    expect(info.shortId).toBe((info.peerId as string).slice(0, 7))
    expect(info.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(info.encrypted).toBe(true)
    expect(info.label).toBe('alice')
    const raw = Uint8Array.from(Buffer.from(info.publicKey as string, 'base64'))
    expect(peerIdFromString(info.peerId as string).publicKey).toEqual(raw)
    expect(info.libp2pPeerId).toBe(libp2pPeerIdFromPublicKey(publicKeyFromRaw(raw)).toString())

    // The key file is 0600, and the secret never reaches stdout or stderr.
    expect((await stat(join(dir, 'alice.key'))).mode & 0o777).toBe(0o600)
    const entry = await loadKeystore(join(dir, 'alice.key'), { passphrase: 'correct horse battery staple' })
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      const secret = Buffer.from(entry.secret).toString(encoding)
      for (const out of [created.stdout, created.stderr, shown.stdout, shown.stderr]) expect(out.includes(secret)).toBe(false)
    }
  })

  it('reads --json given before the noun or after the file (global option)', async () => {
    await peerguard(['id', 'new', '--out', 'json.key'], dir)
    const after = await peerguard(['id', 'show', 'json.key', '--json'], dir)
    const before = await peerguard(['--json', 'id', 'show', 'json.key'], dir)
    expect(after.code).toBe(0)
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout))
    expect(JSON.parse(after.stdout).encrypted).toBe(false)
  })

  it('prints the peer ID alone in text mode and warns that an unencrypted key is unprotected', async () => {
    const r = await peerguard(['id', 'new', '--out', 'plain.key'], dir)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}\n$/)
    expect(r.stderr).toContain('peerguard: warning: plain.key is not encrypted')
    const shown = await peerguard(['id', 'show', 'plain.key'], dir)
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`peer ID:      ${r.stdout.trim()}`)
    expect(shown.stdout).toMatch(/libp2p: {7}12D3KooW/)
    expect(shown.stdout).toContain('encrypted:    no')
  })

  it('refuses to overwrite a key file without --force', async () => {
    const first = await peerguard(['id', 'new', '--out', 'keep.key', '--passphrase-file', 'pass'], dir)
    const again = await peerguard(['id', 'new', '--out', 'keep.key', '--passphrase-file', 'pass'], dir)
    expect(again.code).toBe(3)
    expect(again.stdout).toBe('')
    expect(again.stderr).toBe(
      'peerguard: error: keep.key: already exists; refusing to overwrite a key file\npeerguard: hint: choose another file, or replace it on purpose (--force)\n'
    )
    const show = await peerguard(['id', 'show', 'keep.key', '--passphrase-file', 'pass'], dir)
    expect(show.stdout).toContain(first.stdout.trim())
    const forced = await peerguard(['id', 'new', '--out', 'keep.key', '--passphrase-file', 'pass', '--force'], dir)
    expect(forced.code).toBe(0)
    expect(forced.stdout).not.toBe(first.stdout)
    expect((await stat(join(dir, 'keep.key'))).mode & 0o777).toBe(0o600)
  })
})

describe('damaged keystores and bad passphrases each give their own error', () => {
  let original: Buffer
  beforeAll(async () => {
    expect((await peerguard(['id', 'new', '--out', 'bob.key', '--passphrase-file', 'pass'], dir)).code).toBe(0)
    original = await readFile(join(dir, 'bob.key'))
  })

  const cases: Array<[string, (b: Buffer) => Buffer, string[], string]> = [
    [
      'tampered',
      (b) => Buffer.from(b.map((x, i) => (i === 70 ? x ^ 0x01 : x))),
      ['--passphrase-file', 'pass'],
      'k.key: keystore is damaged or was tampered with (checksum)'
    ],
    [
      'truncated',
      (b) => b.subarray(0, b.length - 10),
      ['--passphrase-file', 'pass'],
      `k.key: keystore is truncated (${213 - 10} of 213 bytes)`
    ],
    ['wrong passphrase', (b) => b, ['--passphrase-file', 'wrong'], 'k.key: wrong passphrase for this keystore'],
    ['no passphrase', (b) => b, [], 'k.key: the keystore is encrypted and no passphrase was given'],
    ['not a keystore', () => Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\n'), [], 'k.key: not a peerguard keystore']
  ]
  for (const [name, damage, extra, message] of cases) {
    it(`${name}: "peerguard: error: ${message}" and exit 3`, async () => {
      expect(original.length).toBe(213)
      await writeFile(join(dir, 'k.key'), damage(original), { mode: 0o600 })
      const r = await peerguard(['id', 'show', 'k.key', ...extra], dir)
      expect(r.code).toBe(3)
      expect(r.stdout).toBe('')
      expect(r.stderr.split('\n')[0]).toBe(`peerguard: error: ${message}`)
      expect(r.stderr).toMatch(/\npeerguard: hint: .+\n$/)
    })
  }

  it('--json puts the stable code on stdout', async () => {
    await writeFile(join(dir, 'k.key'), original.subarray(0, 100))
    const r = await peerguard(['id', 'show', 'k.key', '--json'], dir)
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout).error.code).toBe('keystore-truncated')
  })

  it('an empty passphrase is a usage error (exit 2), a missing passphrase file exit 3', async () => {
    const empty = await peerguard(['id', 'new', '--out', 'e.key', '--passphrase-file', 'empty'], dir)
    expect(empty.code).toBe(2)
    expect(empty.stderr.split('\n')[0]).toBe(
      'peerguard: error: empty: the passphrase file is empty (its first line is the passphrase)'
    )
    expect(existsSync(join(dir, 'e.key'))).toBe(false)
    const missing = await peerguard(['id', 'show', 'bob.key', '--passphrase-file', 'nope'], dir)
    expect(missing.code).toBe(3)
    expect(missing.stderr.split('\n')[0]).toBe('peerguard: error: nope: no such passphrase file')
  })
})

describe('help, version and usage', () => {
  it('--help exits 0 with an example on every id command', () => {
    for (const args of [['--help'], ['id', '--help'], ['id', 'new', '--help'], ['id', 'show', '--help']]) {
      const r = peerguardProcess(args, dir)
      expect({ args, code: r.code }).toEqual({ args, code: 0 })
      expect(r.stdout).toMatch(/Examples?:\n {2}\$ peerguard id/)
    }
  })

  it('--version exits 0 and prints the version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string }
    const r = peerguardProcess(['--version'], dir)
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })

  it('an unknown command or a missing required option exits 2', () => {
    const unknown = peerguardProcess(['frobnicate'], dir)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("peerguard: error: unknown command 'frobnicate'")
    const noOut = peerguardProcess(['id', 'new'], dir)
    expect(noOut.code).toBe(2)
    expect(noOut.stderr).toContain("peerguard: error: required option '--out <file>' not specified")
    expect(peerguardProcess(['id', 'show'], dir).code).toBe(2)
    const label = peerguardProcess(['id', 'new', '--out', 'l.key', '--label', 'evil\u001b[2J'], dir)
    expect(label.code).toBe(2)
    expect(label.stderr).toBe('peerguard: error: --label: must not contain control characters\n')
    expect(existsSync(join(dir, 'l.key'))).toBe(false)
  })
})
