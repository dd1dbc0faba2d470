/**
 * The packages as a user installs them: `npm pack` every public package, install the tarballs
 * into a fresh project in a temporary folder OUTSIDE the repository (offline: registry packages
 * come from the npm cache at the versions package-lock.json pins, see packaging-lock.ts), then
 * import each one, `require()` one (a clear "ESM only" message), type-check a small consumer
 * with the repository's TypeScript, and run `peerguard --version` from a global install.
 * The tarballs themselves: LICENSE, metadata, README links that work inside the tarball, no
 * build info, no `@internal` members in the published types.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, normalize } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { consumerLock } from './packaging-lock.js'
import {
  MANIFESTS,
  type Manifest,
  NPM_QUIET,
  npm,
  type PackedFiles,
  PUBLIC,
  packedMap,
  packPublicPackages,
  REPO_LOCK as repoLock,
  ROOT,
  WORKSPACE_DIRS as workspaceDirs
} from './packaging-packs.js'
import { startLoopbackRegistry } from './packaging-registry.js'

const execFileAsync = promisify(execFile)

const LICENSE = readFileSync(join(ROOT, 'LICENSE'), 'utf8')

let work: string
/** package folder name → the tarball and the files it holds */
let packs = new Map<string, PackedFiles>()
let consumer: string

/** A file's text from inside a tarball. */
function fromTarball(tarball: string, path: string): string {
  return execFileSync('tar', ['-xOzf', tarball, `package/${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 })
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'pg-packaging-'))
  packs = packPublicPackages(work)
  // The fresh project: every public package from its tarball, and @types/node for the consumer's tsc.
  consumer = join(work, 'consumer')
  mkdirSync(consumer)
  const packed = packedMap(packs)
  const dependencies: Record<string, string> = Object.fromEntries([...packed].map(([name, p]) => [name, `file:${p.tarball}`]))
  dependencies['@types/node'] = repoLock.packages['node_modules/@types/node']?.version as string
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'pg-consumer', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2)
  )
  const lock = consumerLock('pg-consumer', dependencies, repoLock, packed, workspaceDirs)
  writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(lock, null, 2))
  npm(['ci', ...NPM_QUIET], consumer)
}, 900_000)

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true, maxRetries: 5 })
})

describe('every public package as a tarball', () => {
  it('the public packages are the ones a user needs (every runtime @peerguard dependency is public)', () => {
    for (const d of PUBLIC) {
      const m = MANIFESTS.get(d) as Manifest
      for (const dep of Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies })) {
        if (dep.startsWith('@peerguard/')) expect([dep, PUBLIC.map((p) => `@peerguard/${p}`).includes(dep)]).toEqual([dep, true])
      }
    }
  })

  for (const d of PUBLIC) {
    it(`@peerguard/${d}: LICENSE, metadata, the require condition, no build info, README links inside the tarball`, () => {
      const { tarball, files } = packs.get(d) as { tarball: string; files: string[] }
      const m = MANIFESTS.get(d) as Manifest
      expect(fromTarball(tarball, 'LICENSE')).toBe(LICENSE)
      expect(m.license).toBe('MIT')
      expect(m.repository).toEqual({
        type: 'git',
        url: expect.stringMatching(/^git\+https:\/\/.+\.git$/),
        directory: `packages/${d}`
      })
      expect(m.bugs?.url).toMatch(/^https:\/\/.+\/issues$/)
      expect(m.homepage).toMatch(new RegExp(`^https://.+/packages/${d}#readme$`))
      expect(files).toEqual(
        expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'esm-only.cjs', 'dist/index.js', 'dist/index.d.ts'])
      )
      expect(files.filter((f) => f.endsWith('.tsbuildinfo'))).toEqual([])
      for (const [key, entry] of Object.entries(m.exports)) expect([key, entry.require]).toEqual([key, './esm-only.cjs'])
      // a relative link in a shipped Markdown file must land on a shipped file
      const broken: string[] = []
      for (const md of files.filter((f) => f.endsWith('.md'))) {
        for (const [, target] of fromTarball(tarball, md).matchAll(/\]\(([^)\s]+)\)/g)) {
          const path = (target as string).split('#')[0] as string
          if (path === '' || /^[a-z]+:/i.test(path)) continue
          const at = normalize(join(dirname(md), path)).replace(/\/$/, '')
          if (!files.some((f) => f === at || f.startsWith(`${at}/`))) broken.push(`${md}: ${target}`)
        }
      }
      expect(broken).toEqual([])
    })

    it(`@peerguard/${d}: no @internal member in the published types`, () => {
      const { tarball, files } = packs.get(d) as { tarball: string; files: string[] }
      const leaks = files
        .filter((f) => f.startsWith('dist/') && f.endsWith('.d.ts'))
        .filter((f) => fromTarball(tarball, f).includes('@internal'))
      expect(leaks).toEqual([])
    })
  }
})

