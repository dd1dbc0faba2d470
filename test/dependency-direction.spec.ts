/**
 * Dependencies point one way and are declared exactly (ARCHITECTURE.md, "Dependency direction").
 * This test reads every package.json and every import in packages/*\/src, packages/*\/test, test/
 * and bench/, and fails on:
 * - an edge the table does not allow, a dev edge that closes a cycle, a deep import past a
 *   package's `exports`, a relative import that leaves its package;
 * - a used-but-undeclared dependency: src imports need `dependencies` (type-only imports may be
 *   dev), test imports need the package's own fields or the root devDependencies (workspace
 *   packages always by the package's own fields);
 * - a declared-but-unused dependency: a runtime dependency no src file imports, a devDependency no
 *   test imports, a root devDependency nothing uses (tools say which file uses them).
 * The checker runs on the repository and on a small fabricated tree that has one of each fault.
 */
import { describe, expect, it } from '@jest/globals'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const REPO = join(import.meta.dirname, '..')

/** May-import table of ARCHITECTURE.md (cli may import everything; test-utils anything, as a devDependency). */
const ALLOWED: Record<string, readonly string[] | 'any'> = {
  interface: [],
  identity: ['interface'],
  pki: ['interface', 'identity'],
  policy: ['interface'],
  channel: ['interface', 'identity', 'pki'],
  'decision-log': ['interface', 'identity'],
  audit: ['interface', 'identity', 'policy', 'decision-log'],
  share: ['interface', 'identity', 'pki', 'channel', 'policy', 'decision-log'],
  swarm: ['interface', 'identity', 'pki', 'channel', 'policy', 'decision-log'],
  libp2p: ['interface', 'identity', 'pki', 'channel', 'policy', 'decision-log'],
  proxy: ['interface', 'identity', 'pki', 'channel', 'policy', 'decision-log'],
  workspace: ['interface', 'identity', 'pki', 'channel', 'policy', 'decision-log'],
  cli: 'any',
  'test-utils': 'any'
}

/**
 * Root devDependencies that no file imports, and the file that uses each (the test checks the file
 * names it). `@types/x` is used when `x` is.
 */
const TOOLS: Record<string, { file: string; token: string }> = {
  '@biomejs/biome': { file: 'package.json', token: 'biome check' },
  jest: { file: 'package.json', token: 'node_modules/jest/bin/jest.js' },
  '@swc/jest': { file: 'jest.config.js', token: "'@swc/jest'" },
  '@swc/core': { file: 'jest.config.js', token: "'@swc/jest'" }, // @swc/jest's peer: the compiler it drives
  typescript: { file: 'package.json', token: 'tsc -b' },
  turbo: { file: 'turbo.json', token: 'turbo.build' }
}

interface Manifest {
  name: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  exports?: Record<string, unknown>
}

const IMPORT_RE =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|createRequire\([^)]*\)(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g

/** Drop comments (JSDoc examples show imports that are not real edges). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
}

interface Import {
  spec: string
  typeOnly: boolean
}

function importsOf(text: string): Import[] {
  const out: Import[] = []
  for (const m of stripComments(text).matchAll(IMPORT_RE)) {
    const spec = (m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5]) as string
    out.push({ spec, typeOnly: /^(?:import|export)\s+type\s/.test(m[0]) })
  }
  return out
}

const BUILTINS = new Set(builtinModules)

/** The npm package a bare specifier names (`@noble/hashes/sha2.js` → `@noble/hashes`); undefined for relative, builtin or computed. */
function packageOf(spec: string): string | undefined {
  if (/^[./#]/.test(spec) || spec.includes('${') || spec.startsWith('node:')) return undefined
  const parts = spec.split('/')
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string)
  if (BUILTINS.has(name)) return undefined
  return name
}

function codeFiles(dir: string): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return []
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (!['node_modules', 'dist', 'fixtures', 'vectors', '.work'].includes(entry.name)) out.push(...codeFiles(p))
    } else if (/\.(ts|tsx|js|mjs|cjs)$/.test(entry.name)) out.push(p)
  }
  return out
}

const readJson = (path: string): Manifest => JSON.parse(readFileSync(path, 'utf8')) as Manifest

