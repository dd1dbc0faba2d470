/**
 * The console log of `share serve`, black box (the built binary, real sockets on 127.0.0.1): a
 * client refused 5,000 times in a loop costs a handful of lines and the counts add up to 5,000;
 * every line is JSON with the documented fields when stderr is a pipe; a connection is one line
 * when accepted and one when closed; --log-level error hides the rest, -v shows each operation;
 * on a pseudo-terminal (script(1)) the lines are text.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LanCa, type Spawned, spawnAndWait } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { consoleFixture, DOCS_POLICY, hangUp, jsonLines, listAs } from './console-fixture.js'

// the binary under a loaded CI machine: generous timeouts, no timing assertions
jest.setTimeout(600_000)

const FLOOD = 5000

let dir: string
let lan: LanCa

async function serve(extra: string[] = []): Promise<Spawned & { port: number }> {
  const s = await spawnAndWait(
    process.execPath,
    [
      BIN,
      'share',
      'serve',
      join(dir, 'docs'),
      ...lan.creds('nas'),
      '--policy',
      join(dir, 'office.yaml'),
      '--listen',
      '127.0.0.1:0',
      ...extra
    ],
    { cwd: dir, readyLine: / on 127\.0\.0\.1:(\d+)/ }
  )
  return { ...s, port: Number(s.match[1]) }
}

async function stop(s: Spawned): Promise<string> {
  expect(await s.stop('SIGTERM')).toBe(0)
  return s.err()
}

beforeAll(async () => {
  ensureCliBuilt()
  ;({ dir, lan } = await consoleFixture('peerguard-console-log-'))
}, 180_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('share serve console log', () => {
  it(`a client refused ${FLOOD} times in a loop: a few lines, counts that add up; JSON Lines with the fields`, async () => {
    const s = await serve()
    await listAs(lan, 'alice', s.port)
    // 5,000 refusals from one address, 25 at a time, each waiting for the server to close it
    let next = 0
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (next < FLOOD) {
          next++
          await hangUp(s.port)
        }
      })
    )
    const lines = jsonLines(await stop(s))
    for (const l of lines) {
      expect(l).toEqual(
        expect.objectContaining({
          ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          level: expect.stringMatching(/^(error|warn|info|debug)$/),
          event: expect.any(String),
          msg: expect.any(String)
        })
      )
      expect(l.level).not.toBe('debug') // the default level is info
    }
    const refusals = lines.filter((l) => l.event === 'refused' || l.event === 'refused-summary')
    expect(refusals.length).toBeGreaterThanOrEqual(1)
    expect(refusals.length).toBeLessThanOrEqual(12)
    expect(refusals.reduce((n, l) => n + (l.count as number), 0)).toBe(FLOOD)
    expect(refusals[0]).toMatchObject({ event: 'refused', level: 'warn', service: 'share:docs', count: 1 })
    expect(refusals[0]?.addr).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(typeof refusals[0]?.code).toBe('string')
    for (const summary of refusals.slice(1)) {
      expect(summary).toMatchObject({ event: 'refused-summary', addr: '127.0.0.1', service: 'share:docs' })
      expect(summary.windowS).toEqual(expect.any(Number))
    }

    // alice: one line accepted, one closed; the start, the reload record, the stop
    const alice = lan.peer('alice')
    const who = { service: 'share:docs', peer: 'alice', peerId: alice.peerId, addr: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }
    expect(lines.filter((l) => l.event === 'connected')).toEqual([expect.objectContaining({ level: 'info', ...who })])
    expect(lines.filter((l) => l.event === 'closed')).toEqual([
      expect.objectContaining({ level: 'info', ...who, durationMs: expect.any(Number), bytesIn: expect.any(Number) })
    ])
    expect(lines.find((l) => l.event === 'start')).toMatchObject({ service: 'share:docs' })
    expect(lines.at(-1)).toMatchObject({ event: 'stop', service: 'share:docs', msg: 'share closed' })
    const policySha256 = createHash('sha256').update(DOCS_POLICY).digest('hex')
    expect(lines.find((l) => l.event === 'reload')).toMatchObject({ level: 'info', code: 'ok', policySha256 })
    expect(lines.map((l) => JSON.stringify(l)).join('\n')).not.toContain('PRIVATE KEY')
  })

  it('--log-level error hides info and warn lines; -v shows each operation at debug', async () => {
    const quiet = await serve(['--log-level', 'error'])
    await listAs(lan, 'alice', quiet.port)
    await hangUp(quiet.port)
    expect(jsonLines(await stop(quiet)).filter((l) => l.level !== 'error')).toEqual([])

    const loud = await serve(['-v'])
    await listAs(lan, 'alice', loud.port)
    const lines = jsonLines(await stop(loud))
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'debug', event: 'operation', what: 'list', peer: 'alice', code: expect.any(String) })
    )
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', event: 'connected', peer: 'alice' }))
  })

  it('--log-format text on a pipe, and a bad --log-level is a usage error before anything listens', async () => {
    const s = await serve(['--log-format', 'text'])
    await listAs(lan, 'alice', s.port)
    const text = await stop(s)
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info share docs: accepted alice \(\S+\) from 127\.0\.0\.1:\d+$/m)
    expect(text).toMatch(
      /^\S+Z info share docs: closed alice \(\S+\) from 127\.0\.0\.1:\d+ after \d+\.\d s, [1-9]\d* bytes in, [1-9]\d* bytes out$/m
    )
    expect(text).not.toContain('\u001b') // no colours unless a terminal
    const bad = spawnSync(process.execPath, [BIN, 'share', 'serve', join(dir, 'docs'), '--plain', '--log-level', 'loud'], {
      cwd: dir,
      encoding: 'utf8'
    })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('--log-level: expected error, warn, info or debug, got "loud"')
  })

  it('proxy server --json: refusals on stdout are grouped too; stdout stays JSON, stderr the console log', async () => {
    const p = await spawnAndWait(
      process.execPath,
      [
        BIN,
        'proxy',
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:9',
        '--service',
        'echo',
        '--allow-group',
        'staff',
        ...lan.creds('nas'),
        '--json'
      ],
      { cwd: dir, readyLine: /"address":"127\.0\.0\.1:(\d+)"/ }
    )
    const port = Number(p.match[1])
    for (let i = 0; i < 500; i++) await hangUp(port)
    expect(await p.stop('SIGTERM')).toBe(0)
    const out = jsonLines(p.out())
    const refused = out.filter((l) => l.event === 'refused' || l.event === 'refused-summary')
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(refused.length).toBeLessThanOrEqual(12)
    expect(refused.reduce((n, l) => n + (l.count as number), 0)).toBe(500)
    expect(out[0]).toMatchObject({ event: 'listening' })
    const err = jsonLines(p.err()).filter((l) => String(l.event).startsWith('refused'))
    expect(err.reduce((n, l) => n + (l.count as number), 0)).toBe(500)
  })

  const hasScript = spawnSync('script', ['--version']).status === 0
  if (!hasScript) console.warn('skipping the pseudo-terminal test: script(1) (util-linux) is not installed')
  const ptyIt = hasScript || process.env.PEERGUARD_REQUIRE_ALL === '1' ? it : it.skip
  ptyIt('on a terminal (script(1) gives it a pseudo-terminal) the lines are coloured text', async () => {
    const args = [BIN, 'share', 'serve', join(dir, 'docs'), ...lan.creds('nas'), '--policy', join(dir, 'office.yaml')]
    const quoted = [process.execPath, ...args, '--listen', '127.0.0.1:0'].map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    const env = { ...process.env }
    delete env.NO_COLOR
    // the shell says its PID, then becomes the server (exec): the PID to send SIGTERM to
    const child = spawn('script', ['-qefc', `echo "pid=$$"; exec ${quoted.join(' ')}`, '/dev/null'], {
      cwd: dir,
      env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const exited = new Promise<void>((r) => child.on('close', () => r()))
    const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
      for (let i = 0; i < 3000; i++) {
        const m = re.exec(out)
        if (m !== null) return m
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`no ${re} in:\n${out}`)
    }
    try {
      const port = Number((await waitFor(/ on 127\.0\.0\.1:(\d+)/))[1])
      await listAs(lan, 'alice', port)
      await waitFor(/\r?\n\S+Z \u001b\[32minfo\u001b\[0m share docs: closed alice /)
      expect(out).toMatch(/\S+Z \u001b\[32minfo\u001b\[0m share docs: accepted alice \(\S+\) from 127\.0\.0\.1:\d+/)
      expect(out).not.toMatch(/\{"ts":/)
    } finally {
      // the server is the child of script: stop it with SIGTERM, as systemd would
      const pid = /pid=(\d+)/.exec(out)?.[1]
      if (pid !== undefined) process.kill(Number(pid), 'SIGTERM')
      else child.kill('SIGKILL')
      await exited
    }
  })
})