describe('a fresh project that installed the tarballs', () => {
  it('imports every package and subpath (ESM) with the names its source exports', () => {
    const names = PUBLIC.flatMap((d) =>
      Object.keys((MANIFESTS.get(d) as Manifest).exports).map((k) => `@peerguard/${d}${k === '.' ? '' : k.slice(1)}`)
    )
    const child = `
      const out = {}
      for (const name of JSON.parse(process.argv[1])) {
        try { out[name] = Object.keys(await import(name)).length } catch (e) { out[name] = String(e && (e.code || e.message)) }
      }
      process.stdout.write(JSON.stringify(out))`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, JSON.stringify(names)], {
      cwd: consumer,
      encoding: 'utf8',
      timeout: 300_000
    })
    expect(r.stderr).toBe('')
    const loaded = JSON.parse(r.stdout) as Record<string, number | string>
    for (const name of names) expect([name, typeof loaded[name]]).toEqual([name, 'number'])
    // from the consumer's node_modules, not the repository
    const where = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', 'process.stdout.write(import.meta.resolve("@peerguard/pki"))'],
      {
        cwd: consumer,
        encoding: 'utf8'
      }
    )
    expect(where.stdout).toBe(`file://${join(consumer, 'node_modules/@peerguard/pki/dist/index.js')}`)
  })

  it('require() gets a clear "ESM only" message with what to do instead', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        "try { require('@peerguard/identity') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"
      ],
      {
        cwd: consumer,
        encoding: 'utf8'
      }
    )
    const got = JSON.parse(r.stdout) as { code: string; message: string }
    expect(got.code).toBe('ERR_REQUIRE_ESM')
    expect(got.message).toContain('@peerguard/identity is an ES module (ESM only)')
    expect(got.message).toContain("await import('@peerguard/identity')")
    // a subpath says the same
    const sub = spawnSync(process.execPath, ['-e', "require('@peerguard/channel/tls')"], { cwd: consumer, encoding: 'utf8' })
    expect(sub.status).not.toBe(0)
    expect(sub.stderr).toContain('@peerguard/channel is an ES module (ESM only)')
  })

  it("type-checks a consumer against the published types with the repository's TypeScript", () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          types: ['node'],
          skipLibCheck: false
        },
        files: ['consumer.ts']
      })
    )
    writeFileSync(
      join(consumer, 'consumer.ts'),
      [
        "import { generateKeyPair, peerIdFromPublicKey, sign, verify } from '@peerguard/identity'",
        "import { PeerguardError } from '@peerguard/interface'",
        "import { TlsChannel } from '@peerguard/channel/tls'",
        'const { publicKey, secretKey } = generateKeyPair()',
        'const text: string = peerIdFromPublicKey(publicKey).toString()',
        'const ok: boolean = verify(sign(new Uint8Array(1), secretKey), new Uint8Array(1), publicKey)',
        'const isError: boolean = new Error() instanceof PeerguardError',
        'export { text, ok, isError, TlsChannel }',
        ''
      ].join('\n')
    )
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', consumer], { cwd: consumer, encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
    // and a wrong use is an error: the types are really checked
    writeFileSync(join(consumer, 'consumer.ts'), "import { sign } from '@peerguard/identity'\nsign('text', 42)\n")
    const bad = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', consumer], { cwd: consumer, encoding: 'utf8' })
    expect(bad.status).not.toBe(0)
    expect(bad.stdout).toContain('consumer.ts')
  })

  it('`peerguard --version` from a global install (`npm install -g @peerguard/cli`)', async () => {
    // A global install reads no lockfile: npm resolves from a registry, here one on 127.0.0.1 that
    // serves the packed packages and, for registry packages, what package-lock.json pins (cached).
    const registry = await startLoopbackRegistry(repoLock, packedMap(packs))
    const prefix = join(work, 'global')
    try {
      await execFileAsync(
        'npm',
        [
          'install',
          '-g',
          '--prefix',
          prefix,
          '--registry',
          registry.url,
          '--prefer-offline',
          ...NPM_QUIET.slice(1),
          '--no-update-notifier',
          '@peerguard/cli'
        ],
        { cwd: work, timeout: 600_000, env: { ...process.env, npm_config_registry: registry.url } }
      )
    } finally {
      await registry.close()
    }
    const r = spawnSync(join(prefix, 'bin', 'peerguard'), ['--version'], { cwd: work, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe((MANIFESTS.get('cli') as Manifest).version)
    expect(r.status).toBe(0)
    // the installed copy, not the repository's
    expect(readFileSync(join(prefix, 'lib', 'node_modules', '@peerguard', 'cli', 'LICENSE'), 'utf8')).toBe(LICENSE)
  }, 900_000)
})
