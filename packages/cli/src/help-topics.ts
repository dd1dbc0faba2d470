/**
 * `peerguard help [topic | command…]`: short pages on what the option lists cannot say (the policy
 * file, the node config, trust and CRLs, the decision log, the auditor, exit and error codes), and
 * the help of any command (`peerguard help share get`, as commander's own help command did).
 *
 * Parts of the pages are generated, not written: the node-config keys from node.schema.json, the
 * exit codes from EXIT_CODES, the error codes from CODES, and each page's command list from the
 * commander definitions. A page is plain text: paragraphs, and blocks indented by two spaces that
 * the man page (man.ts) keeps as they are.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { CODES, EXIT_CODES, PeerguardError } from '@peerguard/interface'
import { type CommandSpec, commandTree } from './command-tree.js'
import type { CliIO } from './io.js'

export interface HelpTopic {
  readonly name: string
  /** One line, for the topic list. */
  readonly summary: string
  /** The page, generated from the program where it says what the commands are. */
  readonly page: (program: Command) => string
}

/** `  name  description` for the subcommands of `path` (empty when there is no such command). */
function commandList(program: Command, path: readonly string[]): string {
  let node: CommandSpec | undefined = commandTree(program)
  for (const word of path) node = node?.commands.find((c) => c.path.at(-1) === word)
  if (node === undefined || node.commands.length === 0) return ''
  const width = Math.max(...node.commands.map((c) => c.path.join(' ').length))
  const rows = node.commands.map((c) => `  peerguard ${c.path.join(' ').padEnd(width)}  ${c.description}`)
  return `\n\nCommands (peerguard ${path.join(' ')} <command> --help for their options):\n${rows.join('\n')}`
}

interface SchemaProperty {
  description?: string
  type?: string
  default?: unknown
  $ref?: string
  items?: { properties?: Record<string, SchemaProperty>; required?: string[] }
}
interface NodeSchema {
  required: string[]
  properties: Record<string, SchemaProperty>
}

/** node.schema.json ships beside package.json (in src/ and dist/ alike: one folder up). */
function nodeSchema(): NodeSchema {
  return JSON.parse(readFileSync(new URL('../node.schema.json', import.meta.url), 'utf8')) as NodeSchema
}

const REF_WHAT: Record<string, string> = {
  '#/$defs/hostPort': 'HOST:PORT',
  '#/$defs/name': 'a name (letters, digits, . _ -)',
  '#/$defs/path': 'a path'
}

/** One line per key: name, what it is, required or its default; list items indented below. */
function schemaKeys(props: Record<string, SchemaProperty>, required: readonly string[], indent: string): string[] {
  const width = Math.max(...Object.keys(props).map((k) => k.length))
  return Object.entries(props).flatMap(([key, p]) => {
    const notes = [
      required.includes(key) ? 'required' : undefined,
      p.default === undefined ? undefined : `default ${JSON.stringify(p.default)}`
    ].filter((n) => n !== undefined)
    const what = p.description ?? (p.items === undefined ? (REF_WHAT[p.$ref ?? ''] ?? p.type ?? '') : 'a list, each with:')
    const line = `${indent}${key.padEnd(width)}  ${what}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}`
    const items = p.items?.properties
    return items === undefined ? [line] : [line, ...schemaKeys(items, p.items?.required ?? [], `${indent}    `)]
  })
}

function nodeConfigPage(program: Command): string {
  const schema = nodeSchema()
  const lines = [
    'peerguard node --config FILE runs every share, proxy service (and what else the file lists) under one',
    'identity, one trust store with its CRLs, one policy and one decision log. The file is YAML (JSON works',
    'too), checked against node.schema.json; relative paths are relative to the file. Check it with',
    '`peerguard node check FILE`: every error as file:line:column, exit 3 when there is one.',
    '',
    'Keys:'
  ]
  lines.push(...schemaKeys(schema.properties, schema.required, '  '))
  lines.push(
    '',
    'Reload (SIGHUP, `peerguard node reload`, or an edit of a watched file) re-reads the certificate, trust,',
    'CRLs and policy and applies drain-seconds; any other changed key is refused (node-reload-refused) and',
    'the configuration in force stays: restart to apply it. SIGTERM stops accepting, lets running operations',
    'finish for up to drain-seconds, closes the decision log and exits 0.',
    '',
    'Example:',
    '  $ peerguard node check node.yaml',
    '  $ peerguard node --config node.yaml',
    '  $ peerguard node status --config node.yaml --json'
  )
  return lines.join('\n') + commandList(program, ['node'])
}

