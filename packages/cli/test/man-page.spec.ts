/**
 * peerguard(1): generated from the commander definitions and the help topics (src/man.ts), shipped
 * as man/peerguard.1 (built by the package's prepare script, not kept in git) in the package tarball,
 * and clean for mandoc's and groff's checkers; the roff escaping holds for any text (property).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it, jest } from '@jest/globals'
import fc from 'fast-check'
import { needs } from '@peerguard/test-utils'
import { allCommands, commandTree } from '../src/command-tree.js'
import { HELP_TOPICS } from '../src/help-topics.js'
import { bufferedIO } from '../src/io.js'
import { manPage, roffEscape, roffText } from '../src/man.js'
import { createProgram } from '../src/program.js'
import { ensureCliBuilt, ROOT } from './built-cli.js'

jest.setTimeout(120_000)

const CLI = join(ROOT, 'packages', 'cli')
const SHIPPED = join(CLI, 'man', 'peerguard.1')
const program = createProgram(bufferedIO())
const page = manPage(program, program.version() as string)

describe('peerguard(1)', () => {
  it('has a section per command, every option, and the help topics', () => {
    for (const c of allCommands(commandTree(program)).filter((c) => c.path.length > 0)) {
      expect(page).toContain(`.SS "${roffEscape(['peerguard', ...c.path].join(' '))}"`)
      for (const o of c.options) expect(page).toContain(`.B ${roffEscape(o.flags)}\n`)
    }
    for (const t of HELP_TOPICS) expect(page).toContain(`.SH ${t.name.toUpperCase().replaceAll('-', ' ')}\n`)
    expect(page).toMatch(/^\.TH PEERGUARD 1 "" "peerguard \d+\.\d+\.\d+" "User Commands"$/m)
  })

  it('dist/man.js (what prepare runs) writes the same page', () => {
    ensureCliBuilt()
    const out = join(mkdtempSync(join(tmpdir(), 'pg-man-')), 'sub', 'peerguard.1')
    try {
      execFileSync(process.execPath, [join(CLI, 'dist', 'man.js'), out])
      expect(readFileSync(out, 'utf8')).toBe(page)
    } finally {
      rmSync(dirname(dirname(out)), { recursive: true, force: true })
    }
  })

  it('ships in the package tarball, named by the man field (built by npm install/ci: prepare)', () => {
    const manifest = JSON.parse(readFileSync(join(CLI, 'package.json'), 'utf8')) as {
      man?: string
      scripts: Record<string, string>
    }
    expect(manifest.man).toBe('./man/peerguard.1')
    expect(manifest.scripts.prepare).toContain('node dist/man.js man/peerguard.1')
    expect(existsSync(SHIPPED) ? 'built' : 'missing: run npm install (prepare) or npm run man -w @peerguard/cli').toBe('built')
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: CLI, encoding: 'utf8' })
    expect(r.status).toBe(0)
    const [info] = JSON.parse(r.stdout) as [{ files: { path: string }[] }]
    expect(info.files.map((f) => f.path)).toContain('man/peerguard.1')
  })

  it('roff escaping: no line of any text becomes a request, every backslash is an escape, output is ASCII', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        for (const out of [roffEscape(text), roffText(text)]) {
          for (const line of out.split('\n')) {
            if (/^[.']/.test(line)) expect(line).toMatch(/^\.(PP|RS 2|RE|nf|fi)$/)
          }
          expect(out).toMatch(/^[\x00-\x7f]*$/)
          expect(out.replace(/\\(e|-|&|\[u[0-9A-F]{4,6}\])/g, '')).not.toContain('\\')
        }
      })
    )
    expect(roffEscape(".TH x\n'br\na\\b -x é")).toBe("\\&.TH x\n\\&'br\na\\eb \\-x \\[u00E9]")
  })
})

const lint = needs('mandoc', 'man page lint through mandoc and groff')

lint.describe('peerguard(1) through mandoc and groff', () => {
  const check = (cmd: string, args: string[]) => {
    return spawnSync(cmd, [...args, SHIPPED], { encoding: 'utf8' })
  }

  it('mandoc -T lint finds nothing but the deliberately empty date', () => {
    const r = check('mandoc', ['-T', 'lint', '-W', 'warning'])
    expect(r.stdout.split('\n').filter((l) => l !== '' && !l.includes('missing date'))).toEqual([])
  })

  it('groff renders it without a warning, with every command', () => {
    expect(check('groff', ['-man', '-Tutf8', '-ww', '-z']).stderr).toBe('')
    const text = check('mandoc', ['-T', 'utf8']).stdout.replace(/.\x08/g, '')
    expect(text).toContain('peerguard share get')
    expect(text).toContain('NODE CONFIG')
  })
})
