/**
 * A lockfile for a project outside the repository that installs the packed `@peerguard/*` tarballs.
 *
 * The tarballs are not on a registry, and an offline npm cannot resolve `yaml@^2.9.1` without the
 * registry's package document (CI's cache holds only the tarballs `npm ci` fetched). So the test
 * writes the lockfile npm would have written: each `@peerguard/*` package from its tarball, and
 * each registry package at the version, place and integrity the repository's own lockfile pins
 * (the same tree the repository is tested with), found by Node's resolution from where it is used.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** One entry of a v3 lockfile's `packages` map (the fields npm reads when it installs). */
export interface LockEntry {
  name?: string
  version?: string
  resolved?: string
  integrity?: string
  link?: boolean
  license?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  bin?: Record<string, string> | string
  engines?: Record<string, string>
  os?: string[]
  cpu?: string[]
  optional?: boolean
  dev?: boolean
  devOptional?: boolean
  peer?: boolean
  hasInstallScript?: boolean
}

/** A packed workspace package: its manifest and the tarball's absolute path. */
export interface Packed {
  manifest: LockEntry & { name: string; version: string }
  tarball: string
}

const REGISTRY = 'https://registry.npmjs.org/'

/** `sha512-…` of a file, as npm writes it. */
export function integrityOf(path: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(path)).digest('base64')}`
}

/** The registry URL of a tarball when the repository's lockfile omitted `resolved`. */
function registryTarball(name: string, version: string): string {
  const base = name.startsWith('@') ? name.split('/')[1] : name
  return `${REGISTRY}${name}/-/${base}-${version}.tgz`
}

/** The package name a lockfile location ends with (`a/node_modules/@s/n` → `@s/n`). */
function nameAt(location: string): string {
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length)
}

/**
 * The lockfile of a project whose root depends on `rootDependencies` (names of packed packages and
 * registry packages, with the specs to write in its package.json). `repoLock` is the repository's
 * package-lock.json; `packed` maps `@peerguard/x` to its tarball; `workspaceDirs` maps
 * `@peerguard/x` to its folder in the repository (`packages/x`).
 */
export function consumerLock(
  rootName: string,
  rootDependencies: Record<string, string>,
  repoLock: { packages: Record<string, LockEntry> },
  packed: Map<string, Packed>,
  workspaceDirs: Map<string, string>
): { name: string; lockfileVersion: 3; requires: true; packages: Record<string, LockEntry> } {
  const repo = repoLock.packages
  const out: Record<string, LockEntry> = {
    '': { name: rootName, version: '1.0.0', dependencies: { ...rootDependencies } }
  }
  const dirOf = new Map([...workspaceDirs].map(([name, dir]) => [dir, name]))

  /** Repository location → consumer location (`packages/x/...` → `node_modules/@peerguard/x/...`). */
  const toConsumer = (repoLocation: string): string => {
    for (const [dir, name] of dirOf) {
      if (repoLocation === dir || repoLocation.startsWith(`${dir}/`))
        return `node_modules/${name}${repoLocation.slice(dir.length)}`
    }
    return repoLocation
  }

  /** Node's resolution of `name` from the repository location `from`, as a repository location. */
  const resolve = (from: string, name: string): string => {
    let base = from
    for (;;) {
      const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`
      const entry = repo[candidate]
      if (entry !== undefined) return entry.link === true && entry.resolved !== undefined ? entry.resolved : candidate
      if (base === '') throw new Error(`packaging lock: ${name} (needed by ${from || 'the root'}) is not in package-lock.json`)
      const cut = base.lastIndexOf('/node_modules/')
      // `packages/x` and `node_modules/a` look next in the root's node_modules
      base = cut < 0 ? '' : base.slice(0, cut)
    }
  }

  const queue: string[] = []
  const visit = (repoLocation: string): void => {
    const at = toConsumer(repoLocation)
    if (out[at] !== undefined) return
    const wsName = dirOf.get(repoLocation)
    if (wsName !== undefined) {
      const p = packed.get(wsName)
      if (p === undefined) throw new Error(`packaging lock: ${wsName} is needed but was not packed`)
      const m = p.manifest
      out[at] = {
        version: m.version,
        resolved: `file:${p.tarball}`,
        integrity: integrityOf(p.tarball),
        license: m.license,
        dependencies: m.dependencies,
        optionalDependencies: m.optionalDependencies,
        peerDependencies: m.peerDependencies,
        peerDependenciesMeta: m.peerDependenciesMeta,
        bin: m.bin,
        engines: m.engines
      }
    } else {
      const e = { ...(repo[repoLocation] as LockEntry) }
      delete e.dev
      delete e.devOptional
      delete e.peer
      e.resolved ??= registryTarball(nameAt(repoLocation), e.version as string)
      out[at] = e
    }
    queue.push(repoLocation)
  }

  for (const name of Object.keys(rootDependencies)) visit(resolve('', name))
  while (queue.length > 0) {
    const from = queue.shift() as string
    const entry = out[toConsumer(from)] as LockEntry
    const optional = new Set(Object.keys(entry.optionalDependencies ?? {}))
    const peersOptional = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional === true)
        .map(([n]) => n)
    )
    const needed = [
      ...Object.keys(entry.dependencies ?? {}),
      ...optional,
      ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !peersOptional.has(n))
    ]
    for (const name of needed) {
      try {
        visit(resolve(from, name))
      } catch (err) {
        // an optional dependency the repository did not install (another platform) stays out
        if (!optional.has(name)) throw err
      }
    }
  }
  return { name: rootName, lockfileVersion: 3, requires: true, packages: out }
}