function exitCodesPage(): string {
  const meaning: Record<keyof typeof EXIT_CODES, string> = {
    OK: 'success',
    FINDING:
      'a finding or denial you asked about: an invalid certificate (cert verify), a denied policy explain,\n     a failing policy test, lint errors, audit findings, a decision log that does not verify',
    USAGE: 'usage: an unknown command or option, a missing or malformed argument',
    FAILURE: 'failure: a bad input file, a wrong passphrase, an I/O or network error',
    INTERNAL: 'internal error: a bug, please report it (SECURITY.md)',
    DAMAGED_INPUT: 'damaged input: audit read or replay of a truncated or corrupt capture (the report covers what was read)'
  }
  const rows = (Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]).map((k) => `  ${EXIT_CODES[k]}  ${meaning[k]}`)
  return [
    'Exit codes of every peerguard command:',
    '',
    ...rows,
    '',
    'Diagnostics go to stderr as `peerguard: error: …`, `peerguard: warning: …` and `peerguard: hint: …`.',
    'With --json, output is JSON on stdout, and an error is also printed there as',
    '{"error": {"name", "code", "message", "details"?}} with a stable code: see `peerguard help error-codes`.'
  ].join('\n')
}

function errorCodesPage(): string {
  const entries = Object.entries(CODES) as [string, { summary: string; exit: number }][]
  const width = Math.max(...entries.map(([c]) => c.length))
  return [
    'Stable error codes (the "code" of a --json error) with their exit code; never renamed.',
    '',
    ...entries.map(([code, info]) => `  ${code.padEnd(width)}  ${info.exit}  ${info.summary}`)
  ].join('\n')
}

const POLICY = `A policy file (YAML, or JSON) says, per peer, who may read and write what; everything else is denied.
Schema: policies/schema.json; the full reference is policies/README.md in the repository.

  version: 1
  peers:  { alice: { id: PDDT24E-…, name: alice.office.lan } }
  groups: { staff: [alice, "ou:staff"] }
  resources: { "share:docs": { require: [encrypted] } }
  rules:
    - { id: staff-docs, allow: [read, write], peers: [staff], resources: ["share:docs/**"] }
    - { deny: [delete], peers: ["*"], resources: ["share:docs/**"], when: { time: "22:00-06:00" } }
  tests:
    - { peer: alice, can: ["write share:docs/plan.odt"], cannot: ["admin share:docs"] }

Peers: a name under peers:, a group, id:<peer ID>, name:<certificate CN>, ou:<certificate group>, or *.
Resources: share:<name>/<path glob>, service:<name>, swarm:<name>, swarm-id:<hex>.
Actions: read (list, get), write (put, delete, rename, print), admin (never implied by write).
Conditions (when:): max-size, min-size, time, days, networks. Unknown facts fail closed.
Precedence: a resource requirement not met, then any deny, then any allow, else deny (deny-default).
Unknown keys, peer IDs with a bad check character and bad globs are located errors.`

const TRUST = `Peers prove who they are with a certificate from the LAN CA (peerguard ca issue) for their identity key.

  --trust FILE|DIR     the CA root(s): a PEM file, or a folder of roots and CRLs
  --crl FILE           a CRL of a CA in --trust (repeatable); every CA of a peer's chain needs a
                       current one, or the command refuses to start and names it (crl-missing, crl-stale)
  --allow-missing-crl  the explicit opt-out: warned about and recorded in the decision log
  --crl-refresh S      long-running commands fetch newer CRLs from the distribution points
                       (default 300, 0 never)

The CA side: \`peerguard ca crl --renew-before 2d\` from cron, \`ca init --crl-url URL\` so certificates name
where their CRL lives, \`ca publish --listen HOST:PORT\` to serve it. Revoke with \`ca revoke --serial N\`.

Long-running commands (share serve, swarm seed, proxy server, node) watch the certificate, trust, CRLs and
policy and re-read them on change or SIGHUP: a bad new file keeps the one in force (a rejected reload, on
stderr and in the decision log); after an applied reload every open connection is checked again, and a
peer no longer trusted is closed. Clients pin servers with --expect-peer ID or a known-peers file.

Check a certificate by hand:
  $ peerguard cert verify alice.pem --trust ca/ca.pem --crl ca/crl.pem`

