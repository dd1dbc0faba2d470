/**
 * `peerguard completion bash|zsh`: the generated scripts really complete. bash sources the script and
 * calls `_peerguard` with COMP_WORDS/COMP_CWORD set as readline would; zsh sources it with the
 * completion builtins it calls (`_describe`, `compadd`, `_files`) replaced by ones that print what
 * they were given, and also loads it through `compinit`.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { needs } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { runCli } from './run-cli.js'

jest.setTimeout(60_000)

let dir: string
const script = { bash: '', zsh: '' }
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-completion-'))
  for (const shell of ['bash', 'zsh'] as const) {
    const r = await runCli(['completion', shell])
    expect(r.code).toBe(0)
    script[shell] = join(dir, `peerguard.${shell}`)
    writeFileSync(script[shell], r.stdout)
  }
})
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }))

/** What `_peerguard` offers for the command line `words` (the last one is the word at the cursor). */
function bashComplete(...words: string[]): string[] {
  const body = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _peerguard; printf '%s\\n' "\${COMPREPLY[@]}"`
  const r = spawnSync('bash', ['-c', body, 'bash', script.bash, 'peerguard', ...words], { cwd: dir, encoding: 'utf8' })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return r.stdout.split('\n').filter((l) => l !== '')
}

describe('bash completion', () => {
  it('completes the nouns, a prefix, and the verbs of a noun', () => {
    expect(bashComplete('')).toEqual(
      expect.arrayContaining(['id', 'ca', 'share', 'proxy', 'swarm', 'node', 'completion', 'help'])
    )
    expect(bashComplete('sh')).toEqual(['share'])
    expect(bashComplete('share', '')).toEqual(['serve', 'ls', 'get', 'put', 'rm', 'mv', 'mkdir'])
    expect(bashComplete('audit', 'log', 's')).toEqual(['show'])
  })

  it("completes a command's flags, after global flags and option values too", () => {
    expect(bashComplete('share', 'get', '--re')).toEqual(['--resume'])
    expect(bashComplete('--json', 'share', 'serve', '--li')).toEqual(['--listen'])
    expect(bashComplete('share', 'serve', '--listen', '127.0.0.1:1', '--pl')).toEqual(['--plain'])
    expect(bashComplete('proxy', 'server', '--')).toEqual(expect.arrayContaining(['--tls', '--json', '--help']))
  })

  it("completes an option's declared choices, and file names for other values", () => {
    expect(bashComplete('cert', 'p12', '--target', '')).toEqual(['openssl', 'node', 'windows', 'macos', 'java', 'browser'])
    expect(bashComplete('cert', 'p12', '--target', 'ma')).toEqual(['macos'])
    writeFileSync(join(dir, 'alice.pem'), '')
    expect(bashComplete('cert', 'show', 'ali')).toEqual(['alice.pem'])
    expect(bashComplete('id', 'new', '--out', 'alice.')).toEqual(['alice.pem'])
    expect(bashComplete('completion', '')).toEqual(['bash', 'zsh'])
    expect(bashComplete('help', 'no')).toEqual(['node-config', 'node'])
  })

  it('the README recipe: source <(peerguard completion bash) from the built binary', () => {
    ensureCliBuilt()
    const body = `source <("${process.execPath}" "${BIN}" completion bash); COMP_WORDS=(peerguard sh); COMP_CWORD=1; _peerguard; echo "\${COMPREPLY[*]}"`
    const r = spawnSync('bash', ['-c', body], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('share')
  })

  it('the value of an option is not taken for a command (`--out share` is a file)', () => {
    expect(bashComplete('id', 'new', '--out', 'share', '--')).toContain('--label')
  })
})

const zsh = needs('zsh', 'zsh completion')

zsh.describe('zsh completion', () => {
  /** Lines printed by the stand-in completion builtins for `words`. */
  function zshComplete(...words: string[]): string[] {
    const body = [
      'compdef() { :; }',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh parameter expansion, not a template
      '_describe() { local -a arr; arr=("${(@P)${@[-1]}}"); print -rl -- "${arr[@]}"; }',
      'compadd() { shift; print -rl -- "$@"; }',
      "_files() { print -r -- '<files>'; }",
      'source "$1"; shift',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh parameter expansion, not a template
      'words=("$@"); CURRENT=${#words}; _peerguard'
    ].join('\n')
    const r = spawnSync('zsh', ['-f', '-c', body, 'zsh', script.zsh, 'peerguard', ...words], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    return r.stdout.split('\n').filter((l) => l !== '')
  }

  it('is valid zsh and registers _peerguard through compinit', () => {
    const r = spawnSync(
      'zsh',
      [
        '-f',
        '-c',
        'autoload -U compinit && compinit -u -d "$2/zcompdump" && source "$1" && print -r -- "$_comps[peerguard]"',
        'zsh',
        script.zsh,
        dir
      ],
      { encoding: 'utf8' }
    )
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('_peerguard')
  })

  it('Tab completes in an interactive zsh (zpty) with the script autoloaded from $fpath', () => {
    const fpathDir = join(dir, 'zfunc')
    mkdirSync(fpathDir, { recursive: true })
    copyFileSync(script.zsh, join(fpathDir, '_peerguard'))
    // type the words and Tab, then turn the completed line into `print RESULT: …` and read its output
    const drive = [
      'zmodload zsh/zpty',
      "zpty -b z 'zsh -f -i'",
      // emacs keys for the driver's Ctrl-A, whatever $EDITOR says (npm sets EDITOR=vi, and zsh then starts in vi mode)
      'zpty -w z "bindkey -e; PS1=\'> \'; fpath=($1 \\$fpath); autoload -U compinit; compinit -u -D"',
      'zpty -w -n z "$2"$\'\\t\'',
      'zpty -w z $\'\\C-aprint -r -- "R""ESULT:" \'',
      'local out',
      "zpty -r -m z out '*RESULT:*'$'\\n'",
      "print -r -- \"$out\" | tr -d '\\r' | grep '^RESULT:'",
      'zpty -d z'
    ].join('\n')
    const complete = (line: string) =>
      spawnSync('zsh', ['-f', '-c', drive, 'zsh', fpathDir, line], { encoding: 'utf8', timeout: 30_000 }).stdout.trim()
    expect(complete('peerguard sh')).toBe('RESULT: peerguard share')
    expect(complete('peerguard share get --res')).toBe('RESULT: peerguard share get --resume')
    expect(complete('peerguard cert p12 --target ma')).toBe('RESULT: peerguard cert p12 --target macos')
  })

  it('completes commands and flags with their descriptions, choices and files', () => {
    const nouns = zshComplete('')
    expect(nouns.find((l) => l.startsWith('share:'))).toMatch(/^share:serve a folder .{10,}/) // name:description
    expect(nouns.map((l) => l.split(':')[0])).toEqual(expect.arrayContaining(['id', 'proxy', 'node', 'completion', 'help']))
    expect(zshComplete('share', '').map((l) => l.split(':')[0])).toEqual(['serve', 'ls', 'get', 'put', 'rm', 'mv', 'mkdir'])
    expect(zshComplete('share', 'get', '--')).toContain('--resume:continue an interrupted download (<local>.pgpart)')
    expect(zshComplete('cert', 'p12', '--target', '')).toEqual(['openssl', 'node', 'windows', 'macos', 'java', 'browser'])
    expect(zshComplete('id', 'new', '--out', '')).toEqual(['<files>'])
    expect(zshComplete('completion', '')).toEqual(['bash', 'zsh'])
  })
})