/** Every problem in the tree under `root`, as readable lines. */
function violations(root: string): string[] {
  const problems: string[] = []
  const packagesDir = join(root, 'packages')
  const rootManifest = readJson(join(root, 'package.json'))
  const rootDev = new Set(Object.keys(rootManifest.devDependencies ?? {}))
  const dirs = readdirSync(packagesDir).filter((n) => statSync(join(packagesDir, n, 'package.json'), { throwIfNoEntry: false }))
  const workspace = new Set(dirs.map((d) => `@peerguard/${d}`))
  // `@peerguard/channel/tls`: a subpath the package's exports map declares is not a deep import.
  const subpaths = new Set(
    dirs.flatMap((d) =>
      Object.keys(readJson(join(packagesDir, d, 'package.json')).exports ?? {})
        .filter((k) => k !== '.')
        .map((k) => `@peerguard/${d}/${k.slice(2)}`)
    )
  )
  const pastExports = (spec: string, name: string): boolean => spec !== name && !subpaths.has(spec)
  const usedAnywhere = new Set<string>()
  const devEdges = new Map<string, Set<string>>()
  // optional native dependencies of a package (pcap): bench/ may load them, guarded, as a context
  // contender; the package owns the declaration (declaring it at the root would make it required)
  const optionalOfPackages = new Set(
    dirs.flatMap((d) => Object.keys(readJson(join(packagesDir, d, 'package.json')).optionalDependencies ?? {}))
  )

  for (const dirName of dirs) {
    const pkgDir = join(packagesDir, dirName)
    const manifest = readJson(join(pkgDir, 'package.json'))
    const self = `@peerguard/${dirName}`
    const allowed = ALLOWED[dirName]
    if (allowed === undefined) {
      problems.push(`packages/${dirName}: not in the dependency table of ARCHITECTURE.md`)
      continue
    }
    if (manifest.name !== self) problems.push(`packages/${dirName}: name should be ${self}, is ${manifest.name}`)
    const runtime = new Set(
      Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })
    )
    const dev = new Set(Object.keys(manifest.devDependencies ?? {}))
    const peers = manifest.peerDependencies ?? {}
    for (const dep of runtime) {
      // a peer dependency is also a devDependency to build and test against (the usual way)
      if (dev.has(dep) && peers[dep] === undefined) problems.push(`${self}: ${dep} is both a dependency and a devDependency`)
      if (!workspace.has(dep)) continue
      const target = dep.slice('@peerguard/'.length)
      if (target === 'test-utils') problems.push(`${self}: @peerguard/test-utils may only be a devDependency`)
      else if (allowed !== 'any' && !allowed.includes(target))
        problems.push(`${self}: depends on ${dep}, which the table does not allow`)
    }
    devEdges.set(self, new Set([...runtime, ...dev].filter((d) => workspace.has(d))))

    // src: runtime imports need runtime declarations; every runtime declaration is imported.
    const srcDir = join(pkgDir, 'src')
    const srcUsed = new Set<string>()
    for (const file of codeFiles(srcDir)) {
      const rel = file.slice(root.length + 1)
      for (const { spec, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          if (!join(file, '..', spec).startsWith(srcDir)) problems.push(`${rel}: relative import ${spec} leaves the package`)
          continue
        }
        const name = packageOf(spec)
        if (name === undefined) continue
        srcUsed.add(name)
        usedAnywhere.add(name)
        if (name === self) {
          problems.push(`${rel}: imports its own package by name`)
          continue
        }
        if (workspace.has(name)) {
          if (pastExports(spec, name)) problems.push(`${rel}: deep import ${spec} past the package's exports`)
          const target = name.slice('@peerguard/'.length)
          if (allowed !== 'any' && !allowed.includes(target))
            problems.push(`${rel}: imports ${name}, which the table does not allow`)
        }
        if (runtime.has(name)) continue
        if (typeOnly && (dev.has(name) || rootDev.has(name))) continue
        problems.push(`${rel}: imports ${name}, not declared in ${self}'s dependencies`)
      }
    }
    // a peer dependency is the host the package plugs into (libp2p): src need not import it
    for (const dep of runtime)
      if (
        peers[dep] === undefined &&
        !srcUsed.has(dep) &&
        !(dep.startsWith('@types/') && srcUsed.has(dep.slice('@types/'.length)))
      )
        problems.push(`${self}: declares ${dep} but nothing in src imports it`)

    // test: imports declared by the package (workspace packages always) or by the root devDependencies.
    const testUsed = new Set<string>()
    for (const file of codeFiles(join(pkgDir, 'test'))) {
      const rel = file.slice(root.length + 1)
      for (const { spec } of importsOf(readFileSync(file, 'utf8'))) {
        const name = packageOf(spec)
        if (name === undefined || name === self) continue
        testUsed.add(name)
        usedAnywhere.add(name)
        if (workspace.has(name) && pastExports(spec, name))
          problems.push(`${rel}: deep import ${spec} past the package's exports`)
        if (runtime.has(name) || dev.has(name) || (!workspace.has(name) && rootDev.has(name))) continue
        problems.push(`${rel}: imports ${name}, declared neither by ${self} nor by the root devDependencies`)
      }
    }
    for (const dep of dev)
      if (!testUsed.has(dep) && !srcUsed.has(dep)) problems.push(`${self}: devDependency ${dep} is used by no test`)
  }

  // The root package: test/ and bench/ import workspace packages or root devDependencies (this
  // file is left out: its examples are strings).
  const rootFiles = [...codeFiles(join(root, 'test')), ...codeFiles(join(root, 'bench'))]
  for (const file of rootFiles.filter((f) => f !== import.meta.filename)) {
    const rel = file.slice(root.length + 1)
    for (const { spec } of importsOf(readFileSync(file, 'utf8'))) {
      const name = packageOf(spec)
      if (name === undefined) continue
      usedAnywhere.add(name)
      if (workspace.has(name)) {
        if (pastExports(spec, name)) problems.push(`${rel}: deep import ${spec} past the package's exports`)
        continue
      }
      if (rel.startsWith('bench/') && optionalOfPackages.has(name)) continue
      if (!rootDev.has(name)) problems.push(`${rel}: imports ${name}, not in the root devDependencies`)
    }
  }
  for (const dep of rootDev) {
    if (usedAnywhere.has(dep)) continue
    if (dep.startsWith('@types/')) {
      const of = dep.slice('@types/'.length)
      if (of === 'node' || usedAnywhere.has(of)) continue
    }
    const tool = TOOLS[dep]
    const text = tool === undefined ? undefined : readFileSync(join(root, tool.file), { encoding: 'utf8', flag: 'r' })
    if (tool !== undefined && text?.includes(tool.token)) continue
    problems.push(
      `root: devDependency ${dep} is used by nothing${tool === undefined ? '' : ` (${tool.file} no longer has ${tool.token})`}`
    )
  }

  // No cycle through runtime and dev edges between workspace packages.
  const state = new Map<string, 'open' | 'done'>()
  const visit = (n: string, path: string[]): void => {
    if (state.get(n) === 'done') return
    if (state.get(n) === 'open') {
      problems.push(`cycle: ${[...path.slice(path.indexOf(n)), n].join(' → ')}`)
      return
    }
    state.set(n, 'open')
    for (const m of devEdges.get(n) ?? []) visit(m, [...path, n])
    state.set(n, 'done')
  }
  for (const n of devEdges.keys()) visit(n, [])
  return problems
}

