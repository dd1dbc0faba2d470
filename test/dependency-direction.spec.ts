/**
 * Dependencies point one way (table in STYLE.md). This test reads every packages/*\/package.json
 * and every import in packages/*\/src and fails on an edge the table does not allow, on an
 * undeclared @peerguard/* import, and on a deep import past a package's `exports`.
 */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const PACKAGES = join(ROOT, 'packages')

/** May-import table from STYLE.md ("anything" for test-utils; cli may import everything). */
const ALLOWED: Record<string, readonly string[] | 'any'> = {
  interface: [],
  identity: ['interface'],
  pki: ['interface', 'identity'],
  policy: ['interface'],
  channel: ['interface', 'identity', 'pki'],
  audit: ['interface', 'identity', 'policy'],
  share: ['interface', 'identity', 'pki', 'channel', 'policy', 'audit'],
  libp2p: ['interface', 'identity', 'pki', 'channel', 'policy', 'audit'],
  proxy: ['interface', 'identity', 'pki', 'channel', 'policy', 'audit'],
  cli: 'any',
  'test-utils': 'any'
}

interface Manifest {
  name: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  exports?: Record<string, unknown>
}

function packageNames(): string[] {
  return readdirSync(PACKAGES).filter((n) => statSync(join(PACKAGES, n, 'package.json'), { throwIfNoEntry: false }))
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(p))
    else if (/\.(ts|tsx|js|mjs|cjs)$/.test(entry.name)) out.push(p)
  }
  return out
}

const IMPORT_RE =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g

/** Drop comments (JSDoc examples show imports that are not real edges). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
}

function importsOf(text: string): string[] {
  const out: string[] = []
  for (const m of stripComments(text).matchAll(IMPORT_RE)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4]) as string)
  return out
}

/** Every violation in the tree, as readable lines. */
function violations(): string[] {
  const problems: string[] = []
  for (const dirName of packageNames()) {
    const manifest = JSON.parse(readFileSync(join(PACKAGES, dirName, 'package.json'), 'utf8')) as Manifest
    const allowed = ALLOWED[dirName]
    if (allowed === undefined) {
      problems.push(`packages/${dirName}: not in the dependency table of STYLE.md`)
      continue
    }
    if (manifest.name !== `@peerguard/${dirName}`)
      problems.push(`packages/${dirName}: name should be @peerguard/${dirName}, is ${manifest.name}`)
    const runtime = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies }
    const declared = new Set([...Object.keys(runtime), ...Object.keys(manifest.devDependencies ?? {})])
    for (const dep of Object.keys(runtime)) {
      if (!dep.startsWith('@peerguard/')) continue
      const target = dep.slice('@peerguard/'.length)
      if (target === 'test-utils') problems.push(`${manifest.name}: @peerguard/test-utils may only be a devDependency`)
      else if (allowed !== 'any' && !allowed.includes(target))
        problems.push(`${manifest.name}: depends on ${dep}, which the table does not allow`)
    }
    const srcDir = join(PACKAGES, dirName, 'src')
    if (!statSync(srcDir, { throwIfNoEntry: false })) continue
    for (const file of sourceFiles(srcDir)) {
      const rel = file.slice(ROOT.length + 1)
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          const resolved = join(file, '..', spec)
          if (!resolved.startsWith(srcDir)) problems.push(`${rel}: relative import ${spec} leaves the package`)
          continue
        }
        const m = /^@peerguard\/([^/]+)(\/.*)?$/.exec(spec)
        if (m === null) continue
        const target = m[1] as string
        if (m[2] !== undefined) problems.push(`${rel}: deep import ${spec} past the package's exports`)
        if (target === dirName) problems.push(`${rel}: imports its own package by name`)
        else if (!declared.has(`@peerguard/${target}`))
          problems.push(`${rel}: imports @peerguard/${target}, not declared in package.json`)
        else if (allowed !== 'any' && !allowed.includes(target))
          problems.push(`${rel}: imports @peerguard/${target}, which the table does not allow`)
      }
    }
  }
  return problems
}

describe('dependency direction', () => {
  it('finds the import forms it is meant to police', () => {
    const text = [
      "import { a } from '@peerguard/pki'",
      "import type { B } from '@peerguard/x/dist/b.js'",
      "export { c } from './c.js'",
      "const d = await import('@peerguard/channel')",
      "import '@peerguard/side-effect'",
      "/** import { x } from '@peerguard/in-a-comment' */"
    ].join('\n')
    expect(importsOf(text)).toEqual([
      '@peerguard/pki',
      '@peerguard/x/dist/b.js',
      './c.js',
      '@peerguard/channel',
      '@peerguard/side-effect'
    ])
  })

  it('every package is in the table and every edge points the allowed way', () => {
    expect(violations()).toEqual([])
  })

  it('every package exposes only its exports map entry points', () => {
    for (const dirName of packageNames()) {
      const manifest = JSON.parse(readFileSync(join(PACKAGES, dirName, 'package.json'), 'utf8')) as Manifest
      expect(manifest.exports).toBeDefined()
    }
  })
})
