/**
 * The `peerguard(1)` man page, in roff (the man macros), generated from the commander definitions
 * (command-tree.ts) and the help topics (help-topics.ts): every command with its usage, description,
 * options and notes, then the topics. It is built, not kept in git: the cli package's `prepare`
 * (which `npm install`/`npm ci` and `npm pack` run) builds dist and writes man/peerguard.1, the file
 * the package ships (`man` in package.json); `npm run man -w @peerguard/cli` rewrites it.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { allCommands, type CommandSpec, commandTree } from './command-tree.js'
import { HELP_TOPICS } from './help-topics.js'
import { bufferedIO } from './io.js'

/**
 * Text made safe for roff: backslashes, minus signs, non-ASCII characters as `\[uXXXX]` (groff and
 * mandoc alike), and a line starting with `.` or `'` is not a request.
 */
export function roffEscape(text: string): string {
  return text
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .replace(/[^\x00-\x7f]/gu, (ch) => `\\[u${(ch.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}]`)
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n')
}

/**
 * Plain text as man paragraphs: blank-line separated paragraphs, and runs of lines indented by two
 * spaces (examples, tables) kept as they are, indented.
 */
export function roffText(text: string, afterHeading = false): string {
  const out: string[] = []
  let block: 'para' | 'pre' | undefined
  for (const raw of text.replace(/\s+$/, '').split('\n')) {
    const line = raw.replace(/\s+$/, '')
    if (line === '') {
      if (block === 'pre') out.push('.fi', '.RE')
      block = undefined
      continue
    }
    const pre = /^ {2}/.test(line)
    if (pre && block !== 'pre') {
      out.push('.PP', '.RS 2', '.nf')
      block = 'pre'
    } else if (!pre && block === 'pre') {
      out.push('.fi', '.RE', '.PP')
      block = 'para'
    } else if (!pre && block === undefined) {
      out.push('.PP')
      block = 'para'
    }
    out.push(roffEscape(pre ? line.slice(2) : line))
  }
  if (block === 'pre') out.push('.fi', '.RE')
  // right after .SH a paragraph starts by itself
  if (afterHeading && out[0] === '.PP') out.shift()
  return out.join('\n')
}

function commandSection(c: CommandSpec): string {
  const name = ['peerguard', ...c.path].join(' ')
  const lines = [`.SS "${roffEscape(name)}"`, `.B ${roffEscape(name)}`, roffEscape(c.usage), '.PP', roffEscape(c.description)]
  for (const a of c.arguments)
    lines.push(
      '.TP',
      `.I ${roffEscape(a.name)}${a.variadic ? '\\&...' : ''}`,
      roffEscape(a.description || (a.required ? 'required' : 'optional'))
    )
  for (const o of c.options) {
    const extra = [
      o.choices.length > 0 ? `one of ${o.choices.join(', ')}` : undefined,
      o.defaultValue === undefined ? undefined : `default ${o.defaultValue}`
    ].filter((x) => x !== undefined)
    lines.push(
      '.TP',
      `.B ${roffEscape(o.flags)}`,
      roffEscape(`${o.description}${extra.length > 0 ? ` (${extra.join('; ')})` : ''}`)
    )
  }
  if (c.after !== '') lines.push(roffText(c.after))
  return lines.join('\n')
}

/** The man page of `program` (version and date are in the title line). */
export function manPage(program: Command, version: string): string {
  const tree = commandTree(program)
  const commands = allCommands(tree).filter((c) => c.path.length > 0)
  const header = [
    `.\\" peerguard(1), generated from the command definitions (packages/cli/src/man.ts); do not edit`,
    `.TH PEERGUARD 1 "" "peerguard ${roffEscape(version)}" "User Commands"`,
    '.SH NAME',
    'peerguard \\- authenticated identities, encrypted channels, access policies and traffic audits for LAN sharing',
    '.SH SYNOPSIS',
    '.B peerguard',
    '[\\fB\\-\\-json\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.br',
    '.B peerguard help',
    '[\\fItopic\\fR | \\fIcommand\\fR...]',
    '.SH DESCRIPTION',
    roffText(tree.description, true),
    '.PP',
    'Every command that prints data takes \\fB\\-\\-json\\fR for machine-readable output on stdout.',
    'Diagnostics go to stderr. Secrets (keys, passphrases) are never taken from argv or the environment.',
    '.SH GLOBAL OPTIONS',
    ...tree.options.flatMap((o) => ['.TP', `.B ${roffEscape(o.flags)}`, roffEscape(o.description)]),
    '.SH COMMANDS'
  ]
  const topics = HELP_TOPICS.flatMap((t) => [
    `.SH ${roffEscape(t.name.toUpperCase().replaceAll('-', ' '))}`,
    roffText(t.page(program), true)
  ])
  const footer = [
    '.SH ENVIRONMENT',
    '.TP',
    '.B CREDENTIALS_DIRECTORY',
    'where \\fB\\-\\-passphrase\\-credential\\fR \\fINAME\\fR reads a passphrase (systemd LoadCredential=)',
    '.TP',
    '.B XDG_RUNTIME_DIR',
    'default folder of the node control socket (peerguard/node.sock)',
    '.TP',
    '.B XDG_CONFIG_HOME',
    'where clients keep known peers (peerguard/known\\-peers)',
    '.SH SEE ALSO',
    '.BR systemd.exec (5),',
    '.BR openssl (1)',
    '.PP',
    'peerguard completion bash|zsh; the package README and SECURITY.md'
  ]
  return `${[...header, ...commands.map(commandSection), ...topics, ...footer].join('\n')}\n`
}

/** `node dist/man.js FILE`: write the man page of the built program to FILE. */
async function main(out: string): Promise<void> {
  const { createProgram } = await import('./program.js')
  const program = createProgram(bufferedIO())
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, manPage(program, program.version() ?? '0.0.0'))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2]
  if (out === undefined) {
    process.stderr.write('usage: node dist/man.js FILE\n')
    process.exitCode = 2
  } else await main(out)
}
