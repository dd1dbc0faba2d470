/**
 * Every help page: each command's help lists `--json` (walking the whole commander tree, so a new
 * command without it fails here), `peerguard help <topic>` pages, and `peerguard help <command…>`
 * as commander's implicit help command answered before.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, jest } from '@jest/globals'
import { CODES, EXIT_CODES } from '@peerguard/interface'
import { allCommands, commandTree } from '../src/command-tree.js'
import { HELP_TOPICS } from '../src/help-topics.js'
import { bufferedIO } from '../src/io.js'
import { createProgram } from '../src/program.js'
import { ROOT } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(60_000)

/** Commands that print text that is not data (a script, a help page): no `--json` to ask for. */
const PRINTS_NO_DATA = new Set(['completion', 'help'])

const tree = commandTree(createProgram(bufferedIO()))
const commands = allCommands(tree)

describe('--json in every help page', () => {
  it('the walk sees the whole tree (nouns, verbs, audit log verbs)', () => {
    const paths = commands.map((c) => c.path.join(' '))
    expect(paths).toEqual(expect.arrayContaining(['', 'share get', 'audit log show', 'node status', 'cert p12', 'swarm seed']))
    expect(commands.length).toBeGreaterThan(40)
  })

  const runnable = commands.filter((c) => c.commands.length === 0 || c.path.join(' ') === 'node')
  it.each(runnable.map((c) => [c.path.join(' ')]))('peerguard %s --help lists --json', async (path) => {
    const r = await runCli([...path.split(' '), '--help'])
    expect(r.code).toBe(0)
    if (PRINTS_NO_DATA.has(path)) expect(r.stdout).not.toMatch(/^\s+--json\b/m)
    else expect(r.stdout).toMatch(/^\s+--json\b/m)
  })

  it('the program lists --json too, and a noun that only groups verbs needs none', async () => {
    expect((await runCli(['--help'])).stdout).toMatch(/^\s+--json\b/m)
    expect((await runCli(['--help'])).stdout).toContain('More: peerguard help <topic>')
    expect(commands.filter((c) => c.commands.length > 0 && c.path.length > 0).map((c) => c.path.join(' '))).toEqual(
      expect.arrayContaining(['id', 'share', 'audit log'])
    )
  })

  it('the allowlist holds only commands that exist', () => {
    for (const name of PRINTS_NO_DATA) expect(commands.map((c) => c.path.join(' '))).toContain(name)
  })
})

describe('peerguard help <topic>', () => {
  it('lists every topic after the program help', async () => {
    const r = await runCli(['help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Usage: peerguard')
    for (const t of HELP_TOPICS) expect(r.stdout).toMatch(new RegExp(`^  ${t.name} +${t.summary.replace(/[()]/g, '.')}$`, 'm'))
  })

  it.each(HELP_TOPICS.map((t) => [t.name]))('help %s prints its page', async (name) => {
    const r = await runCli(['help', name])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout.split('\n').length).toBeGreaterThan(8)
  })

  it('node-config lists every key of node.schema.json, required ones marked', async () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'packages', 'cli', 'node.schema.json'), 'utf8')) as {
      required: string[]
      properties: Record<string, unknown>
    }
    const page = (await runCli(['help', 'node-config'])).stdout
    for (const key of Object.keys(schema.properties)) expect(page).toMatch(new RegExp(`^  ${key} `, 'm'))
    for (const key of schema.required) expect(page).toMatch(new RegExp(`^  ${key} .*\\(required\\)$`, 'm'))
  })

  it('exit-codes and error-codes come from the code tables', async () => {
    const exits = (await runCli(['help', 'exit-codes'])).stdout
    for (const n of Object.values(EXIT_CODES)) expect(exits).toMatch(new RegExp(`^  ${n}  \\S`, 'm'))
    const errors = (await runCli(['help', 'error-codes'])).stdout
    for (const [code, info] of Object.entries(CODES)) expect(errors).toMatch(new RegExp(`^  ${code} +${info.exit}  `, 'm'))
  })

  it("a topic's command list is generated from the commands (policy lists its verbs)", async () => {
    const page = (await runCli(['help', 'policy'])).stdout
    for (const verb of ['lint', 'test', 'explain', 'diff']) expect(page).toMatch(new RegExp(`^  peerguard policy ${verb} `, 'm'))
  })

  it('help <command words> prints that command help; an unknown word is a usage error naming the topics', async () => {
    const r = await runCli(['help', 'share', 'get'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Usage: peerguard share get [options] <addr> <path> [local]')
    const bad = await runCli(['help', 'nope'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('help: no topic or command "nope"; topics: policy, node-config')
    const json = await runCli(['help', 'nope', '--json'])
    expect(JSON.parse(json.stdout).error.code).toBe('usage')
  })
})
