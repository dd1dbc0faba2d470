/**
 * Secrets: the passphrase of an encrypted key from --passphrase-file, from a systemd credential
 * ($CREDENTIALS_DIRECTORY/NAME), or typed at a real terminal (a pty driven by python3) without echo.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { isPeerguardError } from '@peerguard/interface'
import { needs } from '@peerguard/test-utils'
import { bufferedIO } from '../src/io.js'
import { credentialPath, PROMPT_ATTEMPTS, passphraseFromFlags, withPassphrase } from '../src/passphrase.js'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(180_000)

const SECRET = 'correct horse battery staple'
let dir: string
let peerId: string

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-pass-'))
  await writeFile(join(dir, 'pass'), `${SECRET}\n`)
  await mkdir(join(dir, 'creds'))
  await writeFile(join(dir, 'creds', 'node-pass'), `${SECRET}\n`)
  const made = await runCli(['id', 'new', '--out', 'k.key', '--passphrase-file', 'pass'], { cwd: dir })
  expect(made.code).toBe(0)
  peerId = made.stdout.trim()
}, 180_000)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return isPeerguardError(err) ? err.code : `not ours: ${String(err)}`
  }
  return undefined
}

describe('systemd credentials', () => {
  it('names the file under $CREDENTIALS_DIRECTORY', () => {
    expect(credentialPath('node-pass', { CREDENTIALS_DIRECTORY: '/run/credentials/x.service' })).toBe(
      '/run/credentials/x.service/node-pass'
    )
  })

  it('refuses names that leave the directory, and a service without credentials', () => {
    for (const bad of ['', '.', '..', '../etc/shadow', 'a/b', 'x y', 'a'.repeat(256)]) {
      expect(codeOf(() => credentialPath(bad, { CREDENTIALS_DIRECTORY: '/run/c' }))).toBe('invalid-argument')
    }
    expect(codeOf(() => credentialPath('node-pass', {}))).toBe('usage')
    expect(codeOf(() => credentialPath('node-pass', { CREDENTIALS_DIRECTORY: '' }))).toBe('usage')
  })

  it('reads the first line of the credential; file and credential together are refused', async () => {
    const env = { CREDENTIALS_DIRECTORY: join(dir, 'creds') }
    await expect(passphraseFromFlags({ passphraseCredential: 'node-pass' }, env)).resolves.toBe(SECRET)
    await expect(passphraseFromFlags({}, env)).resolves.toBeUndefined()
    await expect(
      passphraseFromFlags({ passphraseCredential: 'node-pass', passphraseFile: join(dir, 'pass') }, env)
    ).rejects.toMatchObject({ code: 'usage' })
    await expect(passphraseFromFlags({ passphraseCredential: 'missing' }, env)).rejects.toMatchObject({ code: 'not-found' })
  })

  it('id show opens the key with --passphrase-credential (the built binary, as systemd starts it)', () => {
    const r = spawnSync(process.execPath, [BIN, 'id', 'show', 'k.key', '--passphrase-credential', 'node-pass', '--json'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, CREDENTIALS_DIRECTORY: join(dir, 'creds') },
      timeout: 120_000
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout).peerId).toBe(peerId)
  })
})

describe('without a terminal', () => {
  it('an encrypted key without a passphrase flag fails with the keystore code; nothing is asked', async () => {
    const r = await runCli(['id', 'show', 'k.key', '--json'], { cwd: dir })
    expect(r.code).not.toBe(0)
    expect(JSON.parse(r.stdout).error.code).toBe('keystore-passphrase-required')
    expect(r.stderr).not.toMatch(/Passphrase for/)
  })

  it('the prompt is retried on a wrong passphrase, at most PROMPT_ATTEMPTS times', async () => {
    const io = bufferedIO()
    const asked: string[] = []
    const answers = ['wrong 1', 'wrong 2', SECRET]
    io.promptSecret = async (q) => {
      asked.push(q)
      return answers.shift() as string
    }
    const { loadIdentity } = await import('@peerguard/identity')
    const key = join(dir, 'k.key')
    const open = async (p: string | undefined) => (await loadIdentity(key, p === undefined ? {} : { passphrase: p })).keyPair
    await expect(withPassphrase(key, {}, io, open)).resolves.toHaveProperty('publicKey')
    expect(asked).toEqual([`Passphrase for ${key}: `, `Passphrase for ${key}: `, `Passphrase for ${key}: `])
    expect(io.stderr.filter((l) => l.includes('wrong passphrase'))).toHaveLength(2)

    const io2 = bufferedIO()
    let n = 0
    io2.promptSecret = async () => {
      n++
      return 'always wrong'
    }
    await expect(withPassphrase(key, {}, io2, open)).rejects.toMatchObject({ code: 'keystore-bad-passphrase' })
    expect(n).toBe(PROMPT_ATTEMPTS)
  })
})

/** Drive the built binary on a pty: wait for the prompt, type, collect everything the terminal shows. */
const PTY_DRIVER = String.raw`
import os, pty, sys, time
argv = sys.argv[1:]
typed = os.environ['PG_TYPE'].split('\n')
answered = 0
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = b''
deadline = time.time() + 150
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if answered < len(typed) and seen.count(b'Passphrase for') > answered:
        os.write(fd, typed[answered].encode() + b'\r')
        answered += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`

const pty = needs('python3', 'passphrase prompt on a real terminal (python3 pty)')

pty.describe('the prompt on a terminal', () => {
  function onPty(args: string[], typed: string[]): { code: number | null; screen: string } {
    const r = spawnSync('python3', ['-c', PTY_DRIVER, process.execPath, BIN, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PG_TYPE: typed.join('\n') },
      timeout: 170_000
    })
    return { code: r.status, screen: r.stdout }
  }

  it('asks without echo and opens the key', () => {
    const { code, screen } = onPty(['id', 'show', 'k.key'], [SECRET])
    expect(screen).toContain('Passphrase for k.key: ')
    expect(screen).toContain(peerId)
    expect(screen).not.toContain('horse') // not echoed, not printed
    expect(code).toBe(0)
  })

  it('asks again after a wrong passphrase', () => {
    const { code, screen } = onPty(['id', 'show', 'k.key'], ['not it', SECRET])
    expect(screen.match(/Passphrase for k\.key: /g)).toHaveLength(2)
    expect(screen).toContain('wrong passphrase, try again')
    expect(screen).toContain(peerId)
    expect(screen).not.toContain('not it')
    expect(code).toBe(0)
  })

  it('an empty line is refused (usage, exit 2)', () => {
    const { code, screen } = onPty(['id', 'show', 'k.key'], [''])
    expect(screen).toContain('no passphrase given')
    expect(code).toBe(2)
  })
})
