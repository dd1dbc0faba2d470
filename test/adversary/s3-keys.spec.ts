/**
 * Attacker's review round 3, key files: someone who can write in the key's folder plants a
 * symbolic link where the key will be saved (to a file of the user's, or to nowhere yet). Saving
 * never writes through the link: without `overwrite` it is `already-exists` and the target is
 * untouched (not even created); with `overwrite` the link itself is replaced by a 0600 key file.
 * (A tampered or truncated encrypted key: packages/identity/test/keystore.spec.ts flips every byte
 * with three masks and cuts at every length.)
 */
import { lstat, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { generateKeyPair, loadIdentity, saveIdentity } from '@peerguard/identity'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3-keys-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('s3: key files and symbolic links', () => {
  it('a link planted at the key path to an existing file: already-exists, the file untouched', async () => {
    const victim = join(dir, 'authorized_keys')
    await writeFile(victim, 'ssh-ed25519 AAAA user@host\n')
    const path = join(dir, 'planted.key')
    await symlink(victim, path)
    await expect(saveIdentity(path, generateKeyPair())).rejects.toMatchObject({ code: 'already-exists' })
    expect(await readFile(victim, 'utf8')).toBe('ssh-ed25519 AAAA user@host\n')
  })

  it('a dangling link planted at the key path: already-exists, its target is not created', async () => {
    const target = join(dir, 'created-elsewhere')
    const path = join(dir, 'dangling.key')
    await symlink(target, path)
    await expect(saveIdentity(path, generateKeyPair())).rejects.toMatchObject({ code: 'already-exists' })
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('overwrite replaces the link itself with a 0600 key file, never the file it points to', async () => {
    const victim = join(dir, 'profile')
    await writeFile(victim, 'export PATH=/usr/bin\n', { mode: 0o644 })
    const path = join(dir, 'replaced.key')
    await symlink(victim, path)
    const kp = generateKeyPair()
    await saveIdentity(path, kp, { overwrite: true })
    const st = await lstat(path)
    expect(st.isSymbolicLink()).toBe(false)
    expect(st.mode & 0o777).toBe(0o600)
    expect(await readFile(victim, 'utf8')).toBe('export PATH=/usr/bin\n')
    expect((await loadIdentity(path)).keyPair.publicKey).toEqual(kp.publicKey)
  })
})