const DECISION_LOG = `A hardened share, swarm seed, proxy server or node records every decision in a decision log (--log FILE):
JSON Lines, one entry per line, hash-chained (each entry's prev is the hash of the one before), with an
Ed25519-signed checkpoint every 64 entries, after 5 s and on close, and a signed head file (FILE.head)
so truncation and roll-back show.

Entry kinds: connection, operation (decided before it acts: no entry, no operation), outcome (ok or
failed, bytes, SHA-256 of written content, a rename's target), node (start, stop, with the policy hash),
reload, refusal-summary, checkpoint, recovery.

  $ peerguard audit log verify decisions.jsonl --key alice.pem      # exit 1 names the first bad entry
  $ peerguard audit log show decisions.jsonl --since 1d --peer bob --outcome denied
  $ peerguard audit log show decisions.jsonl --action write --resource 'docs/**' --format csv

show verifies as it reads: each row is signed, unsigned (after the last checkpoint) or tampered (shown,
never as fact). --log-ship syslog|FILE copies checkpoints elsewhere; verify --checkpoints checks them.
A log folder that does not exist is refused (log-folder-missing).`

const AUDIT = `peerguard audit reads traffic for insecure sharing: cleartext logins and file transfers, SMB1 and unsigned
SMB, FTP, telnet, TFTP, NFS, printing, plaintext BitTorrent and more, from a capture file or live.

  $ peerguard audit read office.pcapng --inventory audits/inventory.example.yaml --policy office.yaml
  $ peerguard audit capture --iface eth0 --duration 600 --save office.pcapng
  $ peerguard audit replay office.pcapng --policy proposed.yaml --current office.yaml

read writes HTML, Markdown and JSON reports to audits/reports/ (--out DIR, --no-write, --json), exports
ECS (--export-ecs) and syslog (--syslog). --fail-on SEV sets the severity that exits 1. --decision-log
correlates what peerguard decided with what went over the wire. A truncated or corrupt capture exits 5:
the report covers what was read and never passes as clean. replay exits 1 when the proposed policy
decides an observed operation differently.`

/** The topics, in the order `peerguard help` lists them. */
export const HELP_TOPICS: readonly HelpTopic[] = [
  {
    name: 'policy',
    summary: 'the policy file: peers, groups, rules, conditions, tests',
    page: (p) => POLICY + commandList(p, ['policy'])
  },
  { name: 'node-config', summary: 'the peerguard node configuration file, key by key', page: nodeConfigPage },
  { name: 'trust', summary: 'certificates, trust roots, CRLs and live reload', page: (p) => TRUST + commandList(p, ['ca']) },
  {
    name: 'decision-log',
    summary: 'what the decision log records, and verify and show',
    page: (p) => DECISION_LOG + commandList(p, ['audit', 'log'])
  },
  { name: 'audit', summary: 'the traffic auditor: captures, reports, replay', page: (p) => AUDIT + commandList(p, ['audit']) },
  { name: 'exit-codes', summary: 'exit codes and diagnostics', page: exitCodesPage },
  { name: 'error-codes', summary: 'the stable error codes of --json errors', page: errorCodesPage }
]

/** The topic called `name`, if any. */
export function helpTopic(name: string): HelpTopic | undefined {
  return HELP_TOPICS.find((t) => t.name === name)
}

function topicList(): string {
  const width = Math.max(...HELP_TOPICS.map((t) => t.name.length))
  return HELP_TOPICS.map((t) => `  ${t.name.padEnd(width)}  ${t.summary}`).join('\n')
}

/** Register `peerguard help [topic | command…]` in place of commander's implicit help command. */
export function registerHelpCommand(program: Command, io: CliIO): void {
  program.helpCommand(false)
  program
    .command('help')
    .description('show a help topic, or the help of a command')
    .argument('[topic-or-command...]', 'a topic below, or command words (peerguard help share get)')
    .addHelpText('after', () => `\nTopics:\n${topicList()}`)
    .action((words: string[]) => {
      if (words.length === 0) {
        program.outputHelp()
        io.out(`\nHelp topics (peerguard help <topic>):\n${topicList()}`)
        return
      }
      const topic = words.length === 1 ? helpTopic(words[0] as string) : undefined
      if (topic !== undefined) {
        io.out(topic.page(program))
        return
      }
      let cmd: Command | undefined = program
      for (const word of words) cmd = cmd?.commands.find((c) => c.name() === word || c.aliases().includes(word))
      if (cmd === undefined || cmd === program)
        throw new PeerguardError(
          'usage',
          `help: no topic or command ${JSON.stringify(words.join(' '))}; topics: ${HELP_TOPICS.map((t) => t.name).join(', ')}`
        )
      cmd.outputHelp()
    })
}
