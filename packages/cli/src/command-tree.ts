/**
 * The `peerguard` command definitions as plain data, read from the commander program: what the
 * shell completion scripts, the man page and the help-page test are generated from, so none of them
 * keeps its own copy of the command line.
 */
import type { EventEmitter } from 'node:events'
import type { Command, Option } from 'commander'

export interface OptionSpec {
  /** As written in help: `-o, --out <file>`. */
  readonly flags: string
  readonly long?: string
  readonly short?: string
  /** Whether the option reads a value (`--out <file>`, `--level [n]`). */
  readonly takesValue: boolean
  /** The allowed values when the option declares them. */
  readonly choices: readonly string[]
  readonly description: string
  /** The default value as shown in help, when there is one. */
  readonly defaultValue?: string
}

export interface ArgumentSpec {
  readonly name: string
  readonly required: boolean
  readonly variadic: boolean
  readonly description: string
  readonly choices: readonly string[]
}

export interface CommandSpec {
  /** The words after `peerguard` that select this command (empty for the program itself). */
  readonly path: readonly string[]
  readonly description: string
  /** Commander's usage line: `[options] <file>`. */
  readonly usage: string
  readonly arguments: readonly ArgumentSpec[]
  /** Visible options, including `-h, --help` (and `-V, --version` on the program). */
  readonly options: readonly OptionSpec[]
  readonly commands: readonly CommandSpec[]
  /** Text added after the generated help (examples, notes), as printed by `--help`. */
  readonly after: string
}

function optionSpec(o: Option): OptionSpec {
  return {
    flags: o.flags,
    ...(o.long === undefined ? {} : { long: o.long }),
    ...(o.short === undefined ? {} : { short: o.short }),
    takesValue: o.required || o.optional,
    choices: o.argChoices ?? [],
    description: o.description,
    ...(o.defaultValue === undefined || typeof o.defaultValue === 'boolean' || Array.isArray(o.defaultValue)
      ? {}
      : { defaultValue: JSON.stringify(o.defaultValue) })
  }
}

/** The text a command prints after its generated help (`addHelpText('after', …)`). */
function afterText(cmd: Command): string {
  let text = ''
  const sink = { writeOut: (s: string) => (text += s), writeErr: (s: string) => (text += s) }
  // commander emits the 'afterHelp' event with a context whose write goes to our sink.
  ;(cmd as unknown as EventEmitter).emit('afterHelp', { error: false, command: cmd, write: sink.writeOut })
  return text.replace(/^\n+/, '').replace(/\s+$/, '')
}

/** The tree under `cmd`, visible commands and options only, in definition order. */
export function commandTree(cmd: Command, path: readonly string[] = []): CommandSpec {
  const help = cmd.createHelp()
  const own = new Set(cmd.commands)
  return {
    path,
    description: cmd.description(),
    usage: cmd.usage(),
    arguments: help.visibleArguments(cmd).map((a) => ({
      name: a.name(),
      required: a.required,
      variadic: a.variadic,
      description: a.description,
      choices: a.argChoices ?? []
    })),
    options: help.visibleOptions(cmd).map(optionSpec),
    // the implicit `help [command]` commander adds to a noun is not a definition of ours
    commands: help
      .visibleCommands(cmd)
      .filter((c) => own.has(c))
      .map((c) => commandTree(c, [...path, c.name()])),
    after: afterText(cmd)
  }
}

/** Every command of the tree, depth first, the program first. */
export function allCommands(tree: CommandSpec): CommandSpec[] {
  return [tree, ...tree.commands.flatMap(allCommands)]
}
