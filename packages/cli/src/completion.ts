/**
 * `peerguard completion bash|zsh`: shell completion scripts generated from the commander
 * definitions (command-tree.ts), so a new command or option completes without an edit here.
 *
 * Both scripts share one walk: the words before the cursor select a command (`share get`), an
 * option that takes a value skips its value, anything else is an operand. Then the cursor's word
 * completes to that command's options (after `-`), an option's declared choices or file names
 * (after an option that takes a value), or its subcommands (file names at a leaf with operands).
 */
import { Argument, type Command } from 'commander'
import type { CliIO } from './io.js'
import { type CommandSpec, allCommands, commandTree } from './command-tree.js'
import { HELP_TOPICS } from './help-topics.js'

export const SHELLS = ['bash', 'zsh'] as const
export type Shell = (typeof SHELLS)[number]

/** A word quoted for either shell: single quotes, a quote inside as '\''. */
function q(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`
}

const key = (c: CommandSpec): string => q(c.path.join(' '))
const optionNames = (c: CommandSpec): string[] =>
  c.options.flatMap((o) => [o.short, o.long]).filter((n): n is string => n !== undefined)

/** What `peerguard help` takes: a topic or a command. */
function helpWords(tree: CommandSpec): string[] {
  return [...HELP_TOPICS.map((t) => t.name), ...tree.commands.map((c) => c.path.at(-1) as string).filter((n) => n !== 'help')]
}

/** The case-statement functions both shells source: subcommands, options, valued options, choices. */
function dataFunctions(tree: CommandSpec): string {
  const cmds = allCommands(tree)
  const fn = (name: string, rows: string[]) => `_peerguard_${name}() {\n  case "$1" in\n${rows.join('\n')}\n  esac\n}`
  const row = (k: string, words: readonly string[]) => `    ${k}) printf '%s\\n' ${words.map(q).join(' ')} ;;`
  return [
    fn(
      'subs',
      cmds
        .filter((c) => c.commands.length > 0)
        .map((c) =>
          row(
            key(c),
            c.commands.map((s) => s.path.at(-1) as string)
          )
        )
    ),
    fn(
      'opts',
      cmds.map((c) => row(key(c), optionNames(c)))
    ),
    fn(
      'valued',
      cmds
        .map((c) => ({ c, names: c.options.filter((o) => o.takesValue).flatMap((o) => [o.short, o.long]) }))
        .map(({ c, names }) => ({ c, names: names.filter((n): n is string => n !== undefined) }))
        .filter(({ names }) => names.length > 0)
        .map(({ c, names }) => row(key(c), names))
    ),
    fn(
      'choices',
      cmds.flatMap((c) =>
        c.options
          .filter((o) => o.choices.length > 0)
          .flatMap((o) =>
            [o.short, o.long]
              .filter((n): n is string => n !== undefined)
              .map((n) => row(q(`${c.path.join(' ')}|${n}`), o.choices))
          )
      )
    ),
    fn(
      'operands',
      cmds
        .filter((c) => c.arguments.length > 0)
        .map((c) => {
          const choices = c.path.join(' ') === 'help' ? helpWords(tree) : (c.arguments[0]?.choices ?? [])
          return row(key(c), choices.length > 0 ? choices : ['__files__'])
        })
    )
  ].join('\n\n')
}

/** The walk over the words before the cursor, in the syntax bash and zsh share. Sets `cmdpath` and `skip` (not `path`: zsh ties it to PATH). */
const WALK = `
  local cmdpath="" w i skip=0 n
  for ((i = first; i < last; i++)); do
    w="\${words_[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      --*=*) continue ;;
      -*)
        n="$(_peerguard_valued "$cmdpath")"
        if [[ $'\\n'"$n"$'\\n' == *$'\\n'"$w"$'\\n'* ]]; then skip=1; fi
        continue ;;
    esac
    n="$(_peerguard_subs "$cmdpath")"
    if [[ $'\\n'"$n"$'\\n' == *$'\\n'"$w"$'\\n'* ]]; then cmdpath="\${cmdpath:+$cmdpath }$w"; fi
  done`

function bashScript(tree: CommandSpec): string {
  return `# bash completion for peerguard, generated from its command definitions (peerguard completion bash).
# Install: peerguard completion bash > ~/.local/share/bash-completion/completions/peerguard
${dataFunctions(tree)}

