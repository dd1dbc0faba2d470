/**
 * Each package as a consumer gets it: Jest maps `@peerguard/*` to `src/`, so here a child Node
 * process, in a temporary folder outside the repository whose node_modules links to the packages,
 * imports every package through its BUILT `exports` map. Each must load, expose exactly the
 * runtime names its source index exports, ship the declared `types` file, and refuse deep imports.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

const ROOT = join(import.meta.dirname, '..')
const PACKAGES = readdirSync(join(ROOT, 'packages')).filter((p) => existsSync(join(ROOT, 'packages', p, 'package.json')))

interface Loaded {
  names?: string[]
  error?: string
  deep?: string
}

/** The child: import each package by name, then try a deep import past the map. */
const CHILD = `
const out = {}
for (const name of JSON.parse(process.argv[1])) {
  const r = (out[name] = {})
  try {
    r.names = Object.keys(await import(name)).sort()
  } catch (e) {
    r.error = String(e && (e.code || e.message))
  }
  try {
    await import(name + '/dist/index.js')
    r.deep = 'loaded'
  } catch (e) {
    r.deep = String(e && e.code)
  }
}
process.stdout.write(JSON.stringify(out))
`

/** Subpath exports (`@peerguard/channel/tls`) as `[package dir, subpath]`. */
const SUBPATHS = PACKAGES.flatMap((p) =>
  Object.keys(
    (JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports
  )
    .filter((k) => k !== '.')
    .map((k) => [p, k.slice(2)] as const)
)

let consumer: string
let loaded: Record<string, Loaded>

beforeAll(() => {
  try {
    execFileSync('npx', ['tsc', '-b', ...PACKAGES.map((p) => join('packages', p))], { cwd: ROOT, stdio: 'pipe' })
  } catch (err) {
    // tsc -b still emits when a package has type errors (npm test reports those); judge by dist.
    if (!PACKAGES.every((p) => existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')))) throw err
  }
  consumer = mkdtempSync(join(tmpdir(), 'pg-consumer-'))
  mkdirSync(join(consumer, 'node_modules', '@peerguard'), { recursive: true })
  for (const p of PACKAGES) symlinkSync(join(ROOT, 'packages', p), join(consumer, 'node_modules', '@peerguard', p), 'dir')
  const names = [...PACKAGES.map((p) => `@peerguard/${p}`), ...SUBPATHS.map(([p, sub]) => `@peerguard/${p}/${sub}`)]
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, JSON.stringify(names)], {
    cwd: consumer,
    encoding: 'utf8',
    timeout: 120_000
  })
  if (r.status !== 0) throw new Error(`the consumer process failed: ${r.stderr}`)
  loaded = JSON.parse(r.stdout) as Record<string, Loaded>
}, 600_000)

afterAll(() => {
  if (consumer !== undefined) rmSync(consumer, { recursive: true, force: true, maxRetries: 5 })
})

describe('every package through its built exports map', () => {
  for (const p of PACKAGES) {
    it(`@peerguard/${p}: loads from dist with the names of its source index, types shipped, deep imports refused`, async () => {
      const name = `@peerguard/${p}`
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as {
        exports: { '.': { types: string; import: string } }
      }
      expect(existsSync(join(ROOT, 'packages', p, manifest.exports['.'].types))).toBe(true)
      const got = loaded[name] as Loaded
      expect(got.error).toBeUndefined()
      // Jest resolves the same name to src/index.ts: the built package must expose the same runtime names.
      const source = (await import(name)) as Record<string, unknown>
      expect(got.names).toEqual(Object.keys(source).sort())
      expect(got.names?.length).toBeGreaterThan(0)
      expect(got.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
    })
  }
  for (const [p, sub] of SUBPATHS) {
    it(`@peerguard/${p}/${sub}: loads from dist with the names of src/${sub}/index.ts, types shipped`, async () => {
      const name = `@peerguard/${p}/${sub}`
      expect(existsSync(join(ROOT, 'packages', p, 'dist', sub, 'index.d.ts'))).toBe(true)
      const got = loaded[name] as Loaded
      expect(got.error).toBeUndefined()
      const source = (await import(name)) as Record<string, unknown>
      expect(got.names).toEqual(Object.keys(source).sort())
      expect(got.names?.length).toBeGreaterThan(0)
    })
  }
})
