/**
 * The public packages as tarballs, for the tests that install them into a fresh project outside
 * the repository (packaging.spec.ts, libp2p3-consumer.spec.ts): build every package, `npm pack`
 * each public one, and describe the result the way packaging-lock.ts and packaging-registry.ts
 * take it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LockEntry, Packed } from './packaging-lock.js'

export const ROOT = join(import.meta.dirname, '..')
/** Every workspace folder under packages/ (`identity`, `pki`, …). */
export const DIRS = readdirSync(join(ROOT, 'packages')).filter((d) => existsSync(join(ROOT, 'packages', d, 'package.json')))

export type Manifest = Packed['manifest'] & {
  private?: boolean
  exports: Record<string, Record<string, string>>
  files: string[]
  repository?: { type: string; url: string; directory: string }
  bugs?: { url: string }
  homepage?: string
}

/** package folder name → its package.json */
export const MANIFESTS = new Map(
  DIRS.map((d) => [d, JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')) as Manifest])
)
/** The folders of the packages that are published (not `private`). */
export const PUBLIC = DIRS.filter((d) => MANIFESTS.get(d)?.private !== true)
/** `@peerguard/x` → `packages/x` */
export const WORKSPACE_DIRS = new Map(DIRS.map((d) => [(MANIFESTS.get(d) as Manifest).name, `packages/${d}`]))
/** The repository's package-lock.json. */
export const REPO_LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>
}
/** npm flags for an install that reads only the cache and runs no scripts. */
export const NPM_QUIET = ['--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']

/** A packed package: the tarball and the files it holds. */
export interface PackedFiles {
  tarball: string
  files: string[]
}

/** `npm …` in `cwd`; the output, or an error carrying npm's own stderr. */
export function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 600_000, env })
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} (in ${cwd}) failed: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** Build every package (`tsc -b`), then `npm pack` each public one into `dir`/packs. */
export function packPublicPackages(dir: string): Map<string, PackedFiles> {
  try {
    execFileSync('npx', ['tsc', '-b', ...DIRS.map((d) => join('packages', d))], { cwd: ROOT, stdio: 'pipe' })
  } catch (err) {
    // tsc -b still emits when a package has type errors (npm test reports those); judge by dist.
    if (!DIRS.every((d) => existsSync(join(ROOT, 'packages', d, 'dist', 'index.js')))) throw err
  }
  const out = join(dir, 'packs')
  mkdirSync(out, { recursive: true })
  const packs = new Map<string, PackedFiles>()
  for (const d of PUBLIC) {
    const json = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', out], join(ROOT, 'packages', d))
    const [info] = JSON.parse(json) as [{ filename: string; files: { path: string }[] }]
    packs.set(d, { tarball: join(out, info.filename), files: info.files.map((f) => f.path) })
  }
  return packs
}

/** `@peerguard/x` → its manifest and tarball, as packaging-lock.ts and packaging-registry.ts take them. */
export function packedMap(packs: Map<string, PackedFiles>): Map<string, Packed> {
  return new Map(
    PUBLIC.map((d) => {
      const m = MANIFESTS.get(d) as Manifest
      return [m.name, { manifest: m, tarball: packs.get(d)?.tarball as string }]
    })
  )
}