/** A fabricated repository: `files` maps relative paths to contents (objects become JSON). */
function fabricate(files: Record<string, string | object>): string {
  const dir = mkdtempSync(join(tmpdir(), 'pg-deps-'))
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true })
    writeFileSync(join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content))
  }
  return dir
}

describe('dependency direction and declarations', () => {
  it('finds the import forms it is meant to police', () => {
    const text = [
      "import { a } from '@peerguard/pki'",
      "import type { B } from '@peerguard/x/dist/b.js'",
      "export { c } from './c.js'",
      "const d = await import('@peerguard/channel')",
      "import '@peerguard/side-effect'",
      "const p = createRequire(import.meta.url).resolve('pcap')",
      "const y = createRequire(import.meta.url)('yaml')",
      "export type { E } from 'libp2p'",
      "/** import { x } from '@peerguard/in-a-comment' */"
    ].join('\n')
    expect(importsOf(text)).toEqual([
      { spec: '@peerguard/pki', typeOnly: false },
      { spec: '@peerguard/x/dist/b.js', typeOnly: true },
      { spec: './c.js', typeOnly: false },
      { spec: '@peerguard/channel', typeOnly: false },
      { spec: '@peerguard/side-effect', typeOnly: false },
      { spec: 'pcap', typeOnly: false },
      { spec: 'yaml', typeOnly: false },
      { spec: 'libp2p', typeOnly: true }
    ])
    expect(['@noble/hashes/sha2.js', 'yaml', 'node:fs', 'fs/promises', './x.js', `${'$'}{dist}`].map(packageOf)).toEqual([
      '@noble/hashes',
      'yaml',
      undefined,
      undefined,
      undefined,
      undefined
    ])
  })

  it('catches each kind of fault in a fabricated tree', () => {
    const root = fabricate({
      'package.json': { name: 'r', devDependencies: { jest: '1', 'left-pad': '1', '@types/node': '1', 'types-only': '1' } },
      'jest.config.js': '',
      'test/a.spec.ts': "import 'undeclared-at-root'\nimport { b } from '@peerguard/b'",
      'packages/a/package.json': { name: '@peerguard/a', dependencies: { 'never-imported': '1' } },
      'packages/a/src/index.ts': "import { x } from 'undeclared'\nimport type { T } from 'types-only'\nexport const a = 1",
      'packages/a/test/a.spec.ts': "import { b } from '@peerguard/b'",
      'packages/b/package.json': {
        name: '@peerguard/b',
        dependencies: { '@peerguard/a': '0' },
        devDependencies: { unused: '1' }
      },
      'packages/b/src/index.ts': "import { a } from '@peerguard/a/dist/index.js'\nexport const b = 1",
      'packages/nobody/package.json': { name: '@peerguard/nobody' }
    })
    try {
      // the fabricated packages join the table for this test
      ALLOWED.a = []
      ALLOWED.b = ['a']
      expect(violations(root).sort()).toEqual(
        [
          'packages/nobody: not in the dependency table of ARCHITECTURE.md',
          "packages/a/src/index.ts: imports undeclared, not declared in @peerguard/a's dependencies",
          '@peerguard/a: declares never-imported but nothing in src imports it',
          'packages/a/test/a.spec.ts: imports @peerguard/b, declared neither by @peerguard/a nor by the root devDependencies',
          "packages/b/src/index.ts: deep import @peerguard/a/dist/index.js past the package's exports",
          '@peerguard/b: devDependency unused is used by no test',
          'test/a.spec.ts: imports undeclared-at-root, not in the root devDependencies',
          'root: devDependency left-pad is used by nothing',
          'root: devDependency jest is used by nothing (package.json no longer has node_modules/jest/bin/jest.js)'
        ].sort()
      )
      // a dev edge back closes a cycle
      writeFileSync(
        join(root, 'packages/a/package.json'),
        JSON.stringify({ name: '@peerguard/a', devDependencies: { '@peerguard/b': '0' } })
      )
      writeFileSync(join(root, 'packages/a/src/index.ts'), 'export const a = 1')
      expect(violations(root)).toContain('cycle: @peerguard/a → @peerguard/b → @peerguard/a')
    } finally {
      delete ALLOWED.a
      delete ALLOWED.b
      rmSync(root, { recursive: true, force: true, maxRetries: 5 })
    }
  })

  it('the repository: every edge points the allowed way, every dependency is declared and used', () => {
    expect(violations(REPO)).toEqual([])
  })

  it('every package has an exports map and nothing else as its entry; subpaths are folders with an index', () => {
    for (const dirName of readdirSync(join(REPO, 'packages'))) {
      const path = join(REPO, 'packages', dirName, 'package.json')
      if (!statSync(path, { throwIfNoEntry: false })) continue
      const manifest = readJson(path)
      const keys = Object.keys(manifest.exports ?? {})
      expect(keys[0]).toBe('.')
      // `./tls` → dist/tls/index.js from src/tls/index.ts (what jest.config.js maps `@peerguard/x/tls` to)
      for (const key of keys.slice(1)) {
        expect(key).toMatch(/^\.\/[a-z0-9-]+$/)
        // `require` (published packages): the ESM-only message (test/packaging.spec.ts)
        expect(manifest.exports?.[key]).toMatchObject({
          types: `./dist/${key.slice(2)}/index.d.ts`,
          import: `./dist/${key.slice(2)}/index.js`
        })
        expect(
          statSync(join(REPO, 'packages', dirName, 'src', key.slice(2), 'index.ts'), { throwIfNoEntry: false })
        ).toBeDefined()
      }
    }
  })
})