_peerguard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local -a words_=("\${COMP_WORDS[@]}")
  local first=1 last=$COMP_CWORD
${WALK}
  COMPREPLY=()
  local IFS=$'\\n' list
  if ((skip)); then
    list="$(_peerguard_choices "$cmdpath|$prev")"
    if [[ -n $list ]]; then COMPREPLY=($(compgen -W "$list" -- "$cur")); else
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_peerguard_opts "$cmdpath")" -- "$cur"))
    return 0
  fi
  list="$(_peerguard_subs "$cmdpath")"
  if [[ -n $list ]]; then COMPREPLY=($(compgen -W "$list" -- "$cur")); return 0; fi
  list="$(_peerguard_operands "$cmdpath")"
  if [[ $list == __files__ ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ -n $list ]]; then
    COMPREPLY=($(compgen -W "$list" -- "$cur"))
  fi
  return 0
}
complete -F _peerguard peerguard
`
}

/** zsh: the same walk over \`$words\` (1-based; the cursor's word is \`$words[CURRENT]\`), descriptions shown. */
function zshScript(tree: CommandSpec): string {
  const cmds = allCommands(tree)
  const described = (c: CommandSpec) => [
    ...c.commands.map((s) => `${(s.path.at(-1) as string).replaceAll(':', '\\:')}:${s.description.split('\n')[0]}`)
  ]
  const optDescribed = (c: CommandSpec) =>
    c.options.flatMap((o) =>
      [o.short, o.long].filter((n): n is string => n !== undefined).map((n) => `${n}:${o.description.split('\n')[0]}`)
    )
  const rows = (f: (c: CommandSpec) => string[]) =>
    cmds
      .map((c) => ({ c, items: f(c) }))
      .filter(({ items }) => items.length > 0)
      .map(({ c, items }) => `    ${key(c)}) reply=(${items.map(q).join(' ')}) ;;`)
      .join('\n')
  return `#compdef peerguard
# zsh completion for peerguard, generated from its command definitions (peerguard completion zsh).
# Install: peerguard completion zsh > "\${fpath[1]}/_peerguard" (or any folder in $fpath), then compinit.
${dataFunctions(tree)}

_peerguard_subs_described() {
  case "$1" in
${rows(described)}
  esac
}

_peerguard_opts_described() {
  case "$1" in
${rows(optDescribed)}
  esac
}

_peerguard() {
  local -a words_ reply
  words_=("\${(@)words}")
  local first=2 last=$CURRENT prev="\${words[CURRENT-1]}" cur="\${words[CURRENT]}"
${WALK}
  local list
  if ((skip)); then
    list="$(_peerguard_choices "$cmdpath|$prev")"
    if [[ -n $list ]]; then compadd -- "\${(@f)list}"; else _files; fi
    return
  fi
  if [[ $cur == -* ]]; then
    reply=(); _peerguard_opts_described "$cmdpath"
    _describe -t options 'option' reply
    return
  fi
  reply=(); _peerguard_subs_described "$cmdpath"
  if ((\${#reply})); then _describe -t commands 'command' reply; return; fi
  list="$(_peerguard_operands "$cmdpath")"
  if [[ $list == __files__ ]]; then _files; elif [[ -n $list ]]; then compadd -- "\${(@f)list}"; fi
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then _peerguard "$@"; else compdef _peerguard peerguard; fi
`
}

/** The completion script for `shell`, generated from `program`. */
export function completionScript(program: Command, shell: Shell): string {
  const tree = commandTree(program)
  return shell === 'bash' ? bashScript(tree) : zshScript(tree)
}

/** Register `peerguard completion bash|zsh`. */
export function registerCompletionCommand(program: Command, io: CliIO): void {
  program
    .command('completion')
    .description('print the bash or zsh completion script (generated from the command definitions)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .addHelpText(
      'after',
      `
Install:
  $ peerguard completion bash > ~/.local/share/bash-completion/completions/peerguard
  $ peerguard completion bash | sudo tee /usr/share/bash-completion/completions/peerguard
  $ peerguard completion zsh > ~/.zfunc/_peerguard    # with fpath+=(~/.zfunc) before compinit in ~/.zshrc
Or for the current shell only:
  $ source <(peerguard completion bash)`
    )
    .action((shell: Shell) => {
      io.out(completionScript(program, shell).replace(/\n$/, ''))
    })
}
