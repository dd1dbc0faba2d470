/**
 * The console log of `peerguard node`, black box (the built binary, 127.0.0.1): `log-level: warn`
 * in the config hides connections; a client hanging up on the proxy port in a loop, and a
 * certified peer the policy refuses 1,000 times, are each grouped (the counts add up); an edit to `log-level` applies on reload without a restart; every line is
 * JSON with the documented fields; SIGTERM ends with a stop line.
 */
import { rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { once } from 'node:events'
import { connect } from 'node:net'
import { secureOutbound } from '@peerguard/channel'
import { loadTrustStore, type TrustStore } from '@peerguard/pki'
import { type LanCa, spawnAndWait } from '@peerguard/test-utils'
import { checkNodeConfig, restartKeys } from '../src/node/config.js'
import { BIN, ensureCliBuilt } from './built-cli.js'
import { consoleFixture, hangUp, jsonLines, listAs } from './console-fixture.js'
import { runCli } from './run-cli.js'

jest.setTimeout(600_000)

const CONFIG = (level: string): string => `identity: nas.key
cert: nas.pem
trust: ca.pem
crl: [ca.crl]
policy: office.yaml
runtime-dir: run
log-level: ${level}
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
proxies:
  - service: echo
    listen: 127.0.0.1:0
    target: 127.0.0.1:9
`
const HANG_UPS = 300
/** alice's handshakes with the proxy, each refused by the policy (no rule for service:echo: deny-default). */
const DENIED = 1000

let dir: string
let lan: LanCa

async function replaceFile(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data)
  await rename(`${path}.tmp`, path)
}

/** alice opens a channel to the proxy; the policy refuses her in the handshake. */
async function deniedHandshake(port: number, trust: TrustStore): Promise<void> {
  const alice = lan.peer('alice')
  const socket = connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  try {
    await expect(secureOutbound(socket, { identity: alice.identity, chain: alice.chain, trust })).rejects.toThrow()
  } finally {
    socket.destroy()
  }
}

beforeAll(async () => {
  ensureCliBuilt()
  ;({ dir, lan } = await consoleFixture('peerguard-console-node-'))
  await writeFile(join(dir, 'node.yaml'), CONFIG('warn'))
}, 180_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard node console log', () => {
  it('log-level: one of error, warn, info, debug (a located finding otherwise); a change needs no restart', () => {
    const bad = checkNodeConfig(CONFIG('loud'), join(dir, 'node.yaml'))
    expect(bad.findings).toEqual([
      expect.objectContaining({ path: 'log-level', line: 7, message: 'expected error, warn, info or debug, got "loud"' })
    ])
    const warn = checkNodeConfig(CONFIG('warn'), join(dir, 'node.yaml')).config
    const debug = checkNodeConfig(CONFIG('debug'), join(dir, 'node.yaml')).config
    expect(warn?.logLevel).toBe('warn')
    expect(restartKeys(warn as NonNullable<typeof warn>, debug as NonNullable<typeof debug>)).toEqual([])
  })

  it('log-level from the config, applied live on reload; proxy refusals grouped; JSON Lines', async () => {
    const node = await spawnAndWait(process.execPath, [BIN, 'node', '--config', 'node.yaml', '--json'], {
      cwd: dir,
      readyLine: /^\{"event":"ready".*$/m
    })
    const ready = JSON.parse(node.match[0]) as { services: Array<{ name: string; listening: string }> }
    const port = (name: string): number =>
      Number(
        ready.services
          .find((s) => s.name === name)
          ?.listening.split(':')
          .pop()
      )
    try {
      await listAs(lan, 'alice', port('docs')) // at warn: no line
      for (let i = 0; i < HANG_UPS; i++) await hangUp(port('echo'))
      const trust = await loadTrustStore(lan.trustDir)
      let next = 0
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < DENIED) {
            next++
            await deniedHandshake(port('echo'), trust)
          }
        })
      )
      await replaceFile(join(dir, 'node.yaml'), CONFIG('info'))
      const r = await runCli(['node', 'reload', '--config', join(dir, 'node.yaml'), '--json'])
      expect(r.code).toBe(0)
      await listAs(lan, 'alice', port('docs')) // at info: accepted and closed
    } finally {
      expect(await node.stop('SIGTERM')).toBe(0)
    }
    const lines = jsonLines(node.err())
    for (const l of lines) expect(Object.keys(l).slice(0, 3)).toEqual(['ts', 'level', 'event'])
    const switched = lines.findIndex((l) => l.event === 'reload' && l.what === 'log-level')
    expect(switched).toBeGreaterThan(0)
    expect(lines[switched]).toMatchObject({ level: 'info', msg: 'log level info' })
    // before the switch only warnings; after it, alice's connection
    expect(lines.slice(0, switched).filter((l) => l.level !== 'warn' && l.level !== 'error')).toEqual([])
    const after = lines.slice(switched)
    expect(after).toContainEqual(
      expect.objectContaining({ event: 'connected', service: 'share:docs', peer: 'alice', peerId: lan.peer('alice').peerId })
    )
    expect(after).toContainEqual(expect.objectContaining({ event: 'closed', service: 'share:docs', peer: 'alice' }))
    expect(lines.filter((l) => l.event === 'connected')).toHaveLength(1)
    // the proxy's refusals: grouped per peer (or unauthenticated), and they add up
    const refusals = lines.filter((l) => l.service === 'proxy:echo' && String(l.event).startsWith('refused'))
    const ofAlice = refusals.filter((l) => l.peerId === lan.peer('alice').peerId)
    const anonymous = refusals.filter((l) => l.peerId === undefined)
    expect(ofAlice.length + anonymous.length).toBe(refusals.length)
    for (const group of [ofAlice, anonymous]) {
      expect(group.length).toBeGreaterThanOrEqual(1)
      expect(group.length).toBeLessThanOrEqual(12)
    }
    expect(ofAlice.reduce((n, l) => n + (l.count as number), 0)).toBe(DENIED)
    expect(anonymous.reduce((n, l) => n + (l.count as number), 0)).toBe(HANG_UPS)
    expect(ofAlice[0]).toMatchObject({ event: 'refused', peer: 'alice', code: 'deny-default' })
    expect(ofAlice[0]?.msg).toMatch(/^refused alice \(\S+\) from 127\.0\.0\.1:\d+: deny-default: /)
    expect(lines.at(-1)).toMatchObject({ event: 'stop', msg: 'node stopped' })
  })
})
